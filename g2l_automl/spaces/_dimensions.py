"""Search dimensions: each one turns a base structure into genes (named categorical choices).

A :class:`Gene` is one searchable decision with stable, readable name such as ``stage0.layer3.dilation``. The
dimensions below are the searchable axes of the papers: G2L's sparse dilation space (Eq. 1), Video-NAS channel
widths, EvaNet temporal kernel lengths, op types, stage depths and parallel multi-op modules.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from g2l_automl._checks import check_int
from g2l_automl.errors import SpaceError
from g2l_automl.structure import (
    BRANCH_OPS,
    KNOWN_OPS,
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL_SIZE,
    POOL_OPS,
    StructureSpec,
)

#: Layer fields in genome order within one layer; ``op`` comes first because it decides whether ``dilation2``
#: (the second branch of a ``dual_conv`` layer), ``num_branches`` and the branch genes (of a ``parallel`` layer)
#: and ``kernel_size`` (not of a ``parallel`` layer) are active. A layer's branch genes follow its layer genes,
#: branch by branch, each as ``op`` then ``kernel_size``.
LAYER_FIELDS: tuple[str, ...] = ("op", "num_branches", "dilation", "dilation2", "kernel_size")
#: Stage fields; they come before the stage's layers in the genome.
STAGE_FIELDS: tuple[str, ...] = ("num_layers", "channels")


@dataclass(frozen=True)
class Gene:
    """One searchable decision: ``field`` of stage ``stage`` (and layer ``layer``, or the whole stage when None;
    and branch ``branch`` of a ``parallel`` layer, or the layer itself when None)."""

    name: str
    choices: tuple[Any, ...]
    stage: int
    layer: int | None
    field: str
    branch: int | None = None

    @staticmethod
    def make(stage: int, layer: int | None, field: str, choices: Sequence[Any], branch: int | None = None) -> Gene:
        if layer is None:
            name = f"stage{stage}.{field}"
        elif branch is None:
            name = f"stage{stage}.layer{layer}.{field}"
        else:
            name = f"stage{stage}.layer{layer}.branch{branch}.{field}"
        return Gene(name, tuple(choices), stage, layer, field, branch)


def _int(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    return check_int(value, where, minimum, maximum, error=SpaceError)


def _candidates(values: Any, where: str, check: Any) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SpaceError(f"{where}: expected a list of candidates, got {values!r}")
    if not values:
        raise SpaceError(f"{where}: the list of candidates is empty")
    out = tuple(check(v, f"{where}[{i}]") for i, v in enumerate(values))
    if len(set(out)) != len(out):
        raise SpaceError(f"{where}: duplicate candidates in {list(out)}")
    return out


class Dimension(abc.ABC):
    """Base class: a dimension applies to some stages (None: all) and yields genes for a template structure."""

    def __init__(self, stages: Sequence[int] | None = None) -> None:
        self.stages = None if stages is None else tuple(_int(s, "stages[]", 0) for s in stages)

    def _stage_indices(self, template: StructureSpec) -> list[int]:
        n = len(template.stages)
        if self.stages is None:
            return list(range(n))
        for s in self.stages:
            if s >= n:
                raise SpaceError(f"{type(self).__name__}.stages: stage {s} does not exist (the structure has {n})")
        return sorted(set(self.stages))

    @abc.abstractmethod
    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        """Genes of this dimension; ``dual_capable`` holds the (stage, layer) that can be ``dual_conv``."""


class Dilations(Dimension):
    """G2L's sparse dilation space ``D_g = {k**i, i = 0..T}`` for every layer (Eq. 1); paper: k=2, T=10.

    Example:
        >>> Dilations(k=2, T=4).candidates
        (1, 2, 4, 8, 16)
    """

    def __init__(self, k: int = 2, T: int = 10, stages: Sequence[int] | None = None) -> None:  # noqa: N803
        super().__init__(stages)
        self.k = _int(k, "dilations.k", 2)
        self.T = _int(T, "dilations.T", 0)
        if self.T > MAX_DILATION.bit_length() or self.k**self.T > MAX_DILATION:  # k >= 2: T past 21 is too large anyway
            raise SpaceError(
                f"dilations: the largest candidate k**T = {self.k}**{self.T} exceeds the largest dilation, "
                f"{MAX_DILATION} (2**20)"
            )

    @property
    def candidates(self) -> tuple[int, ...]:
        return tuple(self.k**i for i in range(self.T + 1))

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        out = []
        for s in self._stage_indices(template):
            for i in range(len(template.stages[s].layers)):
                out.append(Gene.make(s, i, "dilation", self.candidates))
                if (s, i) in dual_capable:
                    out.append(Gene.make(s, i, "dilation2", self.candidates))
        return out


class Widths(Dimension):
    """Candidate channel widths, one choice per stage (Video-NAS's width search)."""

    def __init__(self, candidates: Sequence[int] = (32, 64, 128), stages: Sequence[int] | None = None) -> None:
        super().__init__(stages)
        self.candidates = _candidates(candidates, "widths.candidates", lambda v, w: _int(v, w, 1, MAX_CHANNELS))

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        return [Gene.make(s, None, "channels", self.candidates) for s in self._stage_indices(template)]


def _odd(value: Any, where: str) -> int:
    value = _int(value, where, 1, MAX_KERNEL_SIZE)
    if value % 2 == 0:
        raise SpaceError(f"{where}: temporal kernel sizes must be odd, got {value}")
    return value


class Kernels(Dimension):
    """Candidate temporal kernel sizes per layer (odd, e.g. ``(1, 3, 5, 7, 9, 11)``)."""

    def __init__(self, sizes: Sequence[int] = (3, 5, 7), stages: Sequence[int] | None = None) -> None:
        super().__init__(stages)
        self.candidates = _candidates(sizes, "kernels.sizes", _odd)

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        return [
            Gene.make(s, i, "kernel_size", self.candidates)
            for s in self._stage_indices(template)
            for i in range(len(template.stages[s].layers))
        ]


def _op(value: Any, where: str) -> str:
    if value not in KNOWN_OPS:
        raise SpaceError(f"{where}: unknown op {value!r}; known ops are {', '.join(KNOWN_OPS)}")
    return value


class Ops(Dimension):
    """Candidate op types per layer (see :data:`g2l_automl.structure.KNOWN_OPS`; default MS-TCN's and MS-TCN++'s
    ``conv`` and ``dual_conv``). ``parallel`` needs a :class:`Modules` dimension on the same layers (or a base
    layer that is already parallel) for its branches."""

    def __init__(self, types: Sequence[str] = ("conv", "dual_conv"), stages: Sequence[int] | None = None) -> None:
        super().__init__(stages)
        self.candidates = _candidates(types, "ops.types", _op)

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        return [
            Gene.make(s, i, "op", self.candidates)
            for s in self._stage_indices(template)
            for i in range(len(template.stages[s].layers))
        ]


class Depths(Dimension):
    """Candidate numbers of layers per stage (variable depth: EvaNet's add/remove-layer mutation)."""

    def __init__(self, candidates: Sequence[int] = (8, 10, 12), stages: Sequence[int] | None = None) -> None:
        super().__init__(stages)
        self.candidates = tuple(sorted(_candidates(candidates, "depths.candidates", lambda v, w: _int(v, w, 1))))

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        return [Gene.make(s, None, "num_layers", self.candidates) for s in self._stage_indices(template)]


#: The convolution branch ops of a module (its "space-time conv layers"): :data:`BRANCH_OPS` less the pools.
CONV_BRANCH_OPS: tuple[str, ...] = tuple(op for op in BRANCH_OPS if op not in POOL_OPS)


def _branch_op(value: Any, where: str) -> str:
    if value not in CONV_BRANCH_OPS:
        hint = "; pooling branches go in modules.pool_ops (with max_pools >= 1)" if value in POOL_OPS else ""
        raise SpaceError(f"{where}: unknown branch op {value!r}; branch ops are {', '.join(CONV_BRANCH_OPS)}{hint}")
    return value


def _pool_op(value: Any, where: str) -> str:
    if value not in POOL_OPS:
        raise SpaceError(f"{where}: unknown pool op {value!r}; pool ops are {', '.join(POOL_OPS)}")
    return value


class Modules(Dimension):
    """EvaNet's parallel multi-op modules (Sec. 4.1-4.2, Fig. 5): the chosen layers become ``parallel`` layers
    of ``min_branches..max_branches`` convolution branches and ``min_pools..max_pools`` pooling branches, all
    averaged, each branch with its own op and temporal kernel length (and the layer's dilation).

    Genes per layer: ``stageS.layerL.num_branches`` and, for every possible branch ``B``,
    ``stageS.layerL.branchB.op`` and ``stageS.layerL.branchB.kernel_size``; with ``max_pools >= 1`` also
    ``stageS.layerL.num_pools`` and, per possible pooling branch ``P``, ``stageS.layerL.poolP.op`` and
    ``stageS.layerL.poolP.kernel_size`` (fields ``num_pools``, ``pool_op``, ``pool_kernel_size``). Branches
    beyond the counts are inactive. Convolution and pooling branches have their own counts and slots, so every
    genome keeps the module rules by construction: EvaNet's (Sec. 5.2: at least two space-time convolutions and
    one pooling layer) are ``min_branches=2, min_pools=1``. With an :class:`Ops` dimension on the same layer,
    ``parallel`` must be one of its types and the module genes are active only when the layer's op is
    ``parallel``; without one the layer is always a module.

    Args:
        max_branches: largest number of convolution branches.
        ops: candidate convolution branch ops (:data:`CONV_BRANCH_OPS`: ``conv``, ``conv2plus1d``,
            ``sep_conv``, ``tgm``).
        kernel_sizes: candidate branch kernel lengths (odd; the paper's ``{1, 3, 5, 7, 9, 11}``).
        min_branches: smallest number of convolution branches.
        stages: stages whose layers become modules (None: all).
        layers: layer indices within those stages (None: all).
        max_pools: largest number of pooling branches (0: none, the default).
        min_pools: smallest number of pooling branches.
        pool_ops: candidate pooling ops (``max_pool``, ``avg_pool``; the paper's figures show max pooling).
        pool_sizes: candidate pooling lengths (odd; None: ``kernel_sizes``).

    Example:
        >>> from g2l_automl.structure import StructureSpec
        >>> genes = Modules(max_branches=2, kernel_sizes=(3, 5)).genes(StructureSpec.mstcn(1, 1), set())
        >>> [g.name for g in genes][:3]
        ['stage0.layer0.num_branches', 'stage0.layer0.branch0.op', 'stage0.layer0.branch0.kernel_size']
        >>> len(genes), genes[0].choices
        (5, (1, 2))
    """

    def __init__(
        self,
        max_branches: int = 3,
        ops: Sequence[str] = CONV_BRANCH_OPS,
        kernel_sizes: Sequence[int] = (1, 3, 5, 7, 9, 11),
        min_branches: int = 1,
        stages: Sequence[int] | None = None,
        layers: Sequence[int] | None = None,
        max_pools: int = 0,
        min_pools: int = 0,
        pool_ops: Sequence[str] = POOL_OPS,
        pool_sizes: Sequence[int] | None = None,
    ) -> None:
        super().__init__(stages)
        self.max_branches = _int(max_branches, "modules.max_branches", 1)
        self.min_branches = _int(min_branches, "modules.min_branches", 1)
        if self.min_branches > self.max_branches:
            raise SpaceError(
                f"modules.min_branches: {self.min_branches} is larger than max_branches {self.max_branches}"
            )
        self.ops = _candidates(ops, "modules.ops", _branch_op)
        self.kernel_sizes = _candidates(kernel_sizes, "modules.kernel_sizes", _odd)
        self.layers = None if layers is None else _candidates(layers, "modules.layers", lambda v, w: _int(v, w, 0))
        self.max_pools = _int(max_pools, "modules.max_pools", 0)
        self.min_pools = _int(min_pools, "modules.min_pools", 0)
        if self.min_pools > self.max_pools:
            raise SpaceError(f"modules.min_pools: {self.min_pools} is larger than max_pools {self.max_pools}")
        self.pool_ops = _candidates(pool_ops, "modules.pool_ops", _pool_op)
        sizes = self.kernel_sizes if pool_sizes is None else pool_sizes
        self.pool_sizes = _candidates(sizes, "modules.pool_sizes", _odd)

    def layer_indices(self, template: StructureSpec) -> list[tuple[int, int]]:
        """The ``(stage, layer)`` pairs this dimension makes modules of."""
        out = []
        for s in self._stage_indices(template):
            n = len(template.stages[s].layers)
            if self.layers is not None:
                for i in self.layers:
                    if i >= n:
                        raise SpaceError(f"modules.layers: layer {i} does not exist in stage {s} (it has {n})")
            out += [(s, i) for i in (range(n) if self.layers is None else sorted(self.layers))]
        return out

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        out = []
        counts = tuple(range(self.min_branches, self.max_branches + 1))
        for s, i in self.layer_indices(template):
            out.append(Gene.make(s, i, "num_branches", counts))
            for b in range(self.max_branches):
                out.append(Gene.make(s, i, "op", self.ops, branch=b))
                out.append(Gene.make(s, i, "kernel_size", self.kernel_sizes, branch=b))
            if self.max_pools:
                prefix = f"stage{s}.layer{i}."
                pools = tuple(range(self.min_pools, self.max_pools + 1))
                out.append(Gene(prefix + "num_pools", pools, s, i, "num_pools"))
                for p in range(self.max_pools):
                    out.append(Gene(f"{prefix}pool{p}.op", self.pool_ops, s, i, "pool_op", p))
                    out.append(Gene(f"{prefix}pool{p}.kernel_size", self.pool_sizes, s, i, "pool_kernel_size", p))
        return out
