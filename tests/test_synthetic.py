import json
from pathlib import Path

import numpy as np
import pytest

from g2l_automl.data import PRESETS, ActionSegmentationDataset, generate
from g2l_automl.errors import DataError


def test_tiny_preset_layout_and_folds(tiny_data):
    ds = ActionSegmentationDataset(tiny_data)
    assert ds.num_classes == PRESETS["tiny"].num_classes == 10
    assert ds.folds == [1, 2]
    for k in ds.folds:
        train, test = ds.split("train", k), ds.split("test", k)
        assert not set(train) & set(test) and len(train) + len(test) == 8
    videos = ds.load(ds.split("train", 1) + ds.split("test", 1))
    assert all(v.features.shape[0] == 32 for v in videos)
    assert json.loads((tiny_data / "synthetic.json").read_text())["preset"] == "tiny"


def test_generation_is_deterministic(tmp_path, tiny_data):
    again = generate(tmp_path / "again", "tiny", seed=0, num_videos=8)
    for f in sorted((tiny_data / "features").iterdir()):
        np.testing.assert_array_equal(np.load(f), np.load(again / "features" / f.name))
    other = generate(tmp_path / "other", "tiny", seed=1, num_videos=8)
    f = sorted((other / "features").iterdir())[0]
    assert not np.array_equal(np.load(f)[:, :10], np.load(tiny_data / "features" / f.name)[:, :10])


def test_context_classes_look_the_same_and_depend_on_the_activity(tiny_data):
    ds = ActionSegmentationDataset(tiny_data)
    videos = ds.load(ds.split("train", 1) + ds.split("test", 1))
    ctx = [ds.class_index["act0_ctx0"], ds.class_index["act1_ctx0"]]
    means = []
    for c in ctx:
        frames = np.concatenate([v.features[:, v.labels == c] for v in videos], axis=1)
        means.append(frames.mean(axis=1))
        # a context class only ever occurs in videos of its own activity
        owners = {v.name.split("_")[1] for v in videos if (v.labels == c).any()}
        assert owners == {f"act{ctx.index(c)}"}
    steps = [
        np.concatenate([v.features[:, v.labels == ds.class_index[f"act{a}_step0"]] for v in videos], axis=1).mean(1)
        for a in (0, 1)
    ]
    # same appearance for the two context classes, clearly different appearance for two step classes
    assert np.linalg.norm(means[0] - means[1]) < 0.5 * np.linalg.norm(steps[0] - steps[1])
    share = np.mean([np.isin(v.labels, ctx).mean() for v in videos])
    assert 0.3 < share < 0.65


def test_presets_have_the_shapes_of_the_datasets_they_mimic():
    assert PRESETS["gtea-like"].num_classes == 11 and PRESETS["gtea-like"].num_videos == 28
    assert PRESETS["breakfast-like"].num_classes == 48


def test_bad_arguments_leave_nothing_behind(tmp_path):
    with pytest.raises(DataError, match="unknown preset 'huge'"):
        generate(tmp_path / "x", "huge")
    with pytest.raises(DataError, match="too few"):
        generate(tmp_path / "x", "tiny", num_videos=3)
    with pytest.raises(DataError, match="preset: "):
        generate(tmp_path / "x", "tiny", colour="red")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        generate(tmp_path / "full", "tiny", num_videos=4)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


# -- make-synthetic --overwrite: only our own datasets, swapped atomically ---------------------------------------
def _snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("case", ["thesis", "fake-marker", "dataset-plus-thesis", "file"])
def test_overwrite_refuses_what_make_synthetic_did_not_write_and_leaves_it_untouched(case, tmp_path, capsys):
    from g2l_automl.cli import main

    target = tmp_path / "target"
    if case == "file":
        target.write_text("not a folder")
    elif case == "thesis":
        target.mkdir()
        (target / "thesis.tex").write_text("years of work")
        (target / "features").mkdir()
    elif case == "fake-marker":
        target.mkdir()
        (target / "synthetic.json").write_text(json.dumps({"generator": "someone else"}))
    else:
        generate(target, "tiny", seed=0, num_videos=4)
        (target / "thesis.tex").write_text("years of work")
    before = _snapshot(target) if target.is_dir() else target.read_bytes()
    assert main(["make-synthetic", str(target), "--preset", "tiny", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err
    expected = {"file": "not a folder", "thesis": "synthetic.json", "fake-marker": "synthetic.json"}
    assert expected.get(case, "thesis.tex besides the dataset") in err
    assert (_snapshot(target) if target.is_dir() else target.read_bytes()) == before
    assert _leftovers(tmp_path) == []


def test_overwrite_replaces_a_dataset_it_wrote(tmp_path, capsys):
    from g2l_automl.cli import main

    target = generate(tmp_path / "target", "tiny", seed=0, num_videos=4)
    before = _snapshot(target)
    assert main(["make-synthetic", str(target), "--preset", "tiny", "--seed", "1", "--overwrite"]) == 0
    after = _snapshot(target)
    assert after != before and json.loads(after["synthetic.json"])["seed"] == 1
    assert _leftovers(tmp_path) == []


def test_an_interrupted_overwrite_keeps_the_old_dataset(tmp_path, monkeypatch):
    from g2l_automl.data import _synthetic

    target = generate(tmp_path / "target", "tiny", seed=0, num_videos=4)
    before = _snapshot(target)
    real, calls = _synthetic._sample_video, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_synthetic, "_sample_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(target, "tiny", seed=1, num_videos=4, overwrite=True)
    assert _snapshot(target) == before and _leftovers(tmp_path) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replace_dir_swaps_and_a_failed_swap_keeps_the_old_folder(exchange, tmp_path, monkeypatch):
    import os

    from g2l_automl import _files

    old, new = tmp_path / "old", tmp_path / "new"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "f.txt").write_text(text)
    if not exchange:
        monkeypatch.setattr(_files, "_exchange", lambda a, b: False)
    _files.replace_dir(new, old)
    assert (old / "f.txt").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    # the second rename fails (disk, signal): the old folder is back where it was, nothing else is left
    new.mkdir()
    (new / "f.txt").write_text("newer")
    monkeypatch.setattr(_files, "_exchange", lambda a, b: False)
    real_replace = os.replace

    def failing(src, dst):
        if Path(src) == new:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(_files.os, "replace", failing)
    with pytest.raises(KeyboardInterrupt):
        _files.replace_dir(new, old)
    assert (old / "f.txt").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]
