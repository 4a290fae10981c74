"""``search --warm-start STORAGE:STUDY --warm-top K``: another study's best structures enqueued into generation 0,
mapped onto this space's candidates or refused with one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from _cli import cli_argv, create_study
from optuna.distributions import CategoricalDistribution
from optuna.trial import create_trial

from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.search._warm_start import map_params, nearest, parse_source, warm_starts

optuna.logging.set_verbosity(optuna.logging.WARNING)
CONFIG = Path(__file__).resolve().parents[1] / "studies" / "synthetic-tiny.yaml"  # 1 x 4 dilations in 1..32
SPACE = load_config(CONFIG).space


def _source(path: Path, rows: list[tuple[list[int], float]], layers: int = 4, choices=(1, 2, 4, 8, 16, 32, 64, 128)):
    """A finished study (no training needed) of 1-stage structures, in a journal file."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="src", direction="maximize")
    dist = {f"stage0.layer{i}.dilation": CategoricalDistribution(choices) for i in range(layers)}
    for dilations, value in rows:
        params = {f"stage0.layer{i}.dilation": d for i, d in enumerate(dilations)}
        study.add_trial(create_trial(params=params, distributions=dist, value=value))
    return str(path)


def _search(tmp_path, tiny_data, *extra: str) -> tuple[int, str]:
    storage = str(tmp_path / "target.log")
    create_study(storage, "t", "--direction", "maximize", "--storage-class", "JournalFileBackend")
    argv = cli_argv(
        "search", *extra, storage=storage, study_name="t", config=CONFIG, data=tiny_data, n_trials=3, seed=0,
        device="cpu",
    )  # fmt: skip
    return main(argv), storage


def _target(storage: str) -> optuna.Study:
    backend = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    return optuna.load_study(study_name="t", storage=backend)


def test_compatible_study_seeds_generation_zero(tmp_path, tiny_data, capsys):
    src = _source(tmp_path / "src.log", [([1, 2, 4, 8], 50.0), ([2, 2, 2, 2], 70.0), ([4, 4, 4, 4], 60.0)])
    code, storage = _search(tmp_path, tiny_data, "--warm-start", f"{src}:src", "--warm-top", "2")
    assert code == 0
    assert "warm start: enqueued 2 of 2 structures of 'src' (best first; 0 genes moved" in capsys.readouterr().out
    trials = _target(storage).trials
    assert [t.params for t in trials[:2]] == [
        {f"stage0.layer{i}.dilation": d for i, d in enumerate(dil)} for dil in ([2, 2, 2, 2], [4, 4, 4, 4])
    ]
    assert [t.user_attrs["warm_start"] for t in trials[:2]] == ["src#1", "src#2"]
    assert all(t.system_attrs[G2LGeneticSampler._get_generation_key()] == 0 for t in trials[:2])
    assert "warm_start" not in trials[2].user_attrs and len(trials) == 3


def test_genes_outside_the_candidates_move_to_the_nearest(tmp_path):
    assert nearest(128, (1, 2, 4, 8, 16)) == 16 and nearest(48, (16, 32, 64)) == 64 and nearest(3, (2, 4)) == 4
    assert nearest(4, (2, 8)) == 2 and nearest(-1, (0, 5)) == 0  # a tie goes to the smaller; linear below 1
    assert nearest("tgm", ("conv", "dual_conv")) is None
    src = _source(tmp_path / "src.log", [([128, 64, 1, 2], 90.0), ([32, 32, 1, 2], 80.0), ([1, 1, 1, 1], 10.0)])
    starts = warm_starts(src, "src", SPACE, top=2)
    # the best maps onto 32 32 1 2, which the second already is: one copy, then the third
    assert [s.params["stage0.layer0.dilation"] for s in starts] == [32, 1]
    assert starts[0].mapped == ("stage0.layer0.dilation", "stage0.layer1.dilation") and starts[0].source == "src#0"
    params, mapped = map_params({f"stage0.layer{i}.dilation": 100 for i in range(4)}, SPACE, "x")
    assert set(params.values()) == {32} and len(mapped) == 4


def test_mapped_warm_start_from_the_cli(tmp_path, tiny_data, capsys):
    src = _source(tmp_path / "src.log", [([128, 64, 1, 2], 90.0)])
    code, storage = _search(tmp_path, tiny_data, "--warm-start", f"{src}:src")
    assert code == 0 and "(best first; 2 genes moved to the nearest candidate)" in capsys.readouterr().out
    first = _target(storage).trials[0]
    assert first.params["stage0.layer0.dilation"] == 32 and first.user_attrs["warm_start"] == "src#0"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("layers", "--warm-start: study 'src' trial 0 has no gene 'stage0.layer3.dilation'"),
        ("no-study", "--warm-start: no study 'nope'"),
        ("format", "--warm-start: 'justaname': expected STORAGE:STUDY"),
        ("top", "--warm-top: "),
        ("top-alone", "--warm-top: only with --warm-start"),
        ("empty", "has no complete trial"),
    ],
)
def test_refused_with_one_clear_line_and_nothing_written(tmp_path, tiny_data, capsys, case, message):
    rows = [] if case == "empty" else [([1, 2, 4], 50.0)] if case == "layers" else [([1, 2, 4, 8], 50.0)]
    src = _source(tmp_path / "src.log", rows, layers=3 if case == "layers" else 4)
    extra = {
        "no-study": ["--warm-start", f"{src}:nope"],
        "format": ["--warm-start", "justaname"],
        "top": ["--warm-start", f"{src}:src", "--warm-top", "0"],
        "top-alone": ["--warm-top", "2"],
    }.get(case, ["--warm-start", f"{src}:src"])
    code, storage = _search(tmp_path, tiny_data, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert _target(storage).trials == []  # nothing enqueued, nothing run


def test_parse_source_splits_at_the_last_colon():
    assert parse_source("sqlite:///g2l.db:gtea") == ("sqlite:///g2l.db", "gtea")
    assert parse_source("postgresql://u:pw@h/db:s1") == ("postgresql://u:pw@h/db", "s1")
    assert parse_source("runs/search.log:tiny") == ("runs/search.log", "tiny")
    for bad in ("gtea", ":gtea", "sqlite:///g2l.db:", "sqlite://"):
        with pytest.raises(G2LError, match="STORAGE:STUDY"):
            parse_source(bad)


def test_warm_start_benchmark_runs_small(tmp_path):
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ws.json"
    args = ["--seeds", "0", "--trials", "2", "--source-trials", "2", "--top", "1", "--videos", "8", "--epochs", "1"]
    run = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "warm_start.py"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert run.returncode == 0, run.stderr
    assert "seed 0: cold best" in run.stdout
    (row,) = json.loads(out.read_text())["rows"]
    assert row["cold_epochs"] == row["warm_epochs"] == 2
