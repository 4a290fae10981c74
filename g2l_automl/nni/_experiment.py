"""Reading an NNI experiment's folder: its profile, its metrics and the records our trials wrote."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni.runtime.env_vars import dispatcher_env_vars

from g2l_automl.errors import G2LError
from g2l_automl.nni._protocol import ID_KEY


def experiment_dir(experiment_id: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``~/nni-experiments/<id>`` (or under ``root``, the experiment's ``experimentWorkingDirectory``)."""
    base = Path(root) if root is not None else Path.home() / "nni-experiments"
    path = base / experiment_id
    if not (path / "db" / "nni.sqlite").is_file():
        raise G2LError(f"experiment {experiment_id!r}: no NNI experiment database at {path / 'db' / 'nni.sqlite'}")
    return path


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path / 'db' / 'nni.sqlite'}?mode=ro", uri=True)


def profile(path: Path) -> dict[str, Any]:
    """The experiment's latest config as NNI stored it (``trialCodeDirectory``, ``searchSpace``, ...)."""
    with _connect(path) as db:
        row = db.execute("SELECT params FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
    if row is None:
        raise G2LError(f"{path}: the experiment database has no profile")
    return json.loads(row[0])


def resolve_path(name: str) -> str:
    """A path from a tuner's ``classArgs``: as given when it exists, else relative to the experiment's
    ``trialCodeDirectory`` (NNI starts its dispatcher in the log folder, not where ``nnictl`` ran)."""
    if os.path.isabs(name) or os.path.exists(name) or not dispatcher_env_vars.NNI_CHECKPOINT_DIRECTORY:
        return name
    exp = Path(dispatcher_env_vars.NNI_CHECKPOINT_DIRECTORY).parent
    try:
        code = profile(exp).get("trialCodeDirectory")
    except (G2LError, sqlite3.Error, ValueError):
        return name
    return os.path.join(code, name) if code else name


@dataclass
class TrialRecord:
    """One trial job: the parameters it really ran with (its own record) and its metrics by job id."""

    job: str
    parameter_id: str | None
    g2l_id: int | None
    parameters: dict[str, Any] | None
    final: Any = None
    intermediate: list[Any] = field(default_factory=list)
    status: str | None = None


def trial_records(path: Path) -> list[TrialRecord]:
    """Every trial job of the experiment, paired by job id: parameters from ``g2l_trial.json`` in the job's
    folder (written by our trial entry point), metrics from NNI's database, final status from its events."""
    with _connect(path) as db:
        metrics = db.execute(
            "SELECT trialJobId, parameterId, type, sequence, data FROM MetricData ORDER BY timestamp"
        ).fetchall()
        events = db.execute("SELECT trialJobId, event FROM TrialJobEvent ORDER BY timestamp").fetchall()
    records: dict[str, TrialRecord] = {}
    for job, _event in events:
        records.setdefault(job, TrialRecord(job, None, None, None))
    for job, pid, kind, _seq, data in metrics:
        rec = records.setdefault(job, TrialRecord(job, None, None, None))
        rec.parameter_id = pid
        value = json.loads(data)
        if isinstance(value, str):  # NNI stores the trial's JSON string as a JSON string
            value = json.loads(value)
        if kind == "FINAL":
            rec.final = value
        else:
            rec.intermediate.append(value)
    for job, event in events:
        if event not in ("WAITING", "RUNNING", "UNKNOWN"):
            records[job].status = event
    # local training service: environments/local-env/trials/<job>/; older layouts: trials/<job>/
    files = {f.parent.name: f for f in path.glob("**/trials/*/g2l_trial.json")}
    for rec in records.values():
        if rec.job in files:
            own = json.loads(files[rec.job].read_text(encoding="utf-8"))
            rec.parameters = own.get("parameters")
            rec.g2l_id = own.get(ID_KEY)
    return sorted(records.values(), key=lambda r: (r.g2l_id is None, r.g2l_id or 0, r.job))
