"""An incremental, in-process index of a study's trials by generation, and the set of genomes the study has
seen, so a genetic sampler's decisions cost the same at 5,000 trials as at 100.

Storage stays the only source of truth: each update re-reads the trial list (cached by Optuna) but looks only at
trials it has not filed yet and at those that were unfinished last time; a finished trial never changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


class GenerationIndex:
    """Scored and RUNNING trials of each generation (``key``: the generation's system attr; None: every trial
    in generation 0), and parents per generation memoised until a late trial of an older generation is scored.
    Scored are the COMPLETE trials and, with ``pruned=True``, the PRUNED ones that reported a value (population
    members with a fidelity-discounted fitness, ranked after the COMPLETE ones: see ``sort_best_first``).
    ``scored`` lists only grow: a finished trial is filed once and never changes.

    Whatever their generation (or none), ``finished`` lists every finished trial in filing order (it only grows
    until the index is rebuilt, which bumps ``rebuilds``) and ``unfinished`` the RUNNING and WAITING ones as of
    the last update: what :class:`SeenGenomes` reads."""

    def __init__(self, key: str | None, pruned: bool = False) -> None:
        self.key = key
        self.pruned = pruned
        self._lock = threading.RLock()
        self.rebuilds = -1
        self._reset(None)

    def _reset(self, study_id: int | None) -> None:
        self.rebuilds += 1
        self._study_id = study_id
        self._seen = 0
        self._open: dict[int, int | None] = {}  # unfinished when last read: number -> generation it was filed in
        self.scored: dict[int, list[FrozenTrial]] = {}
        self.running: dict[int, list[FrozenTrial]] = {}
        self.members: dict[int, list[FrozenTrial]] = {}  # every trial with a generation, any state
        self.finished: list[FrozenTrial] = []  # every finished trial, with or without a generation
        self.unfinished: list[FrozenTrial] = []  # RUNNING and WAITING trials at the last update
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
            self._open, self.running, self.unfinished = {}, {}, []  # every unfinished trial is filed again below
            for n in numbers:
                self._file(trials[n])

    def _file(self, t: FrozenTrial) -> None:
        g = 0 if self.key is None else t.system_attrs.get(self.key)
        if t.state in _UNFINISHED:
            self._open[t.number] = g
            self.unfinished.append(t)
        else:
            self.finished.append(t)
        if g is None:
            return
        self.members.setdefault(g, []).append(t)
        if t.state == TrialState.COMPLETE or (self.pruned and t.state == TrialState.PRUNED and t.intermediate_values):
            self.scored.setdefault(g, []).append(t)
        elif t.state == TrialState.RUNNING:
            self.running.setdefault(g, []).append(t)

    def next_generation(self, population_size: int) -> int:
        """``BaseGASampler``'s rule: the latest generation with a scored trial, or the next one once it holds
        ``population_size`` scored trials."""
        latest = max((g for g, ts in self.scored.items() if ts), default=0)
        return latest if len(self.scored.get(latest, ())) < population_size else latest + 1

    def parents(
        self, generation: int, survivors: Callable[[list[FrozenTrial]], list[FrozenTrial]]
    ) -> list[FrozenTrial]:
        """Parents of ``generation``: ``survivors`` of the previous generation and its parents, iterated from
        generation 1; a memoised generation is reused while no older generation gained a scored trial."""
        with self._lock:
            parents: list[FrozenTrial] = []
            below = 0  # scored trials in generations < g
            for g in range(1, generation + 1):
                below += len(self.scored.get(g - 1, ()))
                memo = self._parents.get(g)
                if memo is not None and memo[0] == below:
                    parents = memo[1]
                    continue
                pool = {t._trial_id: t for t in parents + self.scored.get(g - 1, [])}
                parents = survivors(list(pool.values()))
                self._parents[g] = (below, parents)
            return parents


#: Finished states whose genome counts as evaluated (a FAIL trial's does not: see :class:`SeenGenomes`).
SEEN_STATES: tuple[TrialState, ...] = (TrialState.COMPLETE, TrialState.PRUNED)


class SeenGenomes:
    """The genome keys a genetic sampler must not draw again, and the lock that makes check-and-record atomic
    among the threads of one process.

    Seen are the genomes of COMPLETE and PRUNED trials (a pruned genome was trained and judged; a new trial of
    it would most likely be pruned again), of RUNNING and WAITING trials (their ``params``, or for an enqueued
    trial its ``fixed_params``), and those this process drew for trials still unfinished (their params reach
    storage only when the objective suggests them). FAIL trials do not count: a crash says nothing about the
    genome, and a failed trial may be retried through ``enqueue_trial`` (e.g. Optuna's heartbeat
    ``RetryFailedTrialCallback``), which the sampler does not draw. Trials without params (refined structures)
    count as nothing.

    The finished keys live in a set that grows from :attr:`GenerationIndex.finished` (each finished trial is
    keyed once); the unfinished keys are rebuilt at each :meth:`refresh` (as many as workers and queued trials).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._source: tuple[Any, int] | None = None  # (genome the keys belong to, index rebuilds)
        self._counted = 0  # index.finished entries already keyed
        self._finished: set[tuple[Any, ...]] = set()
        self._open: set[tuple[Any, ...]] = set()
        self._drawn: dict[int, tuple[Any, ...]] = {}  # trial id -> key this process drew for it

    def refresh(
        self, index: GenerationIndex, genome: Any, key: Callable[[dict[str, Any]], tuple[Any, ...]], trial: FrozenTrial
    ) -> None:
        """Catch up with ``index`` (already updated) for a draw for ``trial``; ``key`` maps params to a genome
        key (:meth:`~g2l_automl.samplers.Genome.params_key` of ``genome``)."""
        with self.lock, index._lock:
            if self._source is None or self._source[0] is not genome or self._source[1] != index.rebuilds:
                self._source, self._counted, self._finished = (genome, index.rebuilds), 0, set()
            for t in index.finished[self._counted :]:
                # a drawn trial leaves `_drawn` only once the index has seen it finish: an index read before
                # another thread created its trial must not drop what that thread drew
                self._drawn.pop(t._trial_id, None)
                if t.state in SEEN_STATES and t.params:
                    self._finished.add(key(t.params))
            self._counted = len(index.finished)
            self._drawn.pop(trial._trial_id, None)  # drawn anew now
            self._open = set(self._drawn.values())
            for t in index.unfinished:
                params = {**t.system_attrs.get("fixed_params", {}), **t.params}
                if params and t.number != trial.number:
                    self._open.add(key(params))

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        return key in self._finished or key in self._open

    def record(self, trial: FrozenTrial, key: tuple[Any, ...]) -> None:
        """``trial`` will evaluate the genome ``key``: no other draw may repeat it while it runs."""
        with self.lock:
            self._drawn[trial._trial_id] = key
            self._open.add(key)
