"""Open the storage of a study made with ``optuna create-study``."""

from __future__ import annotations

import os
import re
import warnings
from typing import Any
from urllib.parse import unquote

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from g2l_automl.errors import G2LError

_MASK = "***"


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
        raise G2LError(hide_password(f"storage: cannot open {display_url(url)!r}: {first}", url)) from None


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
