"""The nine temporal operations of NAS-TC's search space (Table I, Fig. 2) on ``(batch, C, T)`` tensors.

Every op has stride 1 and keeps the length ``T`` and the channels ``C``, so any op fits any edge of a cell.
``groups`` (default 1) runs the op as ``groups`` independent ops on equal channel groups at once (the pointwise
convolutions become grouped ones; depthwise convolutions, poolings and batch norms are per channel anyway): that is
how a NAS-TC layer evaluates its per-group cells in one pass.
Convolutions run in the order ReLU-Conv-BN (Fig. 2b): the dilated convolution is a depthwise convolution
(``groups=C``, dilation 2) then a pointwise one; the separable convolution is DARTS's, that block twice with
dilation 1. The size-2 poolings pad one step on each side (Table I: padding 1) and keep the first ``T`` outputs,
so output ``t`` pools inputs ``t-1`` and ``t``.

Example:
    >>> x = torch.randn(2, 8, 7)
    >>> list(TEMPORAL_OPS)[:4]
    ['identity', 'zero', 'avg_pool_2', 'max_pool_2']
    >>> {name: tuple(make(8)(x).shape) for name, make in TEMPORAL_OPS.items()}["sep_conv_7"]
    (2, 8, 7)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from g2l_automl._checks import check_choice

__all__ = ["TEMPORAL_OPS", "DilConv", "Identity", "Pool", "ReLUConvBN", "SepConv", "Zero"]


class ReLUConvBN(nn.Sequential):
    """ReLU, a ``kernel_size`` convolution from ``c_in`` to ``c_out`` channels (length kept), batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, affine: bool = True, groups: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm1d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise ``kernel_size`` convolution with ``dilation`` (padding ``dilation * (k - 1) / 2``),
    pointwise convolution, batch norm (Table I: DilConv k3 / k5, dilation 2, groups C)."""

    def __init__(
        self, channels: int, kernel_size: int, dilation: int = 2, affine: bool = True, groups: int = 1
    ) -> None:
        pad = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation, groups=channels, bias=False),
            nn.Conv1d(channels, channels, 1, groups=groups, bias=False),
            nn.BatchNorm1d(channels, affine=affine),
        )


class SepConv(nn.Sequential):
    """DARTS's separable convolution: two stacked (ReLU, depthwise ``kernel_size`` conv, pointwise conv, BN)."""

    def __init__(self, channels: int, kernel_size: int, affine: bool = True, groups: int = 1) -> None:
        super().__init__(
            DilConv(channels, kernel_size, 1, affine, groups),
            DilConv(channels, kernel_size, 1, affine, groups),
        )


class Pool(nn.Module):
    """Size-2, stride-1 average or max pooling over time, padded by one step and cropped back to ``T``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        if check_choice(kind, "Pool: kind", ("avg", "max")) == "avg":
            self.pool: nn.Module = nn.AvgPool1d(2, stride=1, padding=1, count_include_pad=False)
        else:
            self.pool = nn.MaxPool1d(2, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)[..., : x.shape[-1]]


class Identity(nn.Module):
    """The input unchanged (a skip connection)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """Zeros shaped like the input: the 'no edge' choice of the search."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


#: Search-space order of Table I: op name -> ``factory(channels, affine=True, groups=1)``.
TEMPORAL_OPS: dict[str, Callable[..., nn.Module]] = {
    "identity": lambda c, affine=True, groups=1: Identity(),
    "zero": lambda c, affine=True, groups=1: Zero(),
    "avg_pool_2": lambda c, affine=True, groups=1: Pool("avg"),
    "max_pool_2": lambda c, affine=True, groups=1: Pool("max"),
    "dil_conv_3": lambda c, affine=True, groups=1: DilConv(c, 3, 2, affine, groups),
    "dil_conv_5": lambda c, affine=True, groups=1: DilConv(c, 5, 2, affine, groups),
    "sep_conv_3": lambda c, affine=True, groups=1: SepConv(c, 3, affine, groups),
    "sep_conv_5": lambda c, affine=True, groups=1: SepConv(c, 5, affine, groups),
    "sep_conv_7": lambda c, affine=True, groups=1: SepConv(c, 7, affine, groups),
}
