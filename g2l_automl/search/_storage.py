"""Open the storage of a study made with ``optuna create-study``."""

from __future__ import annotations

import datetime
import functools
import logging
import os
import re
import time
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from g2l_automl.errors import G2LError

_MASK = "***"
_log = logging.getLogger(__name__)
RECONNECT_SECONDS = 300.0  # how long a storage call waits for a lost database to come back


def display_url(url: str) -> str:
    """``url`` fit to print or store: a database URL's password (``user:PASSWORD@`` or a ``password=`` query
    parameter) replaced by ``***``; a journal path unchanged.

    Example:
        >>> display_url("postgresql://g2l:s3cret@db-host:5432/g2l")
        'postgresql://g2l:***@db-host:5432/g2l'
        >>> display_url("search.log")
        'search.log'
    """
    for begin, end in reversed(_secret_spans(url)):
        url = url[:begin] + _MASK + url[end:]
    return url


def hide_password(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` shown as :func:`display_url` shows it and its password,
    raw or percent-decoded, masked wherever else it appears."""
    spans = _secret_spans(url)
    if not spans:
        return text
    text = text.replace(url, display_url(url))
    secrets = {v for b, e in spans for v in (url[b:e], unquote(url[b:e])) if v}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """Index ranges of the secrets in a database URL, in order: the password of ``user:password@`` and the
    values of ``password=`` query parameters. None for a path (no ``://``).

    The user part runs to the *last* ``@`` of the URL, so a password with a raw ``@`` or ``/`` in it is still
    masked whole (masking too much is harmless, too little is a leak)."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return []
    spans = []
    start = scheme_end + 3
    at = url.rfind("@", start)
    user, colon, _ = url[start:at].partition(":") if at >= 0 else ("", "", "")
    if colon and "/" not in user:  # a user name has no "/": that is a path (sqlite:////a:b@c)
        spans.append((start + len(user) + 1, at))
    spans.extend(m.span(1) for m in _QUERY_PASSWORD.finditer(url, max(at, start)) if m.group(1))
    return spans


_QUERY_PASSWORD = re.compile(r"[?&]password=([^&#]*)", re.IGNORECASE)


def open_storage(
    url: str,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int = 3,
    create: bool = False,
) -> BaseStorage:
    """An RDB URL (``sqlite:///x.db``, ``postgresql://...``) or the path of a journal file (JournalFileBackend,
    the choice for several workers on one host); with ``create`` a journal file that does not exist yet is made.

    ``heartbeat_interval`` (seconds, RDB only: Optuna's journal storage has no heartbeats) makes running trials
    beat; a trial silent for ``grace_period`` seconds (default: twice the interval) is failed by the next worker
    that starts a trial, and its parameters are re-queued (``RetryHeartbeatStaleTrialCallback``, ``max_retry``
    times)."""
    if "://" not in url:
        if not create and not os.path.isfile(url):
            raise G2LError(
                f"storage: {url!r} is neither a database URL nor an existing journal file; create the study with "
                f"optuna create-study --storage {url} --storage-class JournalFileBackend ..."
            )
        try:  # the journal is replayed here: a file of something else fails now, not inside Optuna later
            return JournalStorage(JournalFileBackend(url))
        except Exception as exc:  # noqa: BLE001 - JSONDecodeError, KeyError, UnicodeDecodeError, OSError, ...
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise G2LError(
                f"storage: {url!r} is not an Optuna journal file ({type(exc).__name__}{': ' if first else ''}{first})"
            ) from None
    database = _sqlite_file(url)
    if database is not None and not create and not os.path.isfile(database):
        # SQLAlchemy would create an empty database file before Optuna finds no study in it
        raise G2LError(
            f"storage: {display_url(url)!r}: the SQLite file {database} does not exist; create the study first with "
            f"optuna create-study --storage {display_url(url)} ..."
        )
    # pre-ping: a connection the server dropped (restart, failover, idle timeout) is replaced at checkout
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5: documented here, not noise
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            beats: dict[str, Any] = {}
            if heartbeat_interval:
                beats = {
                    "heartbeat_interval": heartbeat_interval,
                    "grace_period": grace_period or 2 * heartbeat_interval,
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
                }
            return ReconnectingRDBStorage(url, engine_kwargs=engine_kwargs, **beats)
    except Exception as exc:  # SQLAlchemy / driver errors: bad URL, server down, missing driver
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise G2LError(hide_password(f"storage: cannot open {display_url(url)!r}: {first}", url)) from None


def _sqlite_file(url: str) -> str | None:
    """The database file of a ``sqlite:///PATH`` URL; None for other URLs and for an in-memory database."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:  # noqa: BLE001 - a malformed URL is reported by RDBStorage below
        return None
    return database if database and database != ":memory:" and not database.startswith("file:") else None


def load_study(
    storage_url: str,
    study_name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    **heartbeat: Any,
) -> optuna.Study:
    """Load an existing study (``heartbeat``: :func:`open_storage`'s options); a missing one gives the ``optuna
    create-study`` command that makes it."""
    storage = open_storage(storage_url, **heartbeat)
    try:
        return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        extra = " --storage-class JournalFileBackend" if "://" not in storage_url else ""
        shown = display_url(storage_url)
        raise G2LError(
            f"study {study_name!r} does not exist in {shown}; create it first with:\n"
            f"  optuna create-study --storage {shown}{extra} --study-name {study_name} --direction maximize"
        ) from None


def _transient(exc: BaseException) -> bool:
    """A lost or refused database connection (server restarting, network blip, SQLite busy), as opposed to bad
    data or a logic error: worth retrying. Optuna wraps SQLAlchemy errors in StorageInternalError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa_exc.DBAPIError) and (
            seen.connection_invalidated or isinstance(seen, (sa_exc.OperationalError, sa_exc.InterfaceError))
        ):
            return True
        if isinstance(seen, (sa_exc.DisconnectionError, ConnectionError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retrying(name: str, method: Callable[..., Any] | None = None) -> Callable[..., Any]:
    method = method or getattr(RDBStorage, name)

    @functools.wraps(method)
    def call(self: ReconnectingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.reconnect_seconds
        delay, attempt = 0.2, 0
        while True:
            try:
                return method(self, *args, **kwargs)
            except optuna.exceptions.UpdateFinishedTrialError:
                if attempt and name == "set_trial_state_values" and self._already_set(*args, **kwargs):
                    return True  # the first attempt's commit went through before its reply was lost
                raise
            except Exception as exc:
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    raise
                if attempt == 0:
                    _log.warning(
                        "storage: %s failed (%s); retrying for up to %.0fs",
                        name,
                        _first_line(exc),
                        self.reconnect_seconds,
                    )
                time.sleep(delay)
                delay, attempt = min(2 * delay, 1.0), attempt + 1

    return call


def _stale_or_orphaned(self: RDBStorage, study_id: int) -> list[int]:
    """Optuna's stale trials (heartbeat older than the grace period) plus orphans: RUNNING trials that never had a
    heartbeat and started longer ago than the grace period. An orphan is a trial whose creation committed while the
    reply was lost in a database restart: the worker's retry created another trial and never saw this one. With
    heartbeats on, every worker's trial gets its first heartbeat as it starts, so nothing else matches."""
    from optuna.storages._rdb import models  # Optuna's own tables: which trials have a heartbeat row

    stale = RDBStorage._get_stale_trial_ids(self, study_id)
    grace = self.grace_period if self.grace_period is not None else 2 * (self.heartbeat_interval or 0)
    # Optuna stores start times as naive UTC, from the creating worker's clock
    cutoff = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=grace)
    session = self.scoped_session()
    try:
        running = (
            session.query(models.TrialModel.trial_id, models.TrialModel._datetime_start_utc)
            .filter(models.TrialModel.state == optuna.trial.TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study_id)
            .all()
        )
        old = [trial_id for trial_id, start in running if start is not None and start < cutoff]
        beating = {
            row[0]
            for row in session.query(models.TrialHeartbeatModel.trial_id)
            .filter(models.TrialHeartbeatModel.trial_id.in_(old))
            .all()
        }
        orphans = [trial_id for trial_id in old if trial_id not in beating]
        session.commit()
    finally:
        session.close()
    return stale + [t for t in orphans if t not in stale]


def _first_line(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return next((line for line in str(cause).splitlines() if line.strip()), type(cause).__name__)


class ReconnectingRDBStorage(RDBStorage):
    """Optuna's RDBStorage whose calls survive a database restart: a call that fails on a lost or refused
    connection is retried (every 0.2 s, doubling to 1 s) for up to ``reconnect_seconds``; the connection pool pings
    connections before use, so the first call after the restart gets a fresh one. Heartbeats retry too, so a
    restart shorter than the grace period fails no running trial. A trial created by a commit whose reply was lost
    (the retry creates another) never gets a heartbeat; the stale-trial check fails it after the grace period."""

    reconnect_seconds: float = RECONNECT_SECONDS

    def _already_set(self, trial_id: int, state: optuna.trial.TrialState, values: Any = None) -> bool:
        return RDBStorage.get_trial(self, trial_id).state == state

    for _name in (
        "create_new_study",
        "delete_study",
        "set_study_user_attr",
        "set_study_system_attr",
        "get_study_id_from_name",
        "get_study_name_from_id",
        "get_study_directions",
        "get_study_user_attrs",
        "get_study_system_attrs",
        "get_all_studies",
        "create_new_trial",
        "_create_new_trial",
        "set_trial_param",
        "_set_trial_param",
        "get_trial_param",
        "set_trial_state_values",
        "set_trial_intermediate_value",
        "set_trial_user_attr",
        "set_trial_system_attr",
        "get_trial_id_from_study_id_trial_number",
        "get_trial",
        "get_all_trials",
        "_get_trials",
        "get_best_trial",
        "_get_best_trial_id",
        "record_heartbeat",
    ):
        locals()[_name] = _retrying(_name)
    del _name
    _get_stale_trial_ids = _retrying("_get_stale_trial_ids", _stale_or_orphaned)
