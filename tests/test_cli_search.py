"""``g2l-optimize search`` end to end: a study made by ``optuna create-study``, several workers, clear errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from _cli import OPTUNA, cli_argv, create_study
from optuna.trial import TrialState

from g2l_automl.cli import main
from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.structure import StructureSpec

STUDIES = Path(__file__).resolve().parents[1] / "studies"
BIN = Path(sys.executable).parent
DASHBOARD = str(BIN / "optuna-dashboard") if (BIN / "optuna-dashboard").exists() else "optuna-dashboard"


def test_search_on_a_study_made_by_optuna_create_study(tmp_path, tiny_data, capsys):
    storage = f"sqlite:///{tmp_path / 'g2l.db'}"
    create_study(storage, "s", "--direction", "maximize")
    argv = cli_argv(
        "search", storage=storage, study_name="s", config=STUDIES / "synthetic-tiny.yaml", data=tiny_data,
        n_trials=5, seed=0, seed_baseline=True, device="cpu", out=tmp_path / "best",
    )  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "best trial" in out and "stage 0 dilations" in out
    # progress with an ETA after each trial (no terminal: one line each), the best so far at each generation's end
    progress = [line for line in captured.err.splitlines() if line.startswith("progress")]
    assert len(progress) == 5 and "1/5 [" in progress[0] and "<" in progress[0] and "5/5 [" in progress[-1]
    (generation,) = [line for line in out.splitlines() if line.startswith("generation")]
    assert generation.startswith("generation 0 done: best ") and "1x4 d " in generation
    study = optuna.load_study(study_name="s", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 5
    assert study.trials[0].user_attrs["baseline"] == "mstcn"
    assert study.trials[0].params == {f"stage0.layer{i}.dilation": 2**i for i in range(4)}
    assert all(G2LGeneticSampler._get_generation_key() in t.system_attrs for t in complete)
    assert all(0.0 <= t.value <= 100.0 and "F1@10" in t.user_attrs["metrics"] for t in complete)
    best = StructureSpec.from_dict(json.loads((tmp_path / "best" / "best_structure.json").read_text()))
    assert best == StructureSpec.from_dict(study.best_trial.user_attrs["structure"])
    assert "model" in json.loads((tmp_path / "best" / "best_g2l_config.json").read_text())
    # a second run continues the same study and does not enqueue the baseline twice
    assert main([*argv[:-2], "--n-trials", "2", "--sampler", "evolution"]) == 0
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 7
    # Optuna's own CLI reads the runs
    listing = subprocess.run(
        [*OPTUNA, "trials", "--storage", storage, "--study-name", "s", "-f", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert len(json.loads(listing)) == 7
    _check_dashboard(storage, n_trials=7)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_dashboard(storage: str, n_trials: int) -> None:
    """optuna-dashboard serves the study with our user attrs (loopback only, stopped by its pid)."""
    port = _free_port()
    proc = subprocess.Popen(
        [DASHBOARD, storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, studies = time.time() + 60, None
        while studies is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies = json.load(r)["study_summaries"]
            except OSError:
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", timeout=10) as r:
            detail = json.load(r)
        assert len(detail["trials"]) == n_trials
        assert any(a["key"] == "structure" for a in detail["trials"][0]["user_attrs"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_worker_processes_on_one_journal_file(tmp_path, tiny_data):
    journal = str(tmp_path / "journal.log")
    create_study(journal, "w", "--storage-class", "JournalFileBackend", "--direction", "maximize")
    search = cli_argv(
        "search", storage=journal, study_name="w", config=STUDIES / "synthetic-tiny.yaml", data=tiny_data, n_trials=4,
        device="cpu",
    )  # fmt: skip
    cmd = [sys.executable, "-m", "g2l_automl.cli", *search]
    procs = [
        subprocess.Popen([*cmd, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for seed in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    study = optuna.load_study(
        study_name="w", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 8
    assert {t.number for t in study.trials} == set(range(8))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-study", "optuna create-study --storage"),
        ("bad-config", "unknown section(s) spaces"),
        ("minimize", "direction minimize but metric F1@10"),
        ("no-journal", "neither a database URL nor an existing journal file"),
    ],
)
def test_search_errors_are_one_clear_line(tmp_path, tiny_data, capsys, setup, message):
    storage = f"sqlite:///{tmp_path / 'e.db'}"
    config = STUDIES / "synthetic-tiny.yaml"
    if setup == "bad-config":
        config = tmp_path / "bad.yaml"
        config.write_text("spaces: {}\n")
    if setup == "minimize":
        create_study(storage, "s", "--direction", "minimize")
    elif setup != "no-study":
        create_study(storage, "s", "--direction", "maximize")
    if setup == "no-journal":
        storage = str(tmp_path / "missing.log")
    argv = cli_argv("search", storage=storage, study_name="s", config=config, data=tiny_data, n_trials=1)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    if setup == "bad-config":
        assert str(config) in err
    if setup in ("minimize", "bad-config"):
        assert len(optuna.load_study(study_name="s", storage=storage).trials) == 0  # nothing half-written
