"""The NAS-TC cell spec (Ren et al., Sec. III-B, Fig. 3): a :class:`Genotype` names each intermediate node's input
edges and their ops; its JSON form.

Pure data (no torch): the discrete cell is :class:`~g2l_automl.models.GenotypeCell`, the searchable one
:class:`~g2l_automl.nas.SearchCell`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from g2l_automl.errors import StructureError
from g2l_automl.structure._io import _read_json

#: The temporal ops of Table I in the order of ``alpha``'s columns (the keys of
#: :data:`~g2l_automl.models.TEMPORAL_OPS`, in the same order).
TEMPORAL_OP_NAMES: tuple[str, ...] = (
    "identity",
    "zero",
    "avg_pool_2",
    "max_pool_2",
    "dil_conv_3",
    "dil_conv_5",
    "sep_conv_3",
    "sep_conv_5",
    "sep_conv_7",
)
OP_NAMES = TEMPORAL_OP_NAMES


def num_edges(nodes: int = 4) -> int:
    """Edges of a cell with ``nodes`` intermediate nodes and two inputs: ``2 + 3 + ... + (nodes + 1)``.

    Example:
        >>> num_edges(4)
        14
    """
    return sum(j + 2 for j in range(nodes))


@dataclass(frozen=True)
class Genotype:
    """A discrete cell: per intermediate node, its ``(op, input)`` edges. Input ``0`` is ``I_{k-2}``, ``1`` is
    ``I_{k-1}`` and ``2 + i`` is intermediate node ``i``; node ``j`` may read inputs ``0 .. j + 1``.

    Example:
        >>> w = np.full((14, 9), 0.1)
        >>> w[:, OP_NAMES.index("max_pool_2")] = 0.5
        >>> w[7, OP_NAMES.index("sep_conv_5")] = 0.9   # edge 7: node 2 <- node 0 (input 2)
        >>> g = Genotype.decode(w)
        >>> g.nodes[0], g.nodes[2]
        ((('max_pool_2', 0), ('max_pool_2', 1)), (('max_pool_2', 0), ('sep_conv_5', 2)))
        >>> Genotype.from_dict(g.to_dict()) == g
        True
    """

    nodes: tuple[tuple[tuple[str, int], ...], ...]

    def __post_init__(self) -> None:
        nodes = self.nodes
        if not isinstance(nodes, (tuple, list)) or not nodes:
            raise StructureError(f"genotype.nodes: expected a non-empty list of nodes, got {nodes!r}")
        clean = []
        for j, node in enumerate(nodes):
            where = f"genotype.nodes[{j}]"
            if not isinstance(node, (tuple, list)) or not node:
                raise StructureError(f"{where}: expected a non-empty list of [op, input] edges, got {node!r}")
            edges = []
            for e, edge in enumerate(node):
                if not isinstance(edge, (tuple, list)) or len(edge) != 2:
                    raise StructureError(f"{where}[{e}]: expected [op, input], got {edge!r}")
                op, src = edge
                if not isinstance(op, str) or op not in OP_NAMES or op == "zero":
                    known = ", ".join(n for n in OP_NAMES if n != "zero")
                    raise StructureError(f"{where}[{e}]: unknown op {op!r}; choose from {known}")
                if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < j + 2:
                    raise StructureError(f"{where}[{e}]: input must be an integer in 0..{j + 1}, got {src!r}")
                edges.append((str(op), int(src)))
            if len({s for _, s in edges}) != len(edges):
                raise StructureError(f"{where}: an input appears twice in {[list(x) for x in edges]}")
            clean.append(tuple(edges))
        object.__setattr__(self, "nodes", tuple(clean))

    @classmethod
    def decode(cls, weights: Any, nodes: int = 4, keep: int = 2) -> Genotype:
        """Discretise ``(edges, ops)`` op weights (an array or a tensor; eq. 2): per node the ``keep`` inputs whose
        best non-zero op weighs most, each with that op (ties go to the earlier input and op)."""
        if hasattr(weights, "detach"):  # a torch tensor
            weights = weights.detach().cpu().numpy()
        w = np.asarray(weights, dtype=float)
        if w.shape != (num_edges(nodes), len(OP_NAMES)):
            raise StructureError(f"weights: expected shape {(num_edges(nodes), len(OP_NAMES))}, got {w.shape}")
        nonzero = [i for i, n in enumerate(OP_NAMES) if n != "zero"]
        out, offset = [], 0
        for j in range(nodes):
            rows = w[offset : offset + j + 2][:, nonzero]
            best_op = rows.argmax(axis=1)
            strength = rows.max(axis=1)
            chosen = sorted(np.argsort(-strength, kind="stable")[: min(keep, j + 2)].tolist())
            out.append(tuple((OP_NAMES[nonzero[best_op[i]]], int(i)) for i in chosen))
            offset += j + 2
        return cls(tuple(out))

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [[[op, src] for op, src in node] for node in self.nodes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genotype:
        if not isinstance(data, Mapping) or set(data) != {"nodes"}:
            raise StructureError(f"genotype: expected a mapping with the single key 'nodes', got {data!r}")
        nodes = data["nodes"]
        if not isinstance(nodes, list):
            raise StructureError(f"genotype.nodes: expected a list of nodes, got {nodes!r}")
        return cls(
            tuple(tuple(tuple(e) if isinstance(e, list) else e for e in n) if isinstance(n, list) else n for n in nodes)
        )


def save_genotype(genotype: Genotype, path: str | os.PathLike[str]) -> None:
    """Write ``genotype`` as JSON (atomically)."""
    from g2l_automl._files import write_json_atomic

    write_json_atomic(path, genotype.to_dict())


def load_genotype(path: str | os.PathLike[str]) -> Genotype:
    """Read a genotype JSON file; errors name the file."""
    data = _read_json(path, missing="no such genotype file")
    try:
        return Genotype.from_dict(data)
    except StructureError as exc:
        raise StructureError(f"{path}: {exc}") from None
