"""What both genetic samplers share: the genome search space, the fallback sampler, the random state and the
rule that a child never repeats a genome the study has already evaluated or is evaluating."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from g2l_automl._checks import check_int
from g2l_automl.samplers._generations import GenerationIndex, SeenGenomes
from g2l_automl.samplers._genome import Genome
from g2l_automl.spaces import SearchSpace

_SUPPORTED = (CategoricalDistribution, IntDistribution, FloatDistribution)

#: Random genomes tried, once the ordinary and the heavier variation found nothing new, before a duplicate is
#: accepted: 200 misses in a row mean that (with 95% confidence) under 1.5% of the space is still unseen.
RANDOM_TRIES = 200


class _GenomeSamplerMixin:
    """Relative sampling over a genome; parameters outside it go to ``independent_sampler``."""

    max_retries: int

    def _init_genome(
        self, space: SearchSpace | None, seed: int | None, independent: BaseSampler | None, max_retries: int
    ) -> None:
        if space is not None and not isinstance(space, SearchSpace):
            raise TypeError(f"space: expected a g2l_automl.spaces.SearchSpace or None, got {type(space).__name__}")
        self.max_retries = check_int(max_retries, "max_retries", 0)
        self._seen = SeenGenomes()
        self._space = space
        self._rng = np.random.RandomState(seed)
        self._independent_sampler = independent or RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace(include_pruned=True)
        self._genomes: dict[tuple[str, ...], Genome] = {}

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._space is not None:
            return self._space.distributions()
        out = {}
        for name, dist in self._intersection.calculate(study).items():
            if dist.single():
                continue
            if not isinstance(dist, _SUPPORTED):
                raise ValueError(
                    f"{type(self).__name__}: parameter {name!r} has unsupported distribution {type(dist).__name__}"
                )
            out[name] = dist
        return out

    def _genome(self, search_space: dict[str, BaseDistribution]) -> Genome:
        key = tuple(search_space)
        if key not in self._genomes:
            self._genomes[key] = Genome(search_space, self._space)
        return self._genomes[key]

    def _draw_new(
        self,
        trial: FrozenTrial,
        genome: Genome,
        index: GenerationIndex,
        propose: Callable[[], list[Any]],
        vary: Callable[[list[Any], int], list[Any]],
    ) -> list[Any]:
        """A child for ``trial`` whose genome the study has not seen (:class:`SeenGenomes`; ``index`` must be
        up to date), recorded as seen at once so that no other thread of this process draws it too.

        ``propose()`` draws a child by the algorithm's own rule, up to ``1 + max_retries`` times. If every one
        was seen, ``vary(child, k)`` changes ``k`` genes of the last one (``max_retries + 1`` tries for each
        ``k`` = 1, 2, 4, ... up to the genome length): a new genome near what the algorithm asked for. Then up to
        :data:`RANDOM_TRIES` uniformly random genomes. Only when all of these were seen, i.e. the space is
        (nearly) exhausted, is the last proposed child accepted although it repeats a genome. ``max_retries=0``
        turns the rule off: the first proposal is taken. Genes that ``trial`` has enqueued (``fixed_params``)
        override the child's when its key is computed, since those are the values the trial will use.
        """
        fixed = {n: v for n, v in trial.system_attrs.get("fixed_params", {}).items() if n in genome.distributions}

        def key(child: list[Any]) -> tuple[Any, ...]:
            return genome.params_key({**genome.to_params(child), **fixed})

        with self._seen.lock:
            self._seen.refresh(index, genome, genome.params_key, trial)
            child = self._unseen_child(genome, key, propose, vary)
            self._seen.record(trial, key(child))
        return child

    def _unseen_child(
        self,
        genome: Genome,
        key: Callable[[list[Any]], tuple[Any, ...]],
        propose: Callable[[], list[Any]],
        vary: Callable[[list[Any], int], list[Any]],
    ) -> list[Any]:
        seen = self._seen
        child = propose()
        if self.max_retries == 0 or key(child) not in seen:
            return child
        for _ in range(self.max_retries):
            child = propose()
            if key(child) not in seen:
                return child
        n_genes, k = len(genome.names), 1
        while k <= n_genes:
            for _ in range(self.max_retries + 1):
                varied = vary(child, k)
                if key(varied) not in seen:
                    return varied
            k = n_genes + 1 if k == n_genes else min(2 * k, n_genes)
        for _ in range(RANDOM_TRIES):
            varied = genome.random(self._rng)
            if key(varied) not in seen:
                return varied
        return child  # the space is (nearly) exhausted: a repeat it is

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: list[float] | None) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)
