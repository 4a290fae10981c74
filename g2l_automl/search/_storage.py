"""Open the storage of a study made with ``optuna create-study``."""

from __future__ import annotations

import os
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from g2l_automl.errors import G2LError


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
        return JournalStorage(JournalFileBackend(url))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
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
            return RDBStorage(url, engine_kwargs=engine_kwargs, **beats)
    except Exception as exc:  # SQLAlchemy / driver errors: bad URL, server down, missing driver
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise G2LError(f"storage: cannot open {url!r}: {first}") from None


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
        raise G2LError(
            f"study {study_name!r} does not exist in {storage_url}; create it first with:\n"
            f"  optuna create-study --storage {storage_url}{extra} --study-name {study_name} --direction maximize"
        ) from None
