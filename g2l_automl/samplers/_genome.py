"""Genomes: the ordered genes a genetic sampler works on, and the crossover and mutation operators on them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial

from g2l_automl.spaces import SearchSpace


def _natural_key(name: str) -> list[Any]:
    """``stage0.layer10`` sorts after ``stage0.layer9``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def random_value(distribution: BaseDistribution, rng: np.random.RandomState) -> Any:
    """A uniform draw (log-uniform for ``log=True``) from any Optuna distribution, in external representation."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[rng.randint(len(distribution.choices))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            value = math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high + 1)))
            return int(min(max(math.floor(value), distribution.low), distribution.high))
        n = (distribution.high - distribution.low) // distribution.step
        return int(distribution.low + distribution.step * rng.randint(n + 1))
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            return float(math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high))))
        if distribution.step is not None:
            n = int(round((distribution.high - distribution.low) / distribution.step))
            return float(min(distribution.low + distribution.step * rng.randint(n + 1), distribution.high))
        return float(rng.uniform(distribution.low, distribution.high))
    raise TypeError(
        f"unsupported distribution {type(distribution).__name__}: genetic samplers handle Categorical, Int and "
        "Float distributions"
    )


def mutate_value(distribution: BaseDistribution, current: Any, rng: np.random.RandomState) -> Any:
    """A value drawn uniformly over the candidates other than ``current`` (for a categorical gene), or a fresh
    uniform draw that differs from ``current`` when the range allows it."""
    if isinstance(distribution, CategoricalDistribution):
        others = [c for c in distribution.choices if c != current]
        return others[rng.randint(len(others))] if others else current
    for _ in range(16):
        value = random_value(distribution, rng)
        if value != current:
            return value
    return value


def two_anchor_crossover(a: Sequence[Any], b: Sequence[Any], rng: np.random.RandomState) -> tuple[list[Any], list[Any]]:
    """G2L's segment crossover: two random anchors ``i < j`` and the genes in ``[i, j)`` are exchanged.

    The anchors never span the whole genome, so both children mix both parents when the genome has two or more
    genes. Returns the two children.
    """
    n = len(a)
    if n != len(b):
        raise ValueError(f"two_anchor_crossover: genomes of different lengths {n} and {len(b)}")
    if n < 2:
        return list(a), list(b)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n + 1) if (i, j) != (0, n)]
    i, j = pairs[rng.randint(len(pairs))]
    return list(a[:i]) + list(b[i:j]) + list(a[j:]), list(b[:i]) + list(a[i:j]) + list(b[j:])


class Genome:
    """The gene order and distributions for one search space.

    With a :class:`~g2l_automl.spaces.SearchSpace` the genome is the space's layer-ordered genes and structural
    knowledge (active genes, op and depth genes) is used; otherwise it is the study's search space in natural name
    order (``layer2`` before ``layer10``).
    """

    def __init__(self, search_space: Mapping[str, BaseDistribution], space: SearchSpace | None = None) -> None:
        for name, dist in search_space.items():
            if not isinstance(dist, (CategoricalDistribution, IntDistribution, FloatDistribution)):
                raise TypeError(f"{name}: unsupported distribution {type(dist).__name__}")
        if space is not None:
            self.names = [n for n in space.names if n in search_space]
        else:
            self.names = sorted(search_space, key=_natural_key)
        self.distributions = dict(search_space)
        self.space = space
        self._defaults = space.defaults() if space is not None else {}

    def random(self, rng: np.random.RandomState) -> list[Any]:
        return [random_value(self.distributions[n], rng) for n in self.names]

    def from_params(self, params: Mapping[str, Any], rng: np.random.RandomState) -> list[Any]:
        """A trial's genome; genes it did not use (inactive or conditional) take the space's template value or a
        random draw."""
        out = []
        for name in self.names:
            dist = self.distributions[name]
            if name in params and dist._contains(dist.to_internal_repr(params[name])):
                out.append(params[name])
            elif name in self._defaults:
                out.append(self._defaults[name])
            else:
                out.append(random_value(dist, rng))
        return out

    def from_trial(self, trial: FrozenTrial, rng: np.random.RandomState) -> list[Any]:
        return self.from_params(trial.params, rng)

    def key(self, genome: Sequence[Any]) -> tuple[Any, ...]:
        """What identifies a structure: the active genes only (inactive genes do not change the model)."""
        return self.params_key(self.to_params(genome))

    def params_key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """:meth:`key` of a trial's params (genes it did not use count as absent)."""
        if self.space is None:
            return tuple(params.get(n) for n in self.names)
        values = {n: params.get(n, self._defaults.get(n, self.space.gene(n).choices[0])) for n in self.space.names}
        return tuple(params.get(n) for n in self.space.active_names(values) if n in self.distributions)

    def active_indices(self, genome: Sequence[Any], fields: Sequence[str] | None = None) -> list[int]:
        """Indices of the genes that matter for ``genome`` (optionally only genes of the given fields)."""
        if self.space is None:
            return list(range(len(self.names))) if fields is None else []
        values = dict(zip(self.names, genome, strict=True))
        active = set(self.space.active_names(values))
        return [
            k
            for k, n in enumerate(self.names)
            if n in active and (fields is None or self.space.gene(n).field in fields)
        ]

    def mutate(self, genome: list[Any], index: int, rng: np.random.RandomState) -> list[Any]:
        child = list(genome)
        child[index] = mutate_value(self.distributions[self.names[index]], child[index], rng)
        return child

    def to_params(self, genome: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.names, genome, strict=True))
