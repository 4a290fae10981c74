"""EvaNet's steady-state tournament evolution (Alg. 1, appendix B) as an asynchronous Optuna sampler."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from g2l_automl._checks import check_choice, check_int
from g2l_automl.errors import ParameterError
from g2l_automl.samplers._base import _GenomeSamplerMixin
from g2l_automl.samplers._generations import GenerationIndex
from g2l_automl.samplers._genome import Genome
from g2l_automl.samplers._ranking import sort_best_first
from g2l_automl.spaces import SearchSpace

#: Mutation operators: change a gene's value (dilation, width), change the op type of a layer or of a module's
#: branch (EvaNet's (i); for a pooling branch max <-> avg), change a temporal kernel length of a layer, branch or
#: pooling branch ((ii)), add or remove a layer of a stage or a convolution or pooling branch of a module ((iii)).
OPERATORS: tuple[str, ...] = ("value", "op", "length", "depth")
#: The gene fields each operator changes (with a search space).
OPERATOR_FIELDS: dict[str, tuple[str, ...]] = {
    "value": ("dilation", "dilation2", "channels"),
    "op": ("op", "pool_op"),
    "length": ("kernel_size", "pool_kernel_size"),
    "depth": ("num_layers", "num_branches", "num_pools"),
}
#: Count gene field of a module -> the gene name prefix of its branch slots.
_BRANCH_SLOTS = {"num_branches": "branch", "num_pools": "pool"}


def mutation_count(round_: int, max_mutations: int, anneal_rounds: int) -> int:
    """EvaNet's annealed number of mutations ``max(ceil(d - i / r), 1)`` at evolution round ``i``.

    Example:
        >>> [mutation_count(i, 7, 100) for i in (0, 1, 100, 599, 600, 5000)]
        [7, 7, 6, 2, 1, 1]
    """
    return max(math.ceil(max_mutations - round_ / anneal_rounds), 1)


class EvolutionSampler(_GenomeSamplerMixin, BaseSampler):
    """Tournament evolution of EvaNet (Piergiovanni et al., ICCV 2019, Sec. 4.2).

    The first ``population_size`` trials are random (enqueued trials count among them). After that every trial
    draws ``sample_size`` members of the population, takes the fittest as parent and applies
    ``max(ceil(d - i/r), 1)`` random mutations, ``i`` being the evolution round (trials since the initial
    population). The population is the ``population_size`` fittest finished trials (``removal="worst"``, the
    paper's rule) or the most recently finished ones (``removal="oldest"``, regularised evolution).

    With a :class:`~g2l_automl.spaces.SearchSpace`, a mutation is one of EvaNet's operators (Sec. 4.2, Fig. 5)
    plus a plain value change: ``value`` changes an active dilation or width gene; ``op`` (i) the op type of a
    layer (:class:`~g2l_automl.spaces.Ops`) or of a module branch (:class:`~g2l_automl.spaces.Modules`);
    ``length`` (ii) the temporal kernel length of a layer (:class:`~g2l_automl.spaces.Kernels`), branch or
    pooling branch; ``depth`` (iii) adds or removes a layer of a stage (:class:`~g2l_automl.spaces.Depths`, one
    candidate step) or a convolution or pooling branch of a module (``num_branches`` / ``num_pools`` +- 1 within
    their candidates; a removed branch is any of them, the others keep their genes). Module rules hold in every
    child: a module's convolution and pooling counts stay within ``Modules``' bounds (EvaNet's at least two
    convolutions and one pooling: ``min_branches=2, min_pools=1``) and convolution slots only hold convolution
    ops, pooling slots pooling ops. Beyond the paper, ``op`` also switches a pooling branch between max and
    average and ``depth`` adds or removes pooling branches when ``min_pools < max_pools`` (EvaNet's (i) and (iii)
    touch convolutions only; ``min_pools == max_pools`` gives the paper's behaviour).
    The operator is drawn uniformly among those the space allows, then its gene uniformly among the active
    ones. Without a space every mutation is a value change of any gene. The
    sampler keeps no state besides the trials, so any number of asynchronous workers can share a study.
    Multi-objective studies rank by Pareto front then crowding distance.

    No genome is trained twice (an addition to Alg. 1, whose single-mutation children of a converged population
    often land on a trial already run): a child whose genome (its active genes) a COMPLETE, PRUNED, RUNNING or
    WAITING trial of the study already has, or that this process drew for an unfinished trial, is redrawn by a
    new tournament and ``mutation_count`` mutations up to ``max_retries`` times, then given 1, 2, 4, ... more
    mutations, then replaced by a random unseen genome; only when all of that finds nothing new (the space is
    nearly exhausted) is the repeat accepted. FAIL trials do not count (a crash says nothing about the genome;
    heartbeat retries re-enqueue it). Enqueued trials are the user's and are never changed.

    Args:
        space: the search space whose genes form the genome (recommended); without it, the parameters all
            finished trials share.
        population_size: P (paper: 100).
        sample_size: S, tournament size (paper: 25).
        max_mutations: d, mutations at round 0 (paper: 7).
        anneal_rounds: r, rounds per one fewer mutation (paper: 100).
        removal: ``"worst"`` or ``"oldest"``: who leaves the population.
        seed: seed of the random state (and of the default independent sampler).
        independent_sampler: samples parameters outside the genome (default: ``RandomSampler(seed)``).
        max_retries: redraws by tournament and mutation of a child that repeats a seen genome (and tries per
            heavier variation); 0 turns the duplicate rule off.

    Example:
        >>> import optuna
        >>> from g2l_automl.spaces import Dilations, SearchSpace
        >>> from g2l_automl.structure import StructureSpec
        >>> space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=4), [Dilations(k=2, T=5)])
        >>> sampler = EvolutionSampler(space, population_size=8, sample_size=3, max_mutations=2, seed=0)
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)
        >>> study.optimize(lambda t: -abs(space.suggest(t).receptive_field(0) - 40), n_trials=30)
        >>> study.best_value > -10
        True
    """

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        population_size: int = 100,
        sample_size: int = 25,
        max_mutations: int = 7,
        anneal_rounds: int = 100,
        removal: str = "worst",
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        max_retries: int = 20,
    ) -> None:
        self.population_size = check_int(population_size, "population_size", 1)
        self.sample_size = check_int(sample_size, "sample_size", 1)
        if self.sample_size > self.population_size:
            raise ParameterError(f"sample_size: {sample_size} is larger than population_size {population_size}")
        self.max_mutations = check_int(max_mutations, "max_mutations", 1)
        self.anneal_rounds = check_int(anneal_rounds, "anneal_rounds", 1)
        self.removal = check_choice(removal, "removal", ("worst", "oldest"))
        self._init_genome(space, seed, independent_sampler, max_retries)
        self._trials = GenerationIndex(None)
        self._population: tuple[int, list[FrozenTrial]] = (0, [])  # (COMPLETE trials merged, population)

    def population(self, study: Study) -> list[FrozenTrial]:
        """The current population (fittest first for ``worst``, newest first for ``oldest``), merged from the
        previous one and the trials completed since, so its cost does not grow with the study."""
        self._trials.update(study)
        return self._merge_population(study)

    def _merge_population(self, study: Study) -> list[FrozenTrial]:
        complete = self._trials.scored.get(0, [])
        seen, population = self._population
        if seen > len(complete):  # the index was rebuilt (another study): start over
            seen, population = 0, []
        # trials without parameters (e.g. refined structures added by `g2l-optimize refine`) are not genomes
        pool = population + [t for t in complete[seen:] if t.params]
        if self.removal == "worst":
            population = sort_best_first(study, pool)[: self.population_size]
        else:
            population = sorted(pool, key=lambda t: (t.datetime_complete, t.number), reverse=True)
            population = population[: self.population_size]
        self._population = (len(complete), population)
        return population

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        genome = self._genome(search_space)
        self._trials.update(study)
        population = self._merge_population(study) if trial.number >= self.population_size else []
        mutations = mutation_count(trial.number - self.population_size, self.max_mutations, self.anneal_rounds)

        def propose() -> list[Any]:
            if not population:
                return genome.random(self._rng)
            picks = self._rng.choice(len(population), size=min(self.sample_size, len(population)), replace=False)
            parent = sort_best_first(study, [population[k] for k in picks])[0]
            return self._vary(genome, genome.from_trial(parent, self._rng), mutations)

        return genome.to_params(self._draw_new(trial, genome, self._trials, propose, partial(self._vary, genome)))

    def _vary(self, genome: Genome, child: list[Any], k: int) -> list[Any]:
        """``child`` after ``k`` mutations (:meth:`_mutate`)."""
        for _ in range(k):
            child = self._mutate(genome, child)
        return child

    def _mutate(self, genome: Genome, child: list[Any]) -> list[Any]:
        if genome.space is None:
            by_operator = {"value": genome.active_indices(child)}
        else:
            # a gene with one candidate cannot change: leave it out so the operator draw stays meaningful
            by_operator = {
                name: [k for k in genome.active_indices(child, fields) if self._mutable(genome, k)]
                for name, fields in OPERATOR_FIELDS.items()
            }
        operators = [name for name in OPERATORS if by_operator.get(name)]
        if not operators:
            return child
        targets = by_operator[operators[self._rng.randint(len(operators))]]
        index = targets[self._rng.randint(len(targets))]
        if genome.space is not None:
            field = genome.space.gene(genome.names[index]).field
            if field == "num_layers":
                return self._step_depth(genome, child, index)
            if field in _BRANCH_SLOTS:
                return self._step_branches(genome, child, index)
        return genome.mutate(child, index, self._rng)

    @staticmethod
    def _mutable(genome: Genome, index: int) -> bool:
        dist = genome.distributions[genome.names[index]]
        return not dist.single()

    def _step(self, choices: tuple[Any, ...], current: Any) -> Any:
        """A neighbouring candidate of ``current`` (``choices`` sorted ascending), or ``current`` if none."""
        k = choices.index(current)
        steps = [s for s in (-1, 1) if 0 <= k + s < len(choices)]
        return choices[k + steps[self._rng.randint(len(steps))]] if steps else current

    def _step_depth(self, genome: Genome, child: list[Any], index: int) -> list[Any]:
        """Add or remove one layer: move to a neighbouring depth candidate (sorted ascending)."""
        out = list(child)
        out[index] = self._step(genome.space.gene(genome.names[index]).choices, child[index])  # type: ignore[union-attr]
        return out

    def _step_branches(self, genome: Genome, child: list[Any], index: int) -> list[Any]:
        """Add a branch (the next one, with the genes it carries) or remove a random one of a module, among its
        convolution branches (``num_branches``) or its pooling branches (``num_pools``): the branches after it
        move down one slot and it becomes the first inactive slot, so what remains is the module minus that
        branch (branches are averaged; their order does not matter). The count stays within its gene's
        candidates, so a module keeps its rules (e.g. EvaNet's two convolutions and one pooling at least)."""
        space = genome.space
        gene = space.gene(genome.names[index])  # type: ignore[union-attr]
        out = list(child)
        current = child[index]
        out[index] = new = self._step(gene.choices, current)
        if new >= current:
            return out
        prefix = f"stage{gene.stage}.layer{gene.layer}.{_BRANCH_SLOTS[gene.field]}"
        position = {n: k for k, n in enumerate(genome.names)}
        removed = self._rng.randint(current)
        order = list(range(removed)) + list(range(removed + 1, current)) + [removed]
        for field in ("op", "kernel_size"):
            slots = [position.get(f"{prefix}{b}.{field}") for b in range(current)]
            if any(k is None for k in slots):
                continue  # a branch gene outside the genome: keep the plain count step
            values = [child[k] for k in slots]  # type: ignore[index]
            for slot, b in zip(slots, order, strict=True):
                out[slot] = values[b]  # type: ignore[index]
        return out
