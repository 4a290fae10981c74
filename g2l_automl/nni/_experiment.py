"""Reading an NNI experiment's folder: its profile, its metrics and the records our trials wrote."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni.runtime.env_vars import dispatcher_env_vars

from g2l_automl.errors import G2LError
from g2l_automl.nni._protocol import ID_KEY


def experiment_dir(experiment_id: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``~/nni-experiments/<id>`` (or under ``root``, the experiment's ``experimentWorkingDirectory``)."""
    base = Path(root) if root is not None else Path.home() / "nni-experiments"
    if experiment_id in ("", ".", "..") or any(c in experiment_id for c in "/\\\0"):
        raise G2LError(f"experiment {experiment_id!r}: an experiment id is a plain folder name inside {base}")
    path = base / experiment_id
    if not (path / "db" / "nni.sqlite").is_file():
        raise G2LError(f"experiment {experiment_id!r}: no NNI experiment database at {path / 'db' / 'nni.sqlite'}")
    return path


def _query(path: Path, *statements: str) -> list[list[tuple[Any, ...]]]:
    """The rows of each statement, read-only; a file that is no NNI database (garbage, or tables missing) is a
    :class:`G2LError` naming it."""
    file = path / "db" / "nni.sqlite"
    try:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            return [db.execute(statement).fetchall() for statement in statements]
    except sqlite3.Error as exc:
        raise G2LError(f"{file}: not a readable NNI experiment database ({exc})") from None


def _json(text: Any, where: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise G2LError(f"{where}: not valid JSON ({exc})") from None


def profile(path: Path) -> dict[str, Any]:
    """The experiment's latest config as NNI stored it (``trialCodeDirectory``, ``searchSpace``, ...)."""
    [rows] = _query(path, "SELECT params FROM ExperimentProfile ORDER BY revision DESC LIMIT 1")
    if not rows:
        raise G2LError(f"{path}: the experiment database has no profile")
    value = _json(rows[0][0], f"{path / 'db' / 'nni.sqlite'}: ExperimentProfile.params")
    if not isinstance(value, dict):
        raise G2LError(f"{path / 'db' / 'nni.sqlite'}: ExperimentProfile.params: expected a JSON object")
    return value


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


#: NNI's events that end a trial job (their timestamp is the job's end time).
_ENDED = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")


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
    start_ms: int | None = None  # NNI's own times (ms since the epoch): when the job started running ...
    end_ms: int | None = None  # ... and when it ended


def trial_records(path: Path) -> list[TrialRecord]:
    """Every trial job of the experiment, paired by job id: parameters from ``g2l_trial.json`` in the job's
    folder (written by our trial entry point), metrics from NNI's database, final status and NNI's start and end
    times from its events."""
    metrics, events = _query(
        path,
        "SELECT trialJobId, parameterId, type, sequence, data FROM MetricData ORDER BY timestamp",
        "SELECT trialJobId, event, timestamp FROM TrialJobEvent ORDER BY timestamp",
    )
    where = path / "db" / "nni.sqlite"
    records: dict[str, TrialRecord] = {}
    for job, _event, _time in events:
        records.setdefault(job, TrialRecord(job, None, None, None))
    for job, pid, kind, _seq, data in metrics:
        rec = records.setdefault(job, TrialRecord(job, None, None, None))
        rec.parameter_id = pid
        value = _json(data, f"{where}: MetricData of trial job {job}")
        if isinstance(value, str):  # NNI stores the trial's JSON string as a JSON string
            value = _json(value, f"{where}: MetricData of trial job {job}")
        if kind == "FINAL":
            rec.final = value
        else:
            rec.intermediate.append(value)
    started: dict[str, int] = {}
    for job, event, stamp in events:
        stamp = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
        if event == "RUNNING" and stamp is not None:
            started.setdefault(job, stamp)
        elif event == "WAITING" and records[job].start_ms is None:
            records[job].start_ms = stamp  # the submit time, used when no RUNNING event was stored
        if event in _ENDED:
            records[job].status, records[job].end_ms = event, stamp
        elif event not in ("WAITING", "RUNNING", "UNKNOWN") and records[job].status not in _ENDED:
            records[job].status = event  # e.g. USER_TO_CANCEL, which NNI may store just after USER_CANCELED
    for job, stamp in started.items():
        records[job].start_ms = stamp
    # local training service: environments/local-env/trials/<job>/; older layouts: trials/<job>/
    files = {f.parent.name: f for f in path.glob("**/trials/*/g2l_trial.json")}
    for rec in records.values():
        if rec.job in files:
            own = _read_record(files[rec.job])
            rec.parameters = own.get("parameters")
            rec.g2l_id = own.get(ID_KEY)
    return sorted(records.values(), key=lambda r: (r.g2l_id is None, r.g2l_id or 0, r.job))


def _read_record(file: Path) -> dict[str, Any]:
    """A trial's ``g2l_trial.json``: ``parameters`` an object and ``g2l_id`` an integer (either may be absent)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise G2LError(f"{file}: cannot read the trial record ({exc})") from None
    own = _json(text, str(file))
    if not isinstance(own, dict):
        raise G2LError(f"{file}: expected a JSON object with parameters and {ID_KEY}")
    if own.get("parameters") is not None and not isinstance(own["parameters"], dict):
        raise G2LError(f"{file}: parameters: expected an object, got {own['parameters']!r}")
    g2l_id = own.get(ID_KEY)
    if g2l_id is not None and (isinstance(g2l_id, bool) or not isinstance(g2l_id, int)):
        raise G2LError(f"{file}: {ID_KEY}: expected an integer, got {g2l_id!r}")
    return own
