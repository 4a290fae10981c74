"""Timeception (Hussein et al. 2019), the hand-designed counterpart of NAS-TC (NAS-TC Fig. 5a), in 1-D.

The Temporal Conv Module has five branches on a ``c_in``-channel input, each reducing it with a 1x1 convolution
to ``c_branch`` channels: three then run a depthwise temporal convolution (``k = 3, 5, 7``), one a size-2
stride-1 max pooling (length kept, as :class:`~g2l_automl.models.Pool`), one nothing more; every branch ends in
batch norm, and the module concatenates them to ``5 * c_branch`` channels. A Timeception layer splits its
channels into ``groups``, runs one module per group, concatenates, applies ReLU, shuffles the channels and
max-pools time by 2 (the per-group modules run at once as grouped convolutions, weights still separate).
``c_branch = round(C / (groups * reduction))`` (the rounding of
:func:`~g2l_automl.models.node_channels`); the default ``reduction=4`` is Timeception's own expansion factor
of 1.25 (``5 / 4``), next to NAS-TC's ``4 / 3``.

Parameters of one module: ``5 * (c_in * c_branch + c_branch)`` (1x1 convolutions with bias)
``+ 15 * c_branch`` (the depthwise kernels 3 + 5 + 7, no bias) ``+ 10 * c_branch`` (five batch norms).
"""

from __future__ import annotations

import torch
from torch import nn

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError
from g2l_automl.models._temporal_network import TemporalNetwork, channel_shuffle, group_major, node_channels
from g2l_automl.models._temporal_ops import Pool

__all__ = ["TemporalConvModule", "TimeceptionLayer", "TimeceptionNetwork"]


class TemporalConvModule(nn.Module):
    """Fig. 5a's five-branch module: ``(B, c_in, T)`` to ``(B, 5 * c_branch, T)``. With ``groups > 1`` it is
    ``groups`` independent modules on channel groups (``c_in``, ``c_branch`` per group), outputs group-major.

    Example:
        >>> m = TemporalConvModule(12, 4)
        >>> tuple(m(torch.randn(2, 12, 9)).shape), sum(p.numel() for p in m.parameters())
        ((2, 20, 9), 360)
    """

    def __init__(self, c_in: int, c_branch: int, kernel_sizes: tuple[int, ...] = (3, 5, 7), groups: int = 1) -> None:
        super().__init__()
        check_int(c_in, "c_in", error=StructureError)
        check_int(c_branch, "c_branch", error=StructureError)
        self.groups = check_int(groups, "groups", error=StructureError)
        cb = groups * c_branch
        if not kernel_sizes or any(isinstance(k, bool) or not isinstance(k, int) or k % 2 == 0 for k in kernel_sizes):
            raise StructureError(f"kernel_sizes: expected odd integers, got {kernel_sizes!r}")

        def reduce() -> nn.Conv1d:
            return nn.Conv1d(groups * c_in, cb, 1, groups=groups)

        branches = [
            nn.Sequential(reduce(), nn.Conv1d(cb, cb, k, padding=k // 2, groups=cb, bias=False), nn.BatchNorm1d(cb))
            for k in kernel_sizes
        ]
        branches.append(nn.Sequential(reduce(), Pool("max"), nn.BatchNorm1d(cb)))
        branches.append(nn.Sequential(reduce(), nn.BatchNorm1d(cb)))
        self.branches = nn.ModuleList(branches)
        self.out_channels = len(branches) * cb

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return group_major(torch.cat([b(x) for b in self.branches], dim=1), len(self.branches), self.groups)


class TimeceptionLayer(nn.Module):
    """``groups`` Temporal Conv Modules on channel groups, concat, ReLU, channel shuffle, max-pool 2.

    Example:
        >>> layer = TimeceptionLayer(32, groups=2)
        >>> tuple(layer(torch.randn(2, 32, 16)).shape), layer.out_channels
        ((2, 40, 8), 40)
    """

    def __init__(self, channels: int, groups: int = 4, reduction: int = 4) -> None:
        super().__init__()
        check_int(groups, "groups", error=StructureError)
        check_int(reduction, "reduction", error=StructureError)
        if check_int(channels, "channels", error=StructureError) % groups:
            raise StructureError(f"channels: {channels} is not divisible by groups={groups}")
        self.groups = groups
        self.c_branch = node_channels(channels // groups, reduction)
        self.module = TemporalConvModule(channels // groups, self.c_branch, groups=groups)
        self.out_channels = self.module.out_channels
        self.pool = nn.MaxPool1d(2, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(channel_shuffle(torch.relu(self.module(x)), self.groups))


class TimeceptionNetwork(TemporalNetwork):
    """The Timeception classifier: the same projection, pooling and MLP as
    :class:`~g2l_automl.models.NASTCNetwork`, with ``layers`` Timeception layers.

    Example:
        >>> net = TimeceptionNetwork(32, 5, layers=2, groups=2, channels=24)
        >>> tuple(net(torch.randn(3, 32, 16)).shape)
        (3, 5)
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        layers: int = 3,
        groups: int = 4,
        channels: int = 96,
        reduction: int = 4,
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(input_dim, num_classes, channels, hidden, dropout)
        check_int(layers, "layers", error=StructureError)
        c = channels
        for _ in range(layers):
            layer = TimeceptionLayer(c, groups, reduction)
            self.layers.append(layer)
            c = layer.out_channels
        self._build_head(c)

    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h)
        return h
