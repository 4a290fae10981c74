"""Every bad input of every command: one line naming the file, field or value, exit status 2, nothing written
(no trial added to the study, no file or folder created) -- issue 18's causes, one test (or parameter) each."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml
from _cli import cli_argv
from _tiny_study import CONFIG, frozen_trial, spec_with
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from test_nni_trial_export import _experiment, _params

from g2l_automl._files import write_json_atomic
from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.data import generate
from g2l_automl.errors import StructureError
from g2l_automl.models import build_model
from g2l_automl.nni import ID_KEY
from g2l_automl.objective import SegmentationObjective
from g2l_automl.spaces import SearchSpace
from g2l_automl.structure import MAX_CHANNELS, MAX_DILATION, MAX_KERNEL_SIZE, LayerSpec, StructureSpec
from g2l_automl.training import save_checkpoint

STUDIES = Path(__file__).resolve().parents[1] / "studies"
VIDEONAS = STUDIES / "nas" / "videonas-multilabel.yaml"
NASTC = STUDIES / "nas" / "nastc-multilabel.yaml"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")


def _tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (folders 0): what 'nothing written' compares."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else 0) for p in root.rglob("*")}


def _one_line(capsys: pytest.CaptureFixture[str], argv: list, *needles: object) -> str:
    """Run ``argv``: exit status 2 and exactly one stderr line, which holds every needle."""
    argv = [str(a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"g2l-optimize {argv[0]}: error: "), err
    for needle in needles:
        assert str(needle) in lines[0], err
    return lines[0]


def _study(tmp_path: Path, *trials: optuna.trial.FrozenTrial, name: str = "s") -> str:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    return url


def _n_trials(url: str, name: str = "s") -> int:
    return len(optuna.load_study(study_name=name, storage=url).trials)


# -- output paths: checked before any work ---------------------------------------------------------------------


def _out_path(tmp_path: Path, kind: str, want: str) -> tuple[Path, str]:
    """An unusable output path of ``kind`` where a ``want`` (folder or file) is expected, and the message."""
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    if kind == "exists":  # an existing file where a folder goes, an existing folder where a file goes
        return (
            (tmp_path / "a-file", "exists and is not a folder")
            if want == "dir"
            else (tmp_path / "a-folder", "is a folder")
        )
    if kind == "under-file":
        return tmp_path / "a-file" / "sub" / ("out" if want == "dir" else "out.json"), "is a file, not a folder"
    return Path("/proc/g2l-no-such") / ("out" if want == "dir" else "out.json"), "cannot write"


def _search(url: str, data: Path, *extra: object, config: object = CONFIG) -> list[str]:
    """``search`` on study 's' of ``url`` with ``config`` and dataset ``data``, then ``extra``."""
    return cli_argv("search", *extra, storage=url, study_name="s", config=config, data=data)


DIR_COMMANDS = {
    "search": cli_argv(
        "search", storage="{url}", study_name="s", config=CONFIG, data="{data}", n_trials=1, device="cpu", out="{out}"
    ),
    "refine": cli_argv("refine", storage="{url}", study_name="s", config=CONFIG, data="{data}", out="{out}"),
    "train": ["train", "--data", "{data}", "--default", "mstcn", "--epochs", "1", "--out", "{out}"],
    "make-synthetic": ["make-synthetic", "{out}", "--preset", "tiny"],
    "videonas": ["videonas", "--config", VIDEONAS, "--out", "{out}"],
    "nastc": ["nastc", "--config", NASTC, "--out", "{out}"],
}
FILE_COMMANDS = {
    "report": ["report", "--storage", "{url}", "--study-name", "s", "--out", "{out}", "--no-dashboard"],
    "evaluate": ["evaluate", "--data", "{data}", "--checkpoint", "{missing}", "--out", "{out}"],
    "nni-space": ["nni-space", "--config", CONFIG, "--out", "{out}"],
    "ensemble": ["ensemble", "--storage", "{url}", "--study-name", "s", "--config", CONFIG, "--out", "{out}"],
    "compare": ["compare", "--config", CONFIG, "--structure", "{missing}", "--out", "{out}"],
}


@linux_only
@pytest.mark.parametrize("kind", ["exists", "under-file", "proc"])
@pytest.mark.parametrize(
    ("command", "want"), [*((c, "dir") for c in DIR_COMMANDS), *((c, "file") for c in FILE_COMMANDS)]
)
def test_an_unusable_out_is_refused_before_any_work(tmp_path, tiny_data, capsys, command, want, kind):
    url = _study(tmp_path, frozen_trial(10.0, spec_with(1, 2)))
    out, message = _out_path(tmp_path, kind, want)
    before = _tree(tmp_path)
    argv = (DIR_COMMANDS if want == "dir" else FILE_COMMANDS)[command]
    paths = {"url": url, "data": tiny_data, "out": out, "missing": tmp_path / "missing"}
    _one_line(capsys, [str(a).format(**paths) for a in argv], out, message)
    assert _tree(tmp_path) == before and _n_trials(url) == 1  # no trial, no file, no folder


@pytest.mark.parametrize("command", ["make-synthetic", "search"])
def test_a_negative_seed_is_refused(tmp_path, tiny_data, capsys, command):
    url = _study(tmp_path)
    before = _tree(tmp_path)
    if command == "make-synthetic":
        argv = ["make-synthetic", tmp_path / "syn", "--seed", "-1"]
    else:
        argv = _search(url, tiny_data, "--seed", "-1")
    _one_line(capsys, argv, "seed", "-1")
    assert _tree(tmp_path) == before and _n_trials(url) == 0


# -- files that cannot be read ---------------------------------------------------------------------------------


def _bad_feature(path: Path, kind: str) -> None:
    good = np.load(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "complex":
        np.save(path, good.astype(np.complex64))
    elif kind == "beyond-float32":
        np.save(path, np.full(good.shape, 1e300))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "cannot read features"),
        ("truncated", "cannot read features"),
        ("complex", "features must be real numbers, got dtype complex64"),
        ("beyond-float32", "features exceed float32's range"),
    ],
)
def test_unusable_features_name_the_file(handmade, tmp_path, capsys, kind, message):
    feature = handmade / "features" / "v0.npy"
    _bad_feature(feature, kind)
    out = tmp_path / "out"
    _one_line(capsys, ["train", "--data", handmade, "--default", "mstcn", "--out", out], feature, message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "kind", "message"),
    [
        ("train", "non-utf8", "not a UTF-8 text file"),
        ("train", "folder", "cannot read"),
        ("search", "non-utf8", "not a UTF-8 text file"),
        ("search", "folder", "cannot read"),
        ("search", "root-list", "data.root: expected the path of the dataset folder"),
        ("evaluate", "folder", "not a readable checkpoint"),
    ],
)
def test_unreadable_structure_config_and_checkpoint_files(tmp_path, tiny_data, capsys, command, kind, message):
    """A structure (train), config (search) or checkpoint (evaluate) that is not UTF-8, is a folder, or has
    ``data.root`` as a list."""
    url = _study(tmp_path)
    bad = tmp_path / "bad"
    if kind == "folder":
        bad.mkdir()
    elif kind == "non-utf8":
        bad.write_bytes(b"\xff\xfe{\x00 \xc3\x28")
    else:
        bad.write_text(Path(CONFIG).read_text().replace("root: data/tiny", "root: [data/a, data/b]"))
    before = _tree(tmp_path)
    out = tmp_path / "out"
    if command == "train":
        argv = ["train", "--data", tiny_data, "--structure", bad, "--out", out]
    elif command == "search":
        argv = ["search", "--storage", url, "--study-name", "s", "--config", bad, "--n-trials", "1"]
        argv += [] if kind == "root-list" else ["--data", tiny_data]
    else:
        argv = ["evaluate", "--data", tiny_data, "--checkpoint", bad, "--out", out]
    _one_line(capsys, argv, bad, message)
    assert _tree(tmp_path) == before and _n_trials(url) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage\nmore garbage\n", "JSONDecodeError"),
        (b'{"not": "a journal entry"}\n', "KeyError"),
    ],
)
def test_a_storage_file_that_is_not_a_journal(tmp_path, tiny_data, capsys, content, message):
    log = tmp_path / "notes.log"
    log.write_bytes(content)
    before = _tree(tmp_path)
    argv = cli_argv("search", storage=log, study_name="s", config=CONFIG, data=tiny_data)
    _one_line(capsys, argv, log, "is not an Optuna journal file", message)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("command", ["search", "report"])
def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path, tiny_data, capsys, command):
    db = tmp_path / "missing.db"
    url = f"sqlite:///{db}"
    if command == "search":
        argv = _search(url, tiny_data)
    else:
        argv = ["report", "--storage", url, "--study-name", "s", "--out", tmp_path / "r.html"]
    _one_line(capsys, argv, db, "does not exist", "optuna create-study")
    assert not db.exists() and _tree(tmp_path) == {}


# -- checkpoints -----------------------------------------------------------------------------------------------


def _checkpoint(path: Path, kind: str) -> str:
    """A checkpoint of ``kind`` at ``path``; returns the field its error must name."""
    if kind == "text":
        path.write_text("not a checkpoint\n")
        return "not a readable checkpoint"
    if kind == "empty":
        path.write_bytes(b"")
        return "not a readable checkpoint"
    model = build_model(StructureSpec.mstcn(1, 2, channels=4), 4, 3)
    save_checkpoint(path, model, class_names=["background", "a", "b"])
    payload = torch.load(path, weights_only=True)
    if kind == "no-state_dict":
        del payload["state_dict"]
        field = "state_dict"
    elif kind == "num_classes-str":
        payload["num_classes"] = "3"
        field = "num_classes"
    elif kind == "meta-list":
        payload["meta"] = [1, 2]
        field = "meta"
    elif kind == "no-structure":
        del payload["structure"]
        field = "structure"
    else:  # NaN weights
        key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
        payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], math.nan)
        field = f"state_dict.{key}: the weights contain NaN"
    torch.save(payload, path)
    return field


@pytest.mark.parametrize(
    "kind", ["text", "empty", "no-state_dict", "num_classes-str", "meta-list", "no-structure", "nan-weights"]
)
def test_a_bad_checkpoint_names_the_file_and_field(handmade, tmp_path, capsys, kind):
    ckpt = tmp_path / "model.pt"
    field = _checkpoint(ckpt, kind)
    before = _tree(tmp_path)
    _one_line(capsys, ["evaluate", "--data", handmade, "--checkpoint", ckpt], ckpt, field)
    assert _tree(tmp_path) == before


# -- upper bounds ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("dilation", 2**62, MAX_DILATION), ("kernel_size", 10**6 + 1, MAX_KERNEL_SIZE), ("channels", 10**7, MAX_CHANNELS)],
)
def test_layer_fields_are_bounded(tmp_path, tiny_data, capsys, field, value, limit):
    with pytest.raises(StructureError, match=f"layer.{field}: must be an integer <= {limit}"):
        LayerSpec(**{field: value}).validate()
    LayerSpec(**{field: limit}).validate()  # the limit itself is allowed
    layer = {"dilation": 1, "kernel_size": 3, "channels": 8, field: value}
    structure = tmp_path / "big.json"
    structure.write_text(json.dumps({"stages": [{"layers": [layer]}]}))
    out = tmp_path / "out"
    _one_line(
        capsys,
        ["train", "--data", tiny_data, "--structure", structure, "--out", out],
        structure,
        f"stages[0].layers[0].{field}: must be an integer <= {limit}",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"dilations": {"k": 2, "T": 30}}, "exceeds the largest dilation"),
        ({"kernels": {"sizes": [3, 2001]}}, f"must be an integer <= {MAX_KERNEL_SIZE}"),
        ({"widths": {"candidates": [16, 10**7]}}, f"must be an integer <= {MAX_CHANNELS}"),
    ],
)
def test_a_search_space_beyond_the_bounds_is_refused(tmp_path, tiny_data, capsys, space, message):
    raw = yaml.safe_load(Path(CONFIG).read_text())
    raw["space"] = space
    config = tmp_path / "big.yaml"
    config.write_text(yaml.safe_dump(raw))
    url = _study(tmp_path)
    argv = _search(url, tiny_data, config=config)
    _one_line(capsys, argv, config, message)
    assert _n_trials(url) == 0


# -- options ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("search", "--n-trials", "0"),
        ("search", "--n-trials", "-1"),
        ("search", "--timeout", "-5"),
        ("search", "--timeout", "nan"),
        ("search", "--max-retry", "-1"),
        ("refine", "--top", "0"),
        ("report", "--top", "0"),
        ("report", "--top", "-3"),
        ("train", "--bg-class", "nope"),
    ],
)
def test_bad_option_values_are_refused(tmp_path, tiny_data, capsys, command, option, value):
    url = _study(tmp_path, frozen_trial(10.0, spec_with(1, 2)))
    out = tmp_path / "out"
    argv = {
        "search": _search(url, tiny_data),
        "refine": cli_argv("refine", storage=url, study_name="s", config=CONFIG, data=tiny_data),
        "report": ["report", "--storage", url, "--study-name", "s", "--out", out],
        "train": ["train", "--data", tiny_data, "--default", "mstcn", "--out", out],
    }[command]
    before = _tree(tmp_path)
    line = _one_line(capsys, [*argv, f"{option}={value}"], option, value)
    if option == "--bg-class":
        assert str(tiny_data / "mapping.txt") in line
    assert _tree(tmp_path) == before and _n_trials(url) == 1


# -- a study and a config that do not fit ----------------------------------------------------------------------


def test_a_config_whose_space_differs_from_the_studys_trials(tmp_path, tiny_data, capsys):
    gene = load_config(CONFIG).space.genes[0].name
    other = create_trial(
        value=1.0, params={gene: 128}, distributions={gene: CategoricalDistribution((1, 2, 128))}
    )  # drawn from another space
    url = _study(tmp_path, other)
    argv = _search(url, tiny_data)
    _one_line(capsys, argv, CONFIG, "study 's'", gene, "does not match")
    assert _n_trials(url) == 1


@pytest.mark.parametrize("where", ["suggest", "flops"])
def test_suggest_and_flops_fail_the_trial_alone(tmp_path, tiny_data, capsys, monkeypatch, where):
    def boom(*args, **kwargs):
        raise StructureError(f"boom in {where}")

    if where == "suggest":
        monkeypatch.setattr(SearchSpace, "suggest", boom)
    else:  # training replaced by a quick result, so that the FLOPs count is reached
        from g2l_automl.objective._segmentation import Score

        fake = Score(metrics={"F1@10": 1.0}, std={}, repeats=[], n_params=1, seconds=0.0)
        monkeypatch.setattr(SegmentationObjective, "evaluate", lambda *a, **k: fake)
        monkeypatch.setattr(SegmentationObjective, "flops", boom)
    url = _study(tmp_path)
    argv = _search(url, tiny_data, "--n-trials", "1", "--device", "cpu")
    assert main([str(a) for a in argv]) == 0
    (trial,) = optuna.load_study(study_name="s", storage=url).trials
    assert trial.state == TrialState.FAIL and f"boom in {where}" in trial.user_attrs["error"]


def test_refine_names_the_trial_with_a_malformed_structure(tmp_path, tiny_data, capsys):
    url = _study(tmp_path, create_trial(value=5.0, user_attrs={"structure": {"stages": "not a list"}}))
    argv = cli_argv("refine", storage=url, study_name="s", config=CONFIG, data=tiny_data, top=1)
    _one_line(capsys, argv, "trial 0", "user attr 'structure'", "stages")
    assert _n_trials(url) == 1


def test_videonas_checks_a_nan_learning_rate_before_the_search(tmp_path, capsys):
    raw = yaml.safe_load(VIDEONAS.read_text())
    raw["training"]["lr"] = math.nan
    config = tmp_path / "vn.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    _one_line(capsys, ["videonas", "--config", config, "--out", out, "--data", tmp_path / "none"], "training.lr")
    assert not out.exists()


# -- nni-export ------------------------------------------------------------------------------------------------


def _job() -> dict:
    return {"job": "AAAAA", "id": 0, "nni_pid": "0", "params": _params(1), "final": {"default": 1.0},
            "status": "SUCCEEDED"}  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage-db", "not a readable NNI experiment database"),
        ("no-tables", "not a readable NNI experiment database"),
        ("record-not-json", "g2l_trial.json: not valid JSON"),
        ("record-a-list", "g2l_trial.json: expected a JSON object"),
        ("record-bad-parameters", "g2l_trial.json: parameters: expected an object"),
        ("metric-not-json", "MetricData of trial job AAAAA: not valid JSON"),
        ("id-outside", "an experiment id is a plain folder name"),
    ],
)
def test_nni_export_of_a_damaged_experiment(tmp_path, capsys, damage, message):
    path = _experiment(tmp_path, [_job()])
    db = path / "db" / "nni.sqlite"
    record = path / "environments" / "local-env" / "trials" / "AAAAA" / "g2l_trial.json"
    experiment = "EXP1"
    if damage == "garbage-db":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "no-tables":
        db.unlink()
        sqlite3.connect(db).close()
    elif damage == "record-not-json":
        record.write_text("{not json")
    elif damage == "record-a-list":
        record.write_text("[1, 2]")
    elif damage == "record-bad-parameters":
        record.write_text(json.dumps({ID_KEY: 0, "parameters": [1, 2]}))
    elif damage == "metric-not-json":
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE MetricData SET data = 'not json'")
        conn.close()
    else:
        experiment = "../" + path.name  # resolves to a folder outside the experiments folder
        (tmp_path / "exps").mkdir()
    storage = tmp_path / "copy.log"
    root = tmp_path / "exps" if damage == "id-outside" else tmp_path
    before = _tree(tmp_path)
    argv = ["nni-export", experiment, "--experiment-dir", root, "--to-storage", storage]
    _one_line(capsys, argv, message)
    assert not storage.exists() and _tree(tmp_path) == before


# -- permissions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_outputs_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_json_atomic(tmp_path / "out.json", {"a": 1})
        data = generate(tmp_path / "syn", "tiny", seed=0, num_videos=4)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(data.stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((data / "mapping.txt").stat().st_mode) == 0o666 & ~mask
