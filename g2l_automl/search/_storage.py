"""Open the storage of a study made with ``optuna create-study``."""

from __future__ import annotations

import os

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from g2l_automl.errors import G2LError


def open_storage(url: str) -> BaseStorage:
    """An RDB URL (``sqlite:///x.db``, ``postgresql://...``) or the path of a journal file (JournalFileBackend,
    the choice for several workers on one host)."""
    if "://" not in url:
        if not os.path.isfile(url):
            raise G2LError(
                f"storage: {url!r} is neither a database URL nor an existing journal file; create the study with "
                f"optuna create-study --storage {url} --storage-class JournalFileBackend ..."
            )
        return JournalStorage(JournalFileBackend(url))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    try:
        return RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as exc:  # SQLAlchemy / driver errors: bad URL, server down, missing driver
        raise G2LError(f"storage: cannot open {url!r}: {exc}") from None


def load_study(
    storage_url: str,
    study_name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Load an existing study; a missing one gives the ``optuna create-study`` command that makes it."""
    storage = open_storage(storage_url)
    try:
        return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        extra = " --storage-class JournalFileBackend" if "://" not in storage_url else ""
        raise G2LError(
            f"study {study_name!r} does not exist in {storage_url}; create it first with:\n"
            f"  optuna create-study --storage {storage_url}{extra} --study-name {study_name} --direction maximize"
        ) from None
