"""A real NNI experiment on 127.0.0.1: G2L genetic tuner + EGI assessor (registered by name with the committed
meta file), trial concurrency 2, the tiny synthetic preset at 1 epoch per trial."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from g2l_automl.nni import ID_KEY
from g2l_automl.nni._experiment import trial_records

ROOT = Path(__file__).resolve().parents[1]
NNICTL = str(Path(sys.executable).parent / "nnictl")
TRIALS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def test_nni_experiment_runs_to_done_with_correct_pairing(tmp_path, tiny_data):
    env = {**os.environ, "NNI_CONFIG_DIR": str(tmp_path / "nni-config"), "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [NNICTL, "algo", "register", "-m", str(ROOT / "studies" / "nni" / "algorithms.yml")],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = yaml.safe_load((ROOT / "studies" / "synthetic-tiny.yaml").read_text())
    config["training"]["epochs"] = 1
    config["data"]["root"] = str(tiny_data)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    experiment = {
        "experimentName": "g2l-test",
        "searchSpaceFile": str(ROOT / "studies" / "nni" / "synthetic-tiny.search_space.json"),
        "trialCommand": f"{sys.executable} -m g2l_automl.nni.trial --config {tmp_path / 'tiny.yaml'} --device cpu",
        "trialCodeDirectory": str(ROOT),
        "trialConcurrency": 2,
        "maxTrialNumber": TRIALS,
        "experimentWorkingDirectory": str(tmp_path / "experiments"),
        "tuner": {
            "name": "G2LGenetic",
            "classArgs": {"config": str(tmp_path / "tiny.yaml"), "population_size": 2, "seed": 0},
        },
        "assessor": {"name": "EGIAssessor", "classArgs": {"population_size": 2, "checkpoints": [1]}},
        "trainingService": {"platform": "local"},
    }
    (tmp_path / "exp.yml").write_text(yaml.safe_dump(experiment))
    port = _free_port()
    created = subprocess.run(
        [NNICTL, "create", "--config", str(tmp_path / "exp.yml"), "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", created.stdout)
    assert match, created.stdout + created.stderr
    exp_id = match.group(1)
    try:
        status = None
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            status = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/nni/check-status")[1])
            if status["status"] in ("DONE", "ERROR", "STOPPED"):
                break
            time.sleep(2)
        exp_dir = tmp_path / "experiments" / exp_id
        assert status and status["status"] == "DONE", (status, (exp_dir / "log" / "dispatcher.log").read_text())
        code, page = _get(f"http://127.0.0.1:{port}/")  # the web UI answers
        assert code == 200 and "<html" in page.lower()
        jobs = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs")[1])
        assert len(jobs) == TRIALS
    finally:
        subprocess.run([NNICTL, "stop", exp_id], env=env, capture_output=True, timeout=120)
    study = optuna.load_study(
        study_name="nni", storage=JournalStorage(JournalFileBackend(str(exp_dir / "checkpoint" / "g2l_study.journal")))
    )
    assert len(study.trials) == TRIALS and not study.get_trials(states=(TrialState.RUNNING,))
    records = [r for r in trial_records(exp_dir) if r.parameters is not None]
    assert len(records) == TRIALS
    for rec in records:
        trial = study.trials[rec.g2l_id]
        assert trial.params == rec.parameters  # the tuner's view = what the job really ran
        for metric in [*rec.intermediate, *([rec.final] if rec.final is not None else [])]:
            assert metric[ID_KEY] == rec.g2l_id
        if rec.final is not None:  # also a job the assessor stopped just after its final report
            assert trial.state == TrialState.COMPLETE and trial.value == rec.final["default"]
            assert trial.user_attrs["nni_trial_job_id"] == rec.job
        else:
            assert rec.status == "USER_CANCELED" and trial.state == TrialState.PRUNED
    generations = [
        t.system_attrs["G2LGeneticSampler:generation"] for t in study.get_trials(states=(TrialState.COMPLETE,))
    ]
    assert all(generations.count(g) <= 2 for g in set(generations))  # no generation overshoots M = 2
