"""The NAS-TC supernet of Temp-DARTS (Ren et al., Sec. III-B, eq. 1): cells whose every edge is a mixed op over
the nine temporal ops, one ``alpha`` shared by every cell (Temp-DARTS searches one normal cell), and its decoding
to a :class:`~g2l_automl.structure.Genotype` (eq. 2: per node the two strongest non-zero edges)."""

from __future__ import annotations

import torch
from torch import nn

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError
from g2l_automl.models import TEMPORAL_OPS, NASTCLayer, NASTCNetwork, TemporalCell
from g2l_automl.nas._mixed_op import MixedOp
from g2l_automl.structure import TEMPORAL_OP_NAMES, Genotype, num_edges

__all__ = ["NASTCSearchLayer", "NASTCSupernet", "SearchCell", "temporal_mixed_op"]


def temporal_mixed_op(channels: int, affine: bool = False, groups: int = 1) -> MixedOp:
    """All non-zero ops of :data:`~g2l_automl.models.TEMPORAL_OPS` on one edge, weighted by a softmax row over all
    nine (the zero op adds nothing, so it is not run). Poolings get a non-affine batch norm, as in DARTS's search,
    so their scale is comparable to the convolutions'."""
    ops: dict[str, nn.Module] = {}
    for name, make in TEMPORAL_OPS.items():
        if name == "zero":
            continue
        op = make(channels, affine, groups)
        ops[name] = nn.Sequential(op, nn.BatchNorm1d(channels, affine=False)) if "pool" in name else op
    return MixedOp(ops, columns=TEMPORAL_OP_NAMES)


class SearchCell(TemporalCell):
    """The supernet cell: every one of the :func:`~g2l_automl.structure.num_edges` edges is a mixed op; node
    ``j`` sums the edges from all earlier nodes (the two inputs and nodes ``0..j-1``).

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
        self.edges = nn.ModuleList(temporal_mixed_op(groups * c_node, affine, groups) for _ in range(num_edges(nodes)))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for _ in range(self.nodes):
            states.append(sum(self.edges[offset + i](h, weights[offset + i]) for i, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)


class NASTCSearchLayer(NASTCLayer):
    """A NAS-TC layer of :class:`SearchCell` s (non-affine batch norms unless ``affine``); ``forward(x, prev,
    weights)`` takes the softmaxed ``(edges, 9)`` op weights.

    Example:
        >>> layer = NASTCSearchLayer(24, 24, groups=2, nodes=2)
        >>> x, w = torch.randn(2, 24, 16), torch.softmax(torch.zeros(num_edges(2), 9), -1)
        >>> tuple(layer(x, x, w).shape)
        (2, 16, 8)
    """

    def __init__(
        self, c_prev: int, channels: int, groups: int = 4, nodes: int = 4, multiplier: int = 3, affine: bool = False
    ) -> None:
        super().__init__(c_prev, channels, groups, None, nodes, multiplier, affine)

    def _make_cell(
        self, c_prev_prev: int, c_prev: int, genotype: Genotype | None, nodes: int, affine: bool | None
    ) -> TemporalCell:
        nodes = check_int(nodes, "nodes", error=StructureError)
        return SearchCell(c_prev_prev, c_prev, self.c_node, nodes, bool(affine), self.groups)


class NASTCSupernet(NASTCNetwork):
    """The Temp-DARTS supernet: :class:`NASTCNetwork` with :class:`NASTCSearchLayer` s and one shared ``alpha``
    (``(num_edges(nodes), 9)``, DARTS's ``1e-3 * randn`` start).

    Example:
        >>> net = NASTCSupernet(32, 5, layers=2, groups=2, channels=24)
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
        layers: int = 3,
        groups: int = 4,
        channels: int = 96,
        nodes: int = 4,
        multiplier: int = 3,
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(input_dim, num_classes, None, layers, groups, channels, nodes, multiplier, hidden, dropout)
        self.alpha = nn.Parameter(1e-3 * torch.randn(num_edges(self.nodes), len(TEMPORAL_OP_NAMES)))

    def _make_layer(
        self, c_prev: int, channels: int, groups: int, genotype: Genotype | None, multiplier: int
    ) -> NASTCLayer:
        return NASTCSearchLayer(c_prev, channels, groups, self.nodes, multiplier)

    def genotype(self) -> Genotype:
        """The supernet's current cell, decoded from :meth:`op_weights`."""
        return Genotype.decode(self.op_weights(), self.nodes)
