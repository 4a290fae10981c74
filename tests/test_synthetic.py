import json

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
