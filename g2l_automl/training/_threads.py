"""How many CPU threads torch uses: ``--threads N|auto`` for every training command.

Measured on 2 cores (``benchmarks/worker_throughput.py``, RESULTS.md): the candidates are many tiny convolutions,
so a worker gains little from a second thread and loses a lot when several workers each run as many threads as
the host has cores (thread oversubscription: one trial 4.8x slower beside two busy torch processes). The
``auto`` policy therefore gives every worker of a study on one host an equal share of the cores:
``cores // sharers`` (at least 1), re-counted at the start of each trial, where ``cores`` is torch's default count
(the CPUs this process may use, or ``OMP_NUM_THREADS``) and ``sharers`` the study's workers running on this host
or, when other jobs keep the host busier than that, 1 + the load average those jobs add; a command that trains
alone keeps torch's count.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from g2l_automl.errors import G2LError

AUTO = "auto"
MAX_THREADS = 1024


def parse_threads(text: str | int) -> int | str:
    """``auto`` or a positive integer, from the command line.

    Example:
        >>> parse_threads("auto"), parse_threads("2")
        ('auto', 2)
    """
    if isinstance(text, str) and text.strip().lower() == AUTO:
        return AUTO
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise G2LError(f"--threads: must be 'auto' or an integer >= 1, got {text!r}") from None
    if not 1 <= value <= MAX_THREADS:
        raise G2LError(f"--threads: must be 'auto' or an integer from 1 to {MAX_THREADS}, got {value}")
    return value


def host_cores() -> int:
    """The threads torch would use here: its current count, which is its default (the CPUs of the process's
    affinity mask), ``OMP_NUM_THREADS`` when the user set it, or what the embedding program chose."""
    import torch

    return max(1, torch.get_num_threads())


def resolve_threads(threads: int | str | None, workers_on_host: int = 1, cores: int | None = None) -> int:
    """The thread count for ``threads`` (an integer, ``auto`` or None = ``auto``): ``auto`` is ``cores`` (default
    :func:`host_cores`) divided among the ``workers_on_host`` workers training there now, at least 1; for a
    command that trains alone it leaves torch's count as it is.

    Example:
        >>> resolve_threads(3), resolve_threads("auto", workers_on_host=4, cores=8), resolve_threads(None, 9, 2)
        (3, 2, 1)
    """
    if threads is None or threads == AUTO:
        return max(1, (cores or host_cores()) // max(1, workers_on_host))
    return int(threads)


def others_load(own_threads: int) -> float:
    """Runnable threads on the host besides this process's: the 1-minute load average less ``own_threads`` (the
    threads this process trained on), 0 where the platform has no load average."""
    try:
        return max(0.0, os.getloadavg()[0] - own_threads)
    except (AttributeError, OSError):
        return 0.0


def host_share(workers_on_host: int, own_threads: int) -> int:
    """How many ways a search worker divides the cores: the study's workers running on this host, or more when
    other work keeps the host busy (each other runnable thread counts as one more sharer, as a process would).

    Example:
        >>> host_share(3, own_threads=1) >= 3
        True
    """
    return max(1, workers_on_host, 1 + round(others_load(own_threads)))


def set_threads(count: int) -> None:
    """Set torch's intra-op threads (a no-op when already ``count``: setting is not free)."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


@contextlib.contextmanager
def torch_threads(threads: int | str | None, workers_on_host: int = 1) -> Iterator[int]:
    """Run a block on :func:`resolve_threads`'s count of torch threads; the previous count is restored after."""
    import torch

    before = torch.get_num_threads()
    count = resolve_threads(threads, workers_on_host)
    set_threads(count)
    try:
        yield count
    finally:
        set_threads(before)
