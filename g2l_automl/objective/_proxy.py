"""A cheap deterministic stand-in for candidate training, for fast sampler comparisons and overhead checks."""

from __future__ import annotations

import math

import numpy as np
import optuna

from g2l_automl.spaces import SearchSpace, check_encoding
from g2l_automl.structure import StructureSpec


class ProxyObjective:
    """Scores a structure's dilations against a hidden target structure (no training; microseconds a call).

    ``value = 100 - 10 * mean_l |log2 d_l - log2 t_l| - 5 * mean_s |log2 RF_s - log2 RF*_s|``: each layer is
    rewarded for its own dilation and each stage for its receptive field, so genes interact the way dilations do
    in a real network (a too-small layer can be made up for by its neighbours). The target draws every layer's
    dilation uniformly from the space's candidates with ``seed``; the maximum, 100, is reachable.

    Args:
        space: the search space (its dilation genes are scored).
        seed: seed of the hidden target.
        encoding: ``categorical`` or ``index`` (see :meth:`SearchSpace.suggest`).

    Example:
        >>> from g2l_automl.spaces import Dilations
        >>> space = SearchSpace(StructureSpec.mstcn(1, 4), [Dilations(k=2, T=5)])
        >>> objective = ProxyObjective(space, seed=0)
        >>> objective.score(objective.target)
        100.0
        >>> objective.score(space.base) < 100
        True
    """

    def __init__(self, space: SearchSpace, seed: int = 0, encoding: str = "categorical") -> None:
        self.space, self.encoding = space, check_encoding(encoding)
        # a PCG64 stream: the samplers' RandomState(seed) must not be able to draw the target by coincidence
        rng = np.random.default_rng(seed)
        params = {g.name: g.choices[int(rng.integers(len(g.choices)))] for g in space.genes}
        self.target: StructureSpec = space.to_structure(params)

    def score(self, spec: StructureSpec) -> float:
        layer_gap, stage_gap = [], []
        for s, (ours, theirs) in enumerate(zip(spec.dilations(), self.target.dilations(), strict=True)):
            layer_gap += [abs(math.log2(a) - math.log2(b)) for a, b in zip(ours, theirs, strict=False)]
            stage_gap.append(abs(math.log2(spec.receptive_field(s)) - math.log2(self.target.receptive_field(s))))
        return 100.0 - 10.0 * float(np.mean(layer_gap)) - 5.0 * float(np.mean(stage_gap))

    #: What :class:`SegmentationObjective` calls its objective names: one value, higher is better.
    metrics: tuple[str, ...] = ("proxy",)

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.space.suggest(trial, self.encoding)
        trial.set_user_attr("structure", spec.to_dict())
        return self.score(spec)
