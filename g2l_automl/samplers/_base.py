"""What both genetic samplers share: the genome search space, the fallback sampler and the random state."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from g2l_automl.samplers._genome import Genome
from g2l_automl.spaces import SearchSpace

_SUPPORTED = (CategoricalDistribution, IntDistribution, FloatDistribution)


class _GenomeSamplerMixin:
    """Relative sampling over a genome; parameters outside it go to ``independent_sampler``."""

    def _init_genome(self, space: SearchSpace | None, seed: int | None, independent: BaseSampler | None) -> None:
        if space is not None and not isinstance(space, SearchSpace):
            raise TypeError(f"space: expected a g2l_automl.spaces.SearchSpace or None, got {type(space).__name__}")
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

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: list[float] | None) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)


def check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)
