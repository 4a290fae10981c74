"""NAS-TC (Ren et al.): Temp-DARTS cells on the time axis, NAS-TC layers of grouped cells, and the network.

A cell (DARTS's normal cell in 1-D, Fig. 3) has two inputs ``I_{k-2}`` and ``I_{k-1}``, each brought to
``c_node`` channels by a 1x1 ReLU-Conv-BN, and ``nodes`` intermediate nodes; node ``j`` is the sum over all
earlier nodes (the two inputs and nodes ``0..j-1``) of one op per edge, and the cell's output is the concatenation
of the intermediate nodes. In the supernet every edge is a mixed op, the softmax over :data:`TEMPORAL_OPS` of its
row of ``alpha`` (eq. 1); one ``alpha`` is shared by every cell, as Temp-DARTS searches one normal cell only. The
decoded :class:`Genotype` keeps, per node, the two input edges with the strongest non-zero op and that op.

A NAS-TC layer splits its ``C`` input channels into ``N`` groups, runs each through its own cell, concatenates,
shuffles the channels across groups and max-pools time by 2, so ``(B, C, T)`` becomes
``(B, S * C / M, T / 2)``. Rounding: ``c_node = round(C / (N * M))`` (nearest, halves up, at least 1), so the
layer outputs exactly ``N * S * c_node`` channels, which is again divisible by ``N``; odd lengths round up.
The cell's ``I_{k-1}`` is the layer's group input and ``I_{k-2}`` the previous layer's group input max-pooled to
the current length (the first layer feeds its input to both). The ``N`` cells keep separate weights but run as
one cell of grouped convolutions (``groups=N``), which gives the same numbers with ``N`` times fewer kernel calls.
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from g2l_automl.errors import StructureError
from g2l_automl.models._temporal_ops import TEMPORAL_OPS, ReLUConvBN

__all__ = [
    "Genotype",
    "GenotypeCell",
    "MixedOp",
    "NASTCLayer",
    "NASTCNetwork",
    "SearchCell",
    "channel_shuffle",
    "group_major",
    "load_genotype",
    "node_channels",
    "num_edges",
    "save_genotype",
]

#: The op names in the order of ``alpha``'s columns.
OP_NAMES: tuple[str, ...] = tuple(TEMPORAL_OPS)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise StructureError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return value


def num_edges(nodes: int = 4) -> int:
    """Edges of a cell with ``nodes`` intermediate nodes and two inputs: ``2 + 3 + ... + (nodes + 1)``.

    Example:
        >>> num_edges(4)
        14
    """
    return sum(j + 2 for j in range(nodes))


def node_channels(group_channels: int, multiplier: int) -> int:
    """Channels of every node of a cell whose input has ``group_channels``: ``round(group_channels /
    multiplier)``, halves rounded up, at least 1."""
    return max(1, (2 * group_channels + multiplier) // (2 * multiplier))


def group_major(x: torch.Tensor, parts: int, groups: int) -> torch.Tensor:
    """Reorder ``(B, parts * groups * c, T)`` channels laid out ``[part][group][c]`` (what a grouped cell's node
    concatenation gives) to ``[group][part][c]`` (each group's cell output, concatenated over groups)."""
    b, ch, t = x.shape
    return x.view(b, parts, groups, ch // (parts * groups), t).transpose(1, 2).reshape(b, ch, t)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle of ``(B, C, T)``: channel ``g * (C / groups) + i`` moves to ``i * groups + g``.

    Example:
        >>> channel_shuffle(torch.arange(6.0).view(1, 6, 1), 2).flatten().tolist()
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    b, c, t = x.shape
    return x.view(b, groups, c // groups, t).transpose(1, 2).reshape(b, c, t)


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
                if not isinstance(op, str) or op not in TEMPORAL_OPS or op == "zero":
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
    def decode(cls, weights: np.ndarray | torch.Tensor, nodes: int = 4, keep: int = 2) -> Genotype:
        """Discretise ``(edges, ops)`` op weights (eq. 2): per node the ``keep`` inputs whose best non-zero op
        weighs most, each with that op (ties go to the earlier input and op)."""
        w = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, dtype=float)
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
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Genotype.from_dict(data)
    except FileNotFoundError:
        raise StructureError(f"{path}: no such genotype file") from None
    except json.JSONDecodeError as exc:
        raise StructureError(f"{path}: not valid JSON: {exc}") from None
    except StructureError as exc:
        raise StructureError(f"{path}: {exc}") from None


class MixedOp(nn.Module):
    """All non-zero ops of :data:`TEMPORAL_OPS` on one edge, weighted by a softmax row (the zero op adds
    nothing, so it is not run). Poolings get a non-affine batch norm, as in DARTS's search, so their scale is
    comparable to the convolutions'."""

    def __init__(self, channels: int, affine: bool = False, groups: int = 1) -> None:
        super().__init__()
        self.ops = nn.ModuleDict()
        for name, make in TEMPORAL_OPS.items():
            if name == "zero":
                continue
            op = make(channels, affine, groups)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm1d(channels, affine=False))
            self.ops[name] = op
        self._index = [OP_NAMES.index(n) for n in self.ops]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(weights[i] * op(x) for i, op in zip(self._index, self.ops.values(), strict=True))


class _Cell(nn.Module):
    """Channel counts are per group; with ``groups > 1`` the cell is ``groups`` independent cells on channel
    groups at once, and its output channels come node-major, ``[node][group][c_node]``."""

    def __init__(self, c_prev_prev: int, c_prev: int, c_node: int, nodes: int, affine: bool, groups: int) -> None:
        super().__init__()
        self.pre0 = ReLUConvBN(groups * c_prev_prev, groups * c_node, 1, affine, groups)
        self.pre1 = ReLUConvBN(groups * c_prev, groups * c_node, 1, affine, groups)
        self.nodes, self.groups = nodes, groups
        self.out_channels = nodes * c_node * groups


class SearchCell(_Cell):
    """The supernet cell: every one of the :func:`num_edges` edges is a :class:`MixedOp`.

    Example:
        >>> cell = SearchCell(6, 6, 2, nodes=1)
        >>> w = torch.softmax(torch.zeros(num_edges(1), 9), -1)
        >>> tuple(cell(torch.randn(3, 6, 5), torch.randn(3, 6, 5), w).shape), len(SearchCell(6, 6, 2).edges)
        ((3, 2, 5), 14)
    """

    def __init__(
        self, c_prev_prev: int, c_prev: int, c_node: int, nodes: int = 4, affine: bool = False, groups: int = 1
    ) -> None:
        super().__init__(c_prev_prev, c_prev, c_node, nodes, affine, groups)
        self.edges = nn.ModuleList(MixedOp(groups * c_node, affine, groups) for _ in range(num_edges(nodes)))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for _ in range(self.nodes):
            states.append(sum(self.edges[offset + i](h, weights[offset + i]) for i, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)


class GenotypeCell(_Cell):
    """The discrete cell of a :class:`Genotype` (NAS-Temp): each node sums its chosen ops of its chosen inputs.

    Example:
        >>> g = Genotype(((("sep_conv_3", 0), ("identity", 1)), (("max_pool_2", 2), ("dil_conv_5", 0))))
        >>> tuple(GenotypeCell(g, 6, 6, 2)(torch.randn(3, 6, 5), torch.randn(3, 6, 5)).shape)
        (3, 4, 5)
    """

    def __init__(
        self, genotype: Genotype, c_prev_prev: int, c_prev: int, c_node: int, affine: bool = True, groups: int = 1
    ) -> None:
        super().__init__(c_prev_prev, c_prev, c_node, genotype.num_nodes, affine, groups)
        self.genotype = genotype
        self.ops = nn.ModuleList(
            nn.ModuleList(TEMPORAL_OPS[op](groups * c_node, affine, groups) for op, _ in node)
            for node in genotype.nodes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node, ops in zip(self.genotype.nodes, self.ops, strict=True):
            states.append(sum(op(states[src]) for (_, src), op in zip(node, ops, strict=True)))
        return torch.cat(states[2:], dim=1)


class NASTCLayer(nn.Module):
    """One NAS-TC layer: ``groups`` cells (own weights) on channel groups, concat, channel shuffle, max-pool 2.

    ``genotype=None`` builds the supernet layer (its ``forward`` then needs the softmaxed ``weights``).

    Example:
        >>> g = Genotype(((("sep_conv_3", 0), ("identity", 1)),) * 4)
        >>> layer = NASTCLayer(24, 24, groups=2, genotype=g)
        >>> x = torch.randn(2, 24, 16)
        >>> tuple(layer(x, x).shape), layer.out_channels
        ((2, 32, 8), 32)
    """

    def __init__(
        self,
        c_prev: int,
        channels: int,
        groups: int = 4,
        genotype: Genotype | None = None,
        nodes: int = 4,
        multiplier: int = 3,
        affine: bool | None = None,
    ) -> None:
        super().__init__()
        check_int("groups", groups)
        check_int("multiplier", multiplier)
        for name, c in (("channels", channels), ("previous channels", c_prev)):
            if check_int(name, c) % groups:
                raise StructureError(f"{name}: {c} is not divisible by groups={groups}")
        self.groups = groups
        self.c_node = node_channels(channels // groups, multiplier)
        cp, cg = c_prev // groups, channels // groups
        if genotype is None:
            self.cell: _Cell = SearchCell(cp, cg, self.c_node, check_int("nodes", nodes), bool(affine), groups)
        else:
            self.cell = GenotypeCell(genotype, cp, cg, self.c_node, affine is not False, groups)
        self.out_channels = self.cell.out_channels
        self.pool = nn.MaxPool1d(2, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor, prev: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if prev.shape[-1] != x.shape[-1]:
            prev = self.pool(prev)
        out = self.cell(prev, x) if weights is None else self.cell(prev, x, weights)
        out = group_major(out, self.cell.nodes, self.groups)  # the N cell outputs, concatenated
        return self.pool(channel_shuffle(out, self.groups))


class TemporalNetwork(nn.Module, abc.ABC):
    """What NAS-TC and Timeception share (Fig. 4a): a 1x1 projection of the ``input_dim`` features to
    ``channels``, the stacked TC layers (``self.layers``, built by the subclass), a global max over time and an
    MLP classifier (dropout, linear, ReLU, dropout, linear) to ``num_classes`` logits. The head has no batch
    norm, so a last batch of one video still trains."""

    def __init__(self, input_dim: int, num_classes: int, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        check_int("input_dim", input_dim)
        check_int("num_classes", num_classes)
        check_int("channels", channels)
        check_int("hidden", hidden)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise StructureError(f"dropout: must be in [0, 1), got {dropout!r}")
        self.input_dim, self.num_classes, self.channels = input_dim, num_classes, channels
        self.project = nn.Sequential(nn.Conv1d(input_dim, channels, 1, bias=False), nn.BatchNorm1d(channels))
        self.layers = nn.ModuleList()
        self._hidden, self._dropout = hidden, float(dropout)

    def _build_head(self, c_out: int) -> None:
        self.head = nn.Sequential(
            nn.Dropout(self._dropout),
            nn.Linear(c_out, self._hidden),
            nn.ReLU(),
            nn.Dropout(self._dropout),
            nn.Linear(self._hidden, self.num_classes),
        )

    def tc_parameters(self) -> int:
        """Trainable parameters of the TC layers alone (Table III's Params)."""
        return sum(p.numel() for p in self.layers.parameters() if p.requires_grad)

    @abc.abstractmethod
    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        """The stacked temporal layers applied to the projected features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._trunk(self.project(x)).amax(dim=-1))


class NASTCNetwork(TemporalNetwork):
    """The NAS-TC classifier: ``layers`` NAS-TC layers of ``genotype`` cells, or of search cells with a shared
    ``alpha`` (``(num_edges(nodes), 9)``, DARTS's ``1e-3 * randn`` start) when ``genotype`` is None.

    Example:
        >>> net = NASTCNetwork(32, 5, layers=2, groups=2, channels=24)
        >>> tuple(net.alpha.shape), [len(node) for node in net.genotype().nodes]
        ((14, 9), [2, 2, 2, 2])
        >>> fixed = NASTCNetwork(32, 5, net.genotype(), layers=2, groups=2, channels=24)
        >>> tuple(fixed(torch.randn(3, 32, 16)).shape), fixed.tc_parameters() < net.tc_parameters()
        ((3, 5), True)
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        genotype: Genotype | None = None,
        layers: int = 3,
        groups: int = 4,
        channels: int = 96,
        nodes: int = 4,
        multiplier: int = 3,
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(input_dim, num_classes, channels, hidden, dropout)
        check_int("layers", layers)
        if genotype is not None and not isinstance(genotype, Genotype):
            raise StructureError(f"genotype: expected a Genotype or None, got {type(genotype).__name__}")
        self.nodes = genotype.num_nodes if genotype is not None else check_int("nodes", nodes)
        c_prev = c = channels
        for _ in range(layers):
            layer = NASTCLayer(c_prev, c, groups, genotype, self.nodes, multiplier)
            self.layers.append(layer)
            c_prev, c = c, layer.out_channels
        self._build_head(c)
        self.alpha = None if genotype is not None else nn.Parameter(1e-3 * torch.randn(num_edges(self.nodes), 9))

    @property
    def is_supernet(self) -> bool:
        return self.alpha is not None

    def arch_parameters(self) -> list[nn.Parameter]:
        """``[alpha]`` of the supernet, ``[]`` for a discrete network."""
        return [self.alpha] if self.alpha is not None else []

    def op_weights(self) -> torch.Tensor:
        """The softmax of ``alpha`` over ops, ``(edges, 9)``."""
        if self.alpha is None:
            raise StructureError("op_weights: a discrete NAS-TC network has no architecture weights")
        return torch.softmax(self.alpha, dim=-1)

    def genotype(self) -> Genotype:
        """The supernet's current cell, decoded from :meth:`op_weights`."""
        return Genotype.decode(self.op_weights(), self.nodes)

    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        weights = self.op_weights() if self.alpha is not None else None
        prev = h
        for layer in self.layers:
            h, prev = layer(h, prev, weights), h
        return h
