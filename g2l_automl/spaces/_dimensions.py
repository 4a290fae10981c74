"""Search dimensions: each one turns a base structure into genes (named categorical choices).

A :class:`Gene` is one searchable decision with stable, readable name such as ``stage0.layer3.dilation``. The
dimensions below are the searchable axes of the papers: G2L's sparse dilation space (Eq. 1), Video-NAS channel
widths, EvaNet temporal kernel lengths, op types and stage depths.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from g2l_automl.errors import SpaceError
from g2l_automl.structure import KNOWN_OPS, StructureSpec

#: Layer fields in genome order within one layer; ``op`` comes first because it decides whether ``dilation2``
#: (the second branch of a ``dual_conv`` layer) is active.
LAYER_FIELDS: tuple[str, ...] = ("op", "dilation", "dilation2", "kernel_size")
#: Stage fields; they come before the stage's layers in the genome.
STAGE_FIELDS: tuple[str, ...] = ("num_layers", "channels")


@dataclass(frozen=True)
class Gene:
    """One searchable decision: ``field`` of stage ``stage`` (and layer ``layer``, or the whole stage when None)."""

    name: str
    choices: tuple[Any, ...]
    stage: int
    layer: int | None
    field: str

    @staticmethod
    def make(stage: int, layer: int | None, field: str, choices: Sequence[Any]) -> Gene:
        name = f"stage{stage}.{field}" if layer is None else f"stage{stage}.layer{layer}.{field}"
        return Gene(name, tuple(choices), stage, layer, field)


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpaceError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


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
        self.candidates = _candidates(candidates, "widths.candidates", lambda v, w: _int(v, w, 1))

    def genes(self, template: StructureSpec, dual_capable: set[tuple[int, int]]) -> list[Gene]:
        return [Gene.make(s, None, "channels", self.candidates) for s in self._stage_indices(template)]


def _odd(value: Any, where: str) -> int:
    value = _int(value, where, 1)
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
    """Candidate op types per layer (see :data:`g2l_automl.structure.KNOWN_OPS`)."""

    def __init__(self, types: Sequence[str] = KNOWN_OPS, stages: Sequence[int] | None = None) -> None:
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
