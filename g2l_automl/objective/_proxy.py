"""A cheap deterministic stand-in for candidate training, for fast sampler comparisons and overhead checks."""

from __future__ import annotations

import math

import numpy as np
import optuna

from g2l_automl import _attrs as attrs
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

    @property
    def directions(self) -> list[str]:
        """The study direction the value needs."""
        return ["maximize"]

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.space.suggest(trial, self.encoding)
        trial.set_user_attr(attrs.STRUCTURE, spec.to_dict())
        return self.score(spec)


class EpistaticProxyObjective:
    """A second cheap landscape, rugged and epistatic where :class:`ProxyObjective` is smooth and nearly separable:
    Kauffman's NK landscape with K = 1 along each stage's layer chain (no training; microseconds a call).

    Layer ``l`` of stage ``s`` contributes ``c_sl(i_l, i_{l+1})``, a value drawn uniformly from [0, 1) for every
    pair of candidate indices of its own dilation and the next layer's (the last layer of a stage: ``c_sl(i_l)``
    alone), so a layer's best dilation depends on its neighbour's and neither the dilation's size nor its order
    among the candidates means anything. ``value = 100 * sum c / max sum c``: the maximum, 100, is reached by
    :attr:`target`, found exactly by dynamic programming along each chain. Good contiguous runs of layers are
    building blocks, which is the case G2L's segment crossover is made for (uniform crossover breaks them); the
    tables are drawn from ``seed`` alone, not fitted to any sampler.

    Args:
        space: the search space; every layer's dilation gene is scored (a layer without one keeps its template
            value, index 0 of a one-candidate chain link).
        seed: seed of the hidden tables.
        encoding: ``categorical`` or ``index`` (see :meth:`SearchSpace.suggest`).

    Example:
        >>> from g2l_automl.spaces import Dilations
        >>> space = SearchSpace(StructureSpec.mstcn(1, 4), [Dilations(k=2, T=5)])
        >>> objective = EpistaticProxyObjective(space, seed=0)
        >>> objective.score(objective.target)
        100.0
        >>> 0 < objective.score(space.base) < 100
        True
    """

    #: What :class:`SegmentationObjective` calls its objective names: one value, higher is better.
    metrics: tuple[str, ...] = ("proxy",)

    @property
    def directions(self) -> list[str]:
        """The study direction the value needs."""
        return ["maximize"]

    def __init__(self, space: SearchSpace, seed: int = 0, encoding: str = "categorical") -> None:
        self.space, self.encoding = space, check_encoding(encoding)
        rng = np.random.default_rng(seed)
        base = space.base.dilations()
        genes = {(g.stage, g.layer): g.choices for g in space.genes if g.field == "dilation" and g.branch is None}
        #: candidates of every layer of every stage (a layer without a gene: its template dilation)
        self.candidates: list[list[tuple]] = [
            [tuple(genes.get((s, l), (d,))) for l, d in enumerate(stage)] for s, stage in enumerate(base)
        ]
        self.tables: list[list[np.ndarray]] = []
        best_total, target = 0.0, []
        for chain in self.candidates:
            sizes = [len(c) for c in chain]
            tables = [rng.random((sizes[l], sizes[l + 1])) for l in range(len(chain) - 1)] + [rng.random(sizes[-1])]
            self.tables.append(tables)
            # dynamic programming from the last layer back: best[i] = best sum of layers l.. given i_l = i
            best, choice = tables[-1], []
            for table in reversed(tables[:-1]):
                totals = table + best[None, :]
                choice.append(totals.argmax(axis=1))
                best = totals.max(axis=1)
            index = int(best.argmax())
            best_total += float(best.max())
            picks = [index]
            for arg in reversed(choice):
                index = int(arg[index])
                picks.append(index)
            target.append([chain[l][i] for l, i in enumerate(picks)])
        self._best = best_total
        self.target: StructureSpec = space.base.with_dilations(target)

    def score(self, spec: StructureSpec) -> float:
        total = 0.0
        for chain, tables, dilations in zip(self.candidates, self.tables, spec.dilations(), strict=True):
            idx = [c.index(d) if d in c else 0 for c, d in zip(chain, dilations, strict=True)]
            total += sum(float(tables[l][idx[l], idx[l + 1]]) for l in range(len(idx) - 1)) + float(tables[-1][idx[-1]])
        return round(100.0 * total / self._best, 10)

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.space.suggest(trial, self.encoding)
        trial.set_user_attr(attrs.STRUCTURE, spec.to_dict())
        return self.score(spec)
