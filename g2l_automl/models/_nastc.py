"""The discrete NAS-TC network (Ren et al., Sec. III-C, Fig. 3-4): cells of a :class:`~g2l_automl.structure.Genotype`
on the time axis, NAS-TC layers of grouped cells, and the classifier.

A cell (DARTS's normal cell in 1-D, Fig. 3) has two inputs ``I_{k-2}`` and ``I_{k-1}``, each brought to
``c_node`` channels by a 1x1 ReLU-Conv-BN, and intermediate nodes; node ``j`` sums one op of each of its chosen
inputs, and the cell's output is the concatenation of the intermediate nodes.

A NAS-TC layer splits its ``C`` input channels into ``N`` groups, runs each through its own cell, concatenates,
shuffles the channels across groups and max-pools time by 2, so ``(B, C, T)`` becomes
``(B, S * C / M, T / 2)``. Rounding: ``c_node = round(C / (N * M))`` (nearest, halves up, at least 1), so the
layer outputs exactly ``N * S * c_node`` channels, which is again divisible by ``N``; odd lengths round up.
The cell's ``I_{k-1}`` is the layer's group input and ``I_{k-2}`` the previous layer's group input max-pooled to
the current length (the first layer feeds its input to both). The ``N`` cells keep separate weights but run as
one cell of grouped convolutions (``groups=N``), which gives the same numbers with ``N`` times fewer kernel calls.
The searchable counterparts (mixed-op cells, a shared ``alpha``) are in :mod:`g2l_automl.nas`.
"""

from __future__ import annotations

import torch
from torch import nn

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError
from g2l_automl.models._temporal_network import TemporalNetwork, channel_shuffle, group_major, node_channels
from g2l_automl.models._temporal_ops import TEMPORAL_OPS, ReLUConvBN
from g2l_automl.structure import Genotype

__all__ = ["GenotypeCell", "NASTCLayer", "NASTCNetwork", "TemporalCell"]


class TemporalCell(nn.Module):
    """The two input preprocessings of a cell (1x1 ReLU-Conv-BN to ``c_node``). Channel counts are per group;
    with ``groups > 1`` the cell is ``groups`` independent cells on channel groups at once, and its output
    channels come node-major, ``[node][group][c_node]``."""

    def __init__(self, c_prev_prev: int, c_prev: int, c_node: int, nodes: int, affine: bool, groups: int) -> None:
        super().__init__()
        self.pre0 = ReLUConvBN(groups * c_prev_prev, groups * c_node, 1, affine, groups)
        self.pre1 = ReLUConvBN(groups * c_prev, groups * c_node, 1, affine, groups)
        self.nodes, self.groups = nodes, groups
        self.out_channels = nodes * c_node * groups


class GenotypeCell(TemporalCell):
    """The discrete cell of a :class:`~g2l_automl.structure.Genotype` (NAS-Temp): each node sums its chosen ops of
    its chosen inputs.

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

    The cells are :class:`GenotypeCell` s of ``genotype``; :class:`~g2l_automl.nas.NASTCSearchLayer` builds the
    layer of search cells instead (its ``forward`` then needs the softmaxed ``weights``).

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
        check_int(groups, "groups", error=StructureError)
        check_int(multiplier, "multiplier", error=StructureError)
        for name, c in (("channels", channels), ("previous channels", c_prev)):
            if check_int(c, name, error=StructureError) % groups:
                raise StructureError(f"{name}: {c} is not divisible by groups={groups}")
        self.groups = groups
        self.c_node = node_channels(channels // groups, multiplier)
        self.cell = self._make_cell(c_prev // groups, channels // groups, genotype, nodes, affine)
        self.out_channels = self.cell.out_channels
        self.pool = nn.MaxPool1d(2, stride=2, ceil_mode=True)

    def _make_cell(
        self, c_prev_prev: int, c_prev: int, genotype: Genotype | None, nodes: int, affine: bool | None
    ) -> TemporalCell:
        if not isinstance(genotype, Genotype):
            raise StructureError(
                f"genotype: a discrete NAS-TC layer needs a Genotype, got {type(genotype).__name__} (the searchable "
                "layer is g2l_automl.nas.NASTCSearchLayer)"
            )
        return GenotypeCell(genotype, c_prev_prev, c_prev, self.c_node, affine is not False, self.groups)

    def forward(self, x: torch.Tensor, prev: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if prev.shape[-1] != x.shape[-1]:
            prev = self.pool(prev)
        out = self.cell(prev, x) if weights is None else self.cell(prev, x, weights)
        out = group_major(out, self.cell.nodes, self.groups)  # the N cell outputs, concatenated
        return self.pool(channel_shuffle(out, self.groups))


class NASTCNetwork(TemporalNetwork):
    """The NAS-TC classifier: ``layers`` NAS-TC layers of ``genotype`` cells (the supernet with a shared ``alpha``
    is :class:`~g2l_automl.nas.NASTCSupernet`).

    Example:
        >>> g = Genotype(((("sep_conv_3", 0), ("identity", 1)),) * 4)
        >>> net = NASTCNetwork(32, 5, g, layers=2, groups=2, channels=24)
        >>> tuple(net(torch.randn(3, 32, 16)).shape), net.arch_parameters()
        ((3, 5), [])
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
        check_int(layers, "layers", error=StructureError)
        if genotype is not None and not isinstance(genotype, Genotype):
            raise StructureError(f"genotype: expected a Genotype or None, got {type(genotype).__name__}")
        self.nodes = genotype.num_nodes if genotype is not None else check_int(nodes, "nodes", error=StructureError)
        c_prev = c = channels
        for _ in range(layers):
            layer = self._make_layer(c_prev, c, groups, genotype, multiplier)
            self.layers.append(layer)
            c_prev, c = c, layer.out_channels
        self._build_head(c)
        self.alpha: nn.Parameter | None = None

    def _make_layer(
        self, c_prev: int, channels: int, groups: int, genotype: Genotype | None, multiplier: int
    ) -> NASTCLayer:
        if genotype is None:
            raise StructureError(
                "genotype: a discrete NAS-TC network needs a Genotype (the supernet is g2l_automl.nas.NASTCSupernet)"
            )
        return NASTCLayer(c_prev, channels, groups, genotype, self.nodes, multiplier)

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

    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        weights = self.op_weights() if self.alpha is not None else None
        prev = h
        for layer in self.layers:
            h, prev = layer(h, prev, weights), h
        return h
