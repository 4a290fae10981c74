"""The NNI trial entry point (NNI's trial API stubbed) and ``g2l-optimize nni-export`` on a recorded experiment."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import nni
import optuna
import pytest
from optuna.trial import TrialState

from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.nni import ID_KEY
from g2l_automl.nni import trial as nni_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
STUDIES = Path(__file__).resolve().parents[1] / "studies"
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
    record = json.loads((tmp_path / "out" / "g2l_trial.json").read_text())
    assert record[ID_KEY] == 7 and record["parameters"] == space.to_params(space.base)
    assert record["trial_job_id"] == "JOB01"


def test_trial_reports_a_final_result_when_it_fails(fake_nni, tmp_path):
    state, reports = fake_nni
    state["params"] = {"stage0.layer0.dilation": 1, ID_KEY: 3}  # missing genes
    assert nni_trial.main(["--config", CONFIG, "--data", str(tmp_path / "no-data")]) == 1
    (final,) = reports["final"]
    assert final[ID_KEY] == 3 and final["default"] == 0.0 and final["error"]


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
        db.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'RUNNING', '', '', 0, '', '')", (t * 10, job["job"]))
        db.execute(
            "INSERT INTO TrialJobEvent VALUES (?, ?, ?, '', '', 0, '', '')", (t * 10 + 9, job["job"], job["status"])
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
