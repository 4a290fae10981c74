"""A real NNI experiment on 127.0.0.1: G2L genetic tuner + EGI assessor (registered by name with the committed
meta file), trial concurrency 2, the tiny synthetic preset at 1 epoch per trial; one trial is killed as a user
would (NNI sends it SIGINT) and must still report a final result marked stopped, without a traceback."""

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

from g2l_automl.config import load_config
from g2l_automl.nni import ID_KEY
from g2l_automl.nni._experiment import trial_records
from g2l_automl.search import summarize_structure

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


def _metric(data: str) -> dict:
    value = json.loads(data)
    return json.loads(value) if isinstance(value, str) else value  # NNI keeps the trial's JSON as a JSON string


def _kill_first_trial(port: int, trials_dir: Path, deadline: float) -> str | None:
    """Kill (as ``nnictl trial kill`` does) the first trial job whose own record shows it is in our entry point."""
    while time.monotonic() < deadline:
        records = sorted(trials_dir.glob("*/g2l_trial.json")) if trials_dir.is_dir() else []
        if records:
            job = records[0].parent.name
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs/{job}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()
            return job
        time.sleep(0.2)
    return None


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
    exp_dir = tmp_path / "experiments" / exp_id
    try:
        status = None
        deadline = time.monotonic() + 400
        killed = _kill_first_trial(port, exp_dir / "environments" / "local-env" / "trials", deadline)
        while time.monotonic() < deadline:
            status = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/nni/check-status")[1])
            if status["status"] in ("DONE", "ERROR", "STOPPED"):
                break
            time.sleep(2)
        assert status and status["status"] == "DONE", (status, (exp_dir / "log" / "dispatcher.log").read_text())
        code, page = _get(f"http://127.0.0.1:{port}/")  # the web UI answers
        assert code == 200 and "<html" in page.lower()
        jobs = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs")[1])
        assert len(jobs) == TRIALS
        # what the web UI's trial table shows as the column "structure (metric)": each job's final metric
        metrics = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/nni/metric-data")[1])
        finals = {m["trialJobId"]: _metric(m["data"]) for m in metrics if m["type"] == "FINAL"}
    finally:
        subprocess.run([NNICTL, "stop", exp_id], env=env, capture_output=True, timeout=120)
    study = optuna.load_study(
        study_name="nni", storage=JournalStorage(JournalFileBackend(str(exp_dir / "checkpoint" / "g2l_study.journal")))
    )
    records = [r for r in trial_records(exp_dir) if r.parameters is not None]
    assert len(records) == TRIALS
    ran = {rec.g2l_id for rec in records}
    assert not [t for t in study.trials if t.number in ran and t.state == TrialState.RUNNING]
    # NNI asks for more parameters than it runs: a set handed out just before maxTrialNumber was reached (the
    # killed trial freed its place in generation 0) stays RUNNING in the tuner's study, never in an NNI job
    extra = [t for t in study.trials if t.number not in ran]
    assert len(extra) <= 1 and all(t.state == TrialState.RUNNING for t in extra)
    space = load_config(tmp_path / "tiny.yaml").space
    assert killed is not None
    (stopped,) = [r for r in records if r.job == killed]
    assert stopped.status == "USER_CANCELED" and stopped.final["stopped"] == "SIGINT"
    assert study.trials[stopped.g2l_id].state == TrialState.PRUNED
    stderr = next((exp_dir / "environments").glob(f"*/trials/{killed}/trial.stderr")).read_text()
    assert "g2l trial stopped by SIGINT" in stderr and "Traceback" not in stderr, stderr
    for rec in records:
        trial = study.trials[rec.g2l_id]
        assert trial.params == rec.parameters  # the tuner's view = what the job really ran
        structure = summarize_structure(space.to_structure(rec.parameters))
        if rec.final is not None:  # NNI's web UI shows the structure the job really trained
            assert finals[rec.job]["structure"] == structure and finals[rec.job][ID_KEY] == rec.g2l_id
        for metric in [*rec.intermediate, *([rec.final] if rec.final is not None else [])]:
            assert metric[ID_KEY] == rec.g2l_id and metric["structure"] == structure
        if rec.job == killed:
            continue
        if rec.final is not None and rec.final.get("stopped"):  # the assessor stopped it before its final report
            assert rec.status == "USER_CANCELED" and trial.state == TrialState.PRUNED
        elif rec.final is not None:  # also a job the assessor stopped just after its final report
            assert trial.state == TrialState.COMPLETE and trial.value == rec.final["default"]
            assert trial.user_attrs["nni_trial_job_id"] == rec.job
        else:
            assert rec.status == "USER_CANCELED" and trial.state == TrialState.PRUNED
    generations = [
        t.system_attrs["G2LGeneticSampler:generation"] for t in study.get_trials(states=(TrialState.COMPLETE,))
    ]
    assert all(generations.count(g) <= 2 for g in set(generations))  # no generation overshoots M = 2
