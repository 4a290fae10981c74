"""An incremental, in-process index of a study's trials by generation, so a genetic sampler's decisions cost the
same at 5,000 trials as at 100.

Storage stays the only source of truth: each update re-reads the trial list (cached by Optuna) but looks only at
trials it has not filed yet and at those that were unfinished last time; a finished trial never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


class GenerationIndex:
    """COMPLETE and RUNNING trials of each generation (``key``: the generation's system attr; None: every trial
    in generation 0), and parents per generation memoised until a late trial of an older generation completes.
    ``complete`` lists only grow: a COMPLETE trial is filed once and never changes."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self._lock = threading.RLock()
        self._reset(None)

    def _reset(self, study_id: int | None) -> None:
        self._study_id = study_id
        self._seen = 0
        self._open: dict[int, int | None] = {}  # unfinished when last read: number -> generation it was filed in
        self.complete: dict[int, list[FrozenTrial]] = {}
        self.running: dict[int, list[FrozenTrial]] = {}
        self.members: dict[int, list[FrozenTrial]] = {}  # every trial with a generation, any state
        self._parents: dict[int, tuple[int, list[FrozenTrial]]] = {}

    def update(self, study: Study) -> None:
        """Catch up with storage: file new trials and re-read the ones that were unfinished."""
        with self._lock:
            trials = study._get_trials(deepcopy=False, use_cache=False)  # the study-level cache can lag
            if trials and (trials[0].number != 0 or trials[-1].number != len(trials) - 1):
                # a filtered view (e.g. one Hyperband bracket): no positional shortcut, file everything anew
                self._reset(None)
                numbers = range(len(trials))
            else:
                if study._study_id != self._study_id or len(trials) < self._seen:
                    self._reset(study._study_id)
                for n, g in self._open.items():
                    if g is not None:
                        self.members[g] = [t for t in self.members[g] if t.number != n]
                numbers = [*self._open, *range(self._seen, len(trials))]
                self._seen = len(trials)
            self._open, self.running = {}, {}  # every unfinished trial is filed again below
            for n in numbers:
                self._file(trials[n])

    def _file(self, t: FrozenTrial) -> None:
        g = 0 if self.key is None else t.system_attrs.get(self.key)
        if t.state in _UNFINISHED:
            self._open[t.number] = g
        if g is None:
            return
        self.members.setdefault(g, []).append(t)
        if t.state == TrialState.COMPLETE:
            self.complete.setdefault(g, []).append(t)
        elif t.state == TrialState.RUNNING:
            self.running.setdefault(g, []).append(t)

    def next_generation(self, population_size: int) -> int:
        """``BaseGASampler``'s rule: the latest generation with a COMPLETE trial, or the next one once it holds
        ``population_size`` COMPLETE trials."""
        latest = max((g for g, ts in self.complete.items() if ts), default=0)
        return latest if len(self.complete.get(latest, ())) < population_size else latest + 1

    def parents(
        self, generation: int, survivors: Callable[[list[FrozenTrial]], list[FrozenTrial]]
    ) -> list[FrozenTrial]:
        """Parents of ``generation``: ``survivors`` of the previous generation and its parents, iterated from
        generation 1; a memoised generation is reused while no older generation gained a COMPLETE trial."""
        with self._lock:
            parents: list[FrozenTrial] = []
            below = 0  # COMPLETE trials in generations < g
            for g in range(1, generation + 1):
                below += len(self.complete.get(g - 1, ()))
                memo = self._parents.get(g)
                if memo is not None and memo[0] == below:
                    parents = memo[1]
                    continue
                pool = {t._trial_id: t for t in parents + self.complete.get(g - 1, [])}
                parents = survivors(list(pool.values()))
                self._parents[g] = (below, parents)
            return parents
