"""The NNI trial entry point (NNI's trial API stubbed) and ``g2l-optimize nni-export`` on a recorded experiment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nni
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.nni import ID_KEY, default_value
from g2l_automl.nni import trial as nni_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
CONFIG = str(STUDIES / "synthetic-tiny.yaml")


@pytest.fixture
def fake_nni(monkeypatch, tmp_path):
    """NNI's trial functions replaced by recorders; the trial's output folder is ``tmp_path/out``."""
    reports = {"intermediate": [], "final": []}
    state = {"params": {}}
    monkeypatch.setattr(nni, "get_next_parameter", lambda: dict(state["params"]))
    monkeypatch.setattr(nni, "report_intermediate_result", reports["intermediate"].append)
    monkeypatch.setattr(nni, "report_final_result", reports["final"].append)
    monkeypatch.setattr(nni, "get_trial_id", lambda: "JOB01")
    monkeypatch.setattr(nni, "get_sequence_id", lambda: 0)
    monkeypatch.setenv("NNI_OUTPUT_DIR", str(tmp_path / "out"))
    return state, reports


def test_trial_trains_reports_and_records(fake_nni, tiny_data, tmp_path):
    state, reports = fake_nni
    space = load_config(CONFIG).space
    state["params"] = {**space.to_params(space.base), ID_KEY: 7}
    assert nni_trial.main(["--config", CONFIG, "--data", str(tiny_data), "--device", "cpu"]) == 0
    epochs = load_config(CONFIG).training["epochs"]
    assert len(reports["intermediate"]) == epochs
    assert all(r[ID_KEY] == 7 and isinstance(r["default"], float) and "Acc" in r for r in reports["intermediate"])
    (final,) = reports["final"]
    assert final[ID_KEY] == 7 and final["default"] == final["F1@10"] and final["params"] > 0
    # every metric dict carries the structure the trial really trained, as one short line (NNI: "structure (metric)")
    assert final["structure"] == "1x4 d 1 2 4 8"
    assert all(r["structure"] == final["structure"] for r in reports["intermediate"])
    record = json.loads((tmp_path / "out" / "g2l_trial.json").read_text())
    assert record[ID_KEY] == 7 and record["parameters"] == space.to_params(space.base)
    assert record["trial_job_id"] == "JOB01"


def test_trial_reports_a_final_result_when_it_fails(fake_nni, tmp_path):
    state, reports = fake_nni
    state["params"] = {"stage0.layer0.dilation": 1, ID_KEY: 3}  # missing genes
    assert nni_trial.main(["--config", CONFIG, "--data", str(tmp_path / "no-data")]) == 1
    (final,) = reports["final"]
    assert final[ID_KEY] == 3 and final["default"] == 0.0 and final["error"]


_STOP_SCRIPT = """
import json, sys
import nni
from g2l_automl.nni import trial

out = open(sys.argv[1], "a")
record = lambda kind: lambda m: (out.write(json.dumps([kind, m]) + "\\n"), out.flush())
nni.get_next_parameter = lambda: json.loads(sys.argv[2])
nni.report_intermediate_result = record("intermediate")
nni.report_final_result = record("final")
nni.get_trial_id = lambda: "JOB01"
nni.get_sequence_id = lambda: 0
trial._exit(trial.main(["--config", sys.argv[3], "--device", "cpu", "--threads", "1"]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_trial_stopped_by_signal_reports_a_stopped_result_without_traceback(signum, tiny_data, tmp_path):
    """NNI stops a trial with SIGINT (an assessor's early stop, nnictl trial kill): one clean line on stderr, a
    final result marked stopped with the last validation value, then death by that signal."""
    config = yaml.safe_load(Path(CONFIG).read_text())
    config["data"]["root"], config["training"]["epochs"] = str(tiny_data), 200
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    space = load_config(tmp_path / "c.yaml").space
    (tmp_path / "t.py").write_text(_STOP_SCRIPT)
    log = tmp_path / "reports.jsonl"
    params = json.dumps({**space.to_params(space.base), ID_KEY: 5})
    cmd = [sys.executable, str(tmp_path / "t.py"), str(log), params, str(tmp_path / "c.yaml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NNI_OUTPUT_DIR": str(tmp_path / "out")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and '"intermediate"' in log.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == -signum, err  # reported, then died by the signal: NNI shows USER_CANCELED
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"g2l trial stopped by {name}" in err
    reports = [json.loads(line) for line in log.read_text().splitlines()]
    finals = [m for kind, m in reports if kind == "final"]
    intermediate = [m for kind, m in reports if kind == "intermediate"]
    assert len(finals) == 1 and len(intermediate) < 200
    (final,) = finals
    assert final["stopped"] == name and final[ID_KEY] == 5 and final["structure"] == "1x4 d 1 2 4 8"
    assert final["default"] == intermediate[-1]["default"]
    assert default_value(final)[0] is None  # tuner and export take it as stopped, not as a result


T0_MS = 1_700_000_000_000


def _experiment(root: Path, jobs: list[dict]) -> Path:
    """An NNI experiment folder as NNI 3.0 writes it: the SQLite tables and each job's trial folder."""
    path = root / "EXP1"
    (path / "db").mkdir(parents=True)
    db = sqlite3.connect(path / "db" / "nni.sqlite")
    db.execute(
        "CREATE TABLE ExperimentProfile (params text, id text, execDuration integer, startTime integer, "
        "endTime integer, logDir text, nextSequenceId integer, revision integer)"
    )
    db.execute(
        "CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text, "
        "sequence integer, data text)"
    )
    db.execute(
        "CREATE TABLE TrialJobEvent (timestamp integer, trialJobId text, event text, data text, "
        "logPath text, sequenceId integer, message text, environmentId text)"
    )
    space = load_config(CONFIG).space.to_nni()
    db.execute(
        "INSERT INTO ExperimentProfile VALUES (?, 'EXP1', 0, 0, 0, '', 0, 1)",
        (json.dumps({"searchSpace": space, "trialCodeDirectory": str(root)}),),
    )
    for t, job in enumerate(jobs):
        trial_dir = path / "environments" / "local-env" / "trials" / job["job"]
        trial_dir.mkdir(parents=True)
        record = {"trial_job_id": job["job"], ID_KEY: job["id"], "parameters": job["params"]}
        (trial_dir / "g2l_trial.json").write_text(json.dumps(record))
        for step, value in enumerate(job.get("curve", [])):
            metric = json.dumps(json.dumps({"default": value, ID_KEY: job["id"]}))
            db.execute(
                "INSERT INTO MetricData VALUES (?, ?, ?, 'PERIODICAL', ?, ?)",
                (t * 10 + step, job["job"], job["nni_pid"], step, metric),
            )
        if "final" in job:
            metric = json.dumps(json.dumps({**job["final"], ID_KEY: job["id"]}))
            db.execute(
                "INSERT INTO MetricData VALUES (?, ?, ?, 'FINAL', 0, ?)",
                (t * 10 + 9, job["job"], job["nni_pid"], metric),
            )
        start = T0_MS + t * 60_000  # NNI's times, ms since the epoch: job t runs 30 + t seconds from minute t
        db.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'WAITING', '', '', 0, '', '')", (start - 500, job["job"]))
        db.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'RUNNING', '', '', 0, '', '')", (start, job["job"]))
        db.execute(
            "INSERT INTO TrialJobEvent VALUES (?, ?, ?, '', '', 0, '', '')",
            (start + (30 + t) * 1000, job["job"], job["status"]),
        )
    db.commit()
    db.close()
    return path


def _params(d: int) -> dict:
    return {f"stage0.layer{i}.dilation": d for i in range(4)}


def test_nni_export_pairs_each_result_with_what_its_trial_ran(tmp_path, capsys):
    # NNI's parameter ids are swapped between the first two jobs, as with upstream issue 5726
    jobs = [
        {
            "job": "AAAAA",
            "id": 0,
            "nni_pid": "1",
            "params": _params(1),
            "curve": [1.0, 2.0],
            "final": {"default": 11.0, "F1@10": 11.0, "Acc": 50.0},
            "status": "SUCCEEDED",
        },
        {
            "job": "BBBBB",
            "id": 1,
            "nni_pid": "0",
            "params": _params(2),
            "curve": [3.0, 4.0],
            "final": {"default": 22.0, "F1@10": 22.0, "Acc": 60.0},
            "status": "SUCCEEDED",
        },
        {"job": "CCCCC", "id": 2, "nni_pid": "2", "params": _params(4), "curve": [0.5], "status": "USER_CANCELED"},
        {
            "job": "DDDDD",
            "id": 3,
            "nni_pid": "3",
            "params": _params(8),
            "final": {"default": 0.0, "error": "RuntimeError: boom"},
            "status": "FAILED",
        },
    ]
    _experiment(tmp_path, jobs)
    storage = str(tmp_path / "nni.log")
    argv = ["nni-export", "EXP1", "--experiment-dir", str(tmp_path), "--config", CONFIG, "--to-storage", storage]
    assert main(argv) == 0
    assert "4 trials of experiment EXP1" in capsys.readouterr().out
    study = optuna.load_study(
        study_name="nni-EXP1",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
    )
    by_job = {t.user_attrs["nni_trial_job_id"]: t for t in study.trials}
    assert by_job["AAAAA"].value == 11.0 and by_job["AAAAA"].params == _params(1)
    assert by_job["BBBBB"].value == 22.0 and by_job["BBBBB"].params == _params(2)
    assert by_job["AAAAA"].intermediate_values == {1: 1.0, 2: 2.0}
    assert by_job["CCCCC"].state == TrialState.PRUNED and by_job["DDDDD"].state == TrialState.FAIL
    assert by_job["DDDDD"].user_attrs["error"] == "RuntimeError: boom"
    assert by_job["BBBBB"].user_attrs["structure"]["stages"][0]["layers"][0]["dilation"] == 2
    # NNI's own start and end times, not the export's: durations 30, 31, 32, 33 s
    for t, job in enumerate(("AAAAA", "BBBBB", "CCCCC", "DDDDD")):
        trial = by_job[job]
        assert trial.datetime_start == datetime.fromtimestamp((T0_MS + t * 60_000) / 1000)
        assert (trial.datetime_complete - trial.datetime_start).total_seconds() == 30 + t
    # the report works on the copy (structures came with --config)
    out = tmp_path / "report.html"
    assert main(["report", "--storage", storage, "--study-name", "nni-EXP1", "--out", str(out), "--no-dashboard"]) == 0
    assert "id='dilations'" in out.read_text()
    capsys.readouterr()
    # a second copy into the same study is refused, and nothing is added
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        len(
            optuna.load_study(
                study_name="nni-EXP1",
                storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
            ).trials
        )
        == 4
    )


def test_nni_export_refuses_a_metric_that_echoes_another_trial(tmp_path, capsys):
    jobs = [
        {
            "job": "AAAAA",
            "id": 0,
            "nni_pid": "0",
            "params": _params(1),
            "final": {"default": 1.0},
            "status": "SUCCEEDED",
        }
    ]
    path = _experiment(tmp_path, jobs)
    record = path / "environments" / "local-env" / "trials" / "AAAAA" / "g2l_trial.json"
    record.write_text(json.dumps({ID_KEY: 5, "parameters": _params(1)}))
    assert main(["nni-export", "EXP1", "--experiment-dir", str(tmp_path), "--to-storage", str(tmp_path / "x.log")]) == 2
    assert "echoes" in capsys.readouterr().err and not (tmp_path / "x.log").exists()


def test_nni_export_missing_experiment(tmp_path, capsys):
    assert main(["nni-export", "NOPE", "--experiment-dir", str(tmp_path)]) == 2
    assert "NOPE" in capsys.readouterr().err


def test_nni_space_matches_the_committed_files(tmp_path, capsys):
    for name in ("synthetic-tiny", "synthetic-gtea-like"):
        committed = json.loads((STUDIES / "nni" / f"{name}.search_space.json").read_text())
        assert committed == load_config(STUDIES / f"{name}.yaml").space.to_nni()
    assert main(["nni-space", "--config", CONFIG, "--out", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text()) == load_config(CONFIG).space.to_nni()


@pytest.mark.parametrize("name", sorted(p.name for p in (STUDIES / "nni").glob("synthetic-*.yml")))
def test_committed_experiment_configs_are_valid_and_consistent(name):
    import shlex

    import yaml
    from nni.experiment.config import ExperimentConfig

    path = STUDIES / "nni" / name
    ExperimentConfig.load(str(path)).validate()  # NNI's own schema check
    raw = yaml.safe_load(path.read_text())
    command = shlex.split(raw["trialCommand"])
    config = command[command.index("--config") + 1]
    assert raw["tuner"]["classArgs"]["config"] == config
    space = json.loads((path.parent / raw["searchSpaceFile"]).read_text())
    assert space == load_config(STUDIES.parent / config).space.to_nni()
    options = load_config(STUDIES.parent / config).samplers
    sampler = "evolution" if "Evolution" in str(raw["tuner"]) else "g2l"
    assert raw["tuner"]["classArgs"]["population_size"] == options[sampler]["population_size"]


def test_algorithm_meta_file_names_importable_classes():
    import importlib

    import yaml

    meta = yaml.safe_load((STUDIES / "nni" / "algorithms.yml").read_text())["algorithms"]
    assert {m["builtinName"] for m in meta} == {"G2LGenetic", "G2LEvolution", "EGIAssessor"}
    for m in meta:
        module, cls = m["className"].rsplit(".", 1)
        assert hasattr(importlib.import_module(module), cls)
