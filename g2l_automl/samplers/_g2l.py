"""G2L's genetic global search (Alg. 1) as an Optuna sampler on :class:`optuna.samplers.BaseGASampler`."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseGASampler, BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from g2l_automl._checks import check_choice, check_int, check_real
from g2l_automl.errors import ParameterError
from g2l_automl.samplers._base import _GenomeSamplerMixin
from g2l_automl.samplers._generations import GenerationIndex
from g2l_automl.samplers._genome import Genome, two_anchor_crossover
from g2l_automl.samplers._ranking import SELECTION_MODES, selection_probabilities, sort_best_first
from g2l_automl.spaces import SearchSpace


class G2LGeneticSampler(_GenomeSamplerMixin, BaseGASampler):
    """Genetic global search of Global2Local (CVPR 2021, Sec. 3.2, Alg. 1).

    Generation 0 is random (plus any enqueued trials, e.g. MS-TCN's hand-designed ``2**i`` dilations). Each later
    child comes from two distinct parents picked by ``selection``, a two-anchor segment crossover over the
    layer-ordered genome, and with probability ``mutation_prob`` one gene changed uniformly over its other
    candidates. The parents of generation ``g`` are the top ``population_size`` of generation ``g - 1`` and its
    parents (elitist survival), so the best structure is never lost.

    Selection (:func:`~g2l_automl.samplers.selection_probabilities`): ``"tournament"`` (default: the best of
    ``tournament_size`` members drawn with replacement), ``"rank"`` (Baker's linear ranking with
    ``selection_pressure`` in [1, 2]), ``"roulette-window"`` (fitness minus the generation's worst, plus 1 % of
    the spread) and ``"roulette"`` (the paper's Eq. 3 as printed, shifted for negative or minimised fitness). The
    first three behave the same for any sign, scale and direction of the fitness; Eq. 3 on fitness in 55..90 is
    almost uniform. The default, tournaments of 8, was the best measured on both proxy landscapes of
    ``benchmarks/compare_samplers.py`` (README, RESULTS.md). The first parent is drawn by these probabilities, the
    second by them among the other members (uniformly among the others when none of them has a chance), so the
    two are distinct trials whenever the population has two or more.

    All state lives in the study's storage (each trial's generation as a system attr; the parent ids of each
    generation are recomputed from storage, so late-finishing trials still compete), hence any number of workers
    can share one study. FAIL trials belong to no population; PRUNED ones do, ranked last (see
    ``pruned_in_population``). Multi-objective studies rank by Pareto
    front then crowding distance (the order that ``rank`` and ``tournament`` use); the roulettes weigh fronts.

    No genome is trained twice (an addition to Alg. 1, whose converged populations keep breeding copies of the
    elite): a child whose genome (its active genes) a COMPLETE, PRUNED, RUNNING or WAITING trial of the study
    already has, or that this process drew for an unfinished trial, is redrawn by crossover and mutation up to
    ``max_retries`` times, then varied in 1, 2, 4, ... mutated genes, then replaced by a random unseen genome;
    only when all of that finds nothing new (the space is nearly exhausted) is the repeat accepted. FAIL trials
    do not count (a crash says nothing about the genome; heartbeat retries re-enqueue it). Enqueued trials
    are the user's and are never changed. The seen set grows incrementally, so a lookup stays O(1).

    Args:
        space: the :class:`~g2l_automl.spaces.SearchSpace` whose genes form the genome (recommended); without it
            the genome is every parameter the finished trials share, in natural name order.
        population_size: M (paper: 50).
        mutation_prob: p_m (paper: 0.2).
        seed: seed of the sampler's random state (and of the default independent sampler).
        independent_sampler: samples parameters outside the genome (default: ``RandomSampler(seed)``).
        max_retries: redraws by crossover and mutation of a child that repeats a seen genome (and tries per
            heavier variation); 0 turns the duplicate rule off.
        selection: ``tournament``, ``rank``, ``roulette-window`` or ``roulette`` (Eq. 3).
        selection_pressure: ``rank``'s s in [1, 2]: the best is picked s times as often as the median member.
        tournament_size: ``tournament``'s k >= 1 (k = 1 is uniform selection).
        pruned_in_population: a PRUNED trial (one that reported a value before a pruner stopped it) is a member
            of its generation with a fidelity-discounted fitness: the worst COMPLETE value of the pool it competes
            in, ranked after every COMPLETE trial (deeper-pruned first, then by its last reported value). So a
            generation fills with the candidates it tried, not only the few that survive pruning, and the genes
            of a pruned candidate can still pass on. False: only COMPLETE trials count (Alg. 1 without pruning).

    Example:
        >>> import optuna
        >>> from g2l_automl.spaces import Dilations, SearchSpace
        >>> from g2l_automl.structure import StructureSpec
        >>> space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=4), [Dilations(k=2, T=5)])
        >>> def objective(trial):
        ...     spec = space.suggest(trial)
        ...     return -abs(spec.receptive_field(0) - 40)
        >>> sampler = G2LGeneticSampler(space, population_size=6, seed=0)
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)
        >>> study.enqueue_trial(space.to_params(space.base))  # seed generation 0 with MS-TCN's 2**i
        >>> study.optimize(objective, n_trials=30)
        >>> study.best_value > -10
        True
    """

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        population_size: int = 50,
        mutation_prob: float = 0.2,
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        max_retries: int = 20,
        selection: str = "tournament",
        selection_pressure: float = 1.5,
        tournament_size: int = 8,
        pruned_in_population: bool = True,
    ) -> None:
        super().__init__(check_int(population_size, "population_size", 2))
        self.mutation_prob = check_real(mutation_prob, "mutation_prob", 0.0, 1.0)
        self.selection = check_choice(selection, "selection", SELECTION_MODES)
        self.selection_pressure = check_real(selection_pressure, "selection_pressure", 1.0, 2.0)
        self.tournament_size = check_int(tournament_size, "tournament_size", 1)
        self._init_genome(space, seed, independent_sampler, max_retries)
        if not isinstance(pruned_in_population, bool):
            raise ParameterError(f"pruned_in_population: must be true or false, got {pruned_in_population!r}")
        self.pruned_in_population = pruned_in_population
        self._generations = GenerationIndex(self._get_generation_key(), pruned=pruned_in_population)
        self._written: dict[str, list[int]] = {}  # parent ids this process last wrote per generation

    # -- populations ---------------------------------------------------------------------------------------
    def _index(self, study: Study) -> GenerationIndex:
        self._generations.update(study)
        return self._generations

    def get_trial_generation(self, study: Study, trial: FrozenTrial) -> int:
        """The trial's generation, assigned at first use by ``BaseGASampler``'s rule (see
        :meth:`next_generation`) from the incremental index instead of a scan of every trial."""
        generation = trial.system_attrs.get(self._get_generation_key())
        if generation is not None:
            return generation
        generation = self.next_generation(study)
        study._storage.set_trial_system_attr(trial._trial_id, self._get_generation_key(), generation)
        return generation

    def select_parent(self, study: Study, generation: int) -> list[FrozenTrial]:
        """Top ``population_size`` of the previous generation and its parents (Alg. 1's survival step), iterated
        from generation 1; a generation's parents are memoised until a late trial of an older one completes."""
        return self._index(study).parents(generation, lambda pool: sort_best_first(study, pool)[: self.population_size])

    def get_parent_population(self, study: Study, generation: int) -> list[FrozenTrial]:
        """Recomputed from storage on every call (the base class caches the first writer's view, which misses
        trials that finish later); the ids are still written to the study's system attrs for inspection."""
        if generation == 0:
            return []
        parents = self.select_parent(study, generation)
        cache_key = self._get_parent_cache_key_prefix() + str(generation)
        ids = [t._trial_id for t in parents]
        if self._written.get(cache_key) != ids:
            study._storage.set_study_system_attr(study._study_id, cache_key, ids)
            self._written[cache_key] = ids
        return parents

    def next_generation(self, study: Study) -> int:
        """The generation a trial created now joins: the latest generation with a scored trial (COMPLETE, or
        PRUNED with ``pruned_in_population``), or the next one once it holds ``population_size`` of them
        (``BaseGASampler``'s rule)."""
        return self._index(study).next_generation(self.population_size)

    def open_slots(self, study: Study) -> int:
        """How many trials can start now without overshooting the generation a new trial would join: M minus
        that generation's scored and RUNNING members (what a front end that can defer work, such as the NNI
        tuner, waits on)."""
        index = self._index(study)
        target = index.next_generation(self.population_size)
        taken = len(index.scored.get(target, ())) + len(index.running.get(target, ()))
        return max(self.population_size - taken, 0)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # Assign the generation now: a trial whose parameters are all enqueued never calls sample_relative.
        self.get_trial_generation(study, trial)
        super().before_trial(study, trial)

    # -- sampling ------------------------------------------------------------------------------------------
    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        genome = self._genome(search_space)
        generation = self.get_trial_generation(study, trial)
        parents = self.get_parent_population(study, generation)

        def propose() -> list[Any]:
            return self._child(study, genome, parents) if parents else genome.random(self._rng)

        child = self._draw_new(trial, genome, self._index(study), propose, lambda c, k: self._vary(genome, c, k))
        return genome.to_params(child)

    def _vary(self, genome: Genome, child: list[Any], k: int) -> list[Any]:
        """``child`` with ``k`` of its active genes (all of them if fewer) mutated: the heavier variation of a
        child that repeats a seen genome."""
        active = genome.active_indices(child)
        for index in self._rng.choice(active, size=min(k, len(active)), replace=False) if active else ():
            child = genome.mutate(child, int(index), self._rng)
        return child

    def parent_probabilities(self, study: Study, parents: list[FrozenTrial]) -> Any:
        """Each parent's chance to be picked first (the sampler's ``selection`` mode)."""
        return selection_probabilities(
            study,
            parents,
            self.selection,
            selection_pressure=self.selection_pressure,
            tournament_size=self.tournament_size,
        )

    def _pick_pair(self, p: Any) -> tuple[int, int]:
        """Two distinct parents when there are two or more: the first by ``p``, the second by ``p`` among the
        others (uniformly among them when none of the others has a chance)."""
        n = len(p)
        first = int(self._rng.choice(n, p=p))
        if n < 2:
            return first, first
        rest = np.array(p, dtype=float)
        rest[first] = 0.0
        if rest.sum() <= 0:
            rest = np.ones(n)
            rest[first] = 0.0
        return first, int(self._rng.choice(n, p=rest / rest.sum()))

    def _child(self, study: Study, genome: Genome, parents: list[FrozenTrial]) -> list[Any]:
        i, j = self._pick_pair(self.parent_probabilities(study, parents))
        a, b = genome.from_trial(parents[i], self._rng), genome.from_trial(parents[j], self._rng)
        children = two_anchor_crossover(a, b, self._rng)
        child = children[self._rng.randint(2)]
        if self._rng.rand() < self.mutation_prob:
            candidates = genome.active_indices(child)
            if candidates:
                child = genome.mutate(child, candidates[self._rng.randint(len(candidates))], self._rng)
        return child
