"""The protocol between our NNI tuners, assessor and trials: the echoed tuner id, metric defaults, and the
ledger of trial jobs that the assessor shares with the tuner in NNI's dispatcher process.

NNI 3.0 tells the tuner which trial ended by a parameter id from its own job -> parameters table, which is wrong
under trial concurrency > 1 (upstream issue 5726). The assessor, though, sees each job's real intermediate
metrics, in which our trials echo the tuner's id (``_g2l_id``), and is told of the end of a job by its job id
before the tuner is. The ledger carries that exact knowledge from one to the other.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

#: The key our tuners add to every parameter set and our trials echo in every metric dict.
ID_KEY = "_g2l_id"
#: The key of the structure a trial really trained, in every metric dict, as a short line (NNI's web UI shows it
#: as the column "structure (metric)").
STRUCTURE_KEY = "structure"
#: The key of a final result whose trial was stopped (by SIGINT or SIGTERM) before it finished: the signal's name.
STOPPED_KEY = "stopped"


@dataclass
class Ledger:
    """Job id -> tuner id, the jobs the assessor stopped, and the ends not yet read by the tuner."""

    jobs: dict[str, int] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)
    ended: list[tuple[int, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, job: str, g2l_id: int) -> None:
        with self.lock:
            self.jobs[job] = g2l_id

    def stop(self, job: str) -> None:
        with self.lock:
            if job in self.jobs:
                self.stopped.add(self.jobs[job])

    def end(self, job: str, success: bool) -> None:
        with self.lock:
            if job in self.jobs:
                self.ended.append((self.jobs[job], success))

    def take_ended(self) -> list[tuple[int, bool]]:
        """The ends recorded since the last call: ``(tuner id, success)``."""
        with self.lock:
            out, self.ended = self.ended, []
            return out

    def was_stopped(self, g2l_id: int) -> bool:
        with self.lock:
            return g2l_id in self.stopped


_LEDGERS: dict[str, Ledger] = {}
_LOCK = threading.Lock()


def ledger(scope: str | None) -> Ledger:
    """The ledger of one experiment (``scope``: its checkpoint directory; None: the process-wide default)."""
    with _LOCK:
        return _LEDGERS.setdefault(scope or "", Ledger())


def echoed_id(metric: object) -> int | None:
    """The tuner id a trial echoed in a metric dict, if any."""
    if isinstance(metric, dict):
        value = metric.get(ID_KEY)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def default_value(metric: Any) -> tuple[float | None, str]:
    """The number a tuner or assessor uses from a metric (``metric`` or ``metric['default']``), or None and why
    it cannot be used (not a number, NaN/inf, or a trial that reported a failure or being stopped)."""
    if isinstance(metric, dict):
        if metric.get(STOPPED_KEY):
            return None, f"the trial was stopped ({metric[STOPPED_KEY]}) before it finished"
        if metric.get("error"):
            return None, f"the trial failed: {metric['error']}"
        if "default" not in metric:
            return None, f"metric dict without a 'default' key: {sorted(metric)}"
        metric = metric["default"]
    if isinstance(metric, bool) or not isinstance(metric, (int, float)):
        return None, f"metric default is not a number: {metric!r}"
    if not math.isfinite(metric):
        return None, f"metric default is not finite: {metric!r}"
    return float(metric), ""
