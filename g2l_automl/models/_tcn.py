"""Multi-stage temporal convolutional networks (MS-TCN, MS-TCN++) built from a :class:`StructureSpec`.

Module names follow the G2L code (``stages.S.layers.L.conv_dilated``), so a G2L config key is the path of the
convolution it sets. Every layer multiplies its output by the frame mask, so padded frames never leak into real ones.
"""

from __future__ import annotations

import abc

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl.models._evanet_ops import POOL_KINDS, Conv2Plus1d, TemporalPool1d
from g2l_automl.models._tgm import TemporalGaussianMixture1d, default_gaussians
from g2l_automl.structure import LayerSpec, StageSpec, StructureSpec


def _dilated_conv(in_ch: int, out_ch: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    # Odd kernels with symmetric padding keep the sequence length.
    return nn.Conv1d(in_ch, out_ch, kernel_size, padding=dilation * (kernel_size - 1) // 2, dilation=dilation)


class SeparableConv1d(nn.Module):
    """A depthwise-separable temporal convolution: a depthwise temporal convolution (one length-``kernel_size``
    filter per input channel, dilated) followed by a pointwise ``in -> out`` convolution, ``L C_in + C_in C_out``
    weights. It is *not* EvaNet's (2+1)D layer, whose temporal convolution is a full ``L x C_out x C_out`` one
    (:class:`~g2l_automl.models.Conv2Plus1d`, op ``conv2plus1d``).

    Example:
        >>> conv = SeparableConv1d(8, 16, kernel_size=5, dilation=2)
        >>> tuple(conv(torch.randn(1, 8, 30)).shape), conv.dilation
        ((1, 16, 30), (2,))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(
            in_channels,
            in_channels,
            kernel_size,
            padding=dilation * (kernel_size - 1) // 2,
            dilation=dilation,
            groups=in_channels,
        )
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1)
        self.kernel_size, self.dilation = (kernel_size,), (dilation,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def temporal_op(op: str, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> nn.Module:
    """The length-keeping temporal module of a branch op: ``conv`` (a plain Conv1d, dilated when ``dilation > 1``),
    ``conv2plus1d`` (EvaNet's (2+1)D, :class:`Conv2Plus1d`), ``sep_conv`` (:class:`SeparableConv1d`), ``tgm``
    (:class:`TemporalGaussianMixture1d` with ``L = kernel_size``, ``M = min(4, L)`` and a bias like the
    convolutions'), ``max_pool`` or ``avg_pool`` (:class:`TemporalPool1d`: pooling, then a 1x1 convolution)."""
    if op == "conv":
        return _dilated_conv(in_channels, out_channels, kernel_size, dilation)
    if op == "conv2plus1d":
        return Conv2Plus1d(in_channels, out_channels, kernel_size, dilation)
    if op in POOL_KINDS:
        return TemporalPool1d(POOL_KINDS[op], in_channels, out_channels, kernel_size, dilation)
    if op == "sep_conv":
        return SeparableConv1d(in_channels, out_channels, kernel_size, dilation)
    if op == "tgm":
        return TemporalGaussianMixture1d(
            in_channels, out_channels, kernel_size, default_gaussians(kernel_size), dilation, bias=True
        )
    raise ValueError(
        f"op: no temporal module for {op!r}; choose conv, conv2plus1d, sep_conv, tgm, max_pool or avg_pool"
    )


class ParallelTemporal(nn.Module):
    """EvaNet's module of parallel temporal layers (Sec. 4.1-4.2, Fig. 5): every branch sees the input with its
    own op and kernel length (all at the same dilation); the outputs are averaged. A pooling branch carries its
    own 1x1 convolution after the pooling (Sec. 5.2); the other branches take the module input directly.

    Example:
        >>> module = ParallelTemporal(8, 8, [("conv", 3), ("tgm", 9), ("sep_conv", 5)], dilation=2)
        >>> tuple(module(torch.randn(1, 8, 40)).shape), len(module.branches)
        ((1, 8, 40), 3)
    """

    def __init__(self, in_channels: int, out_channels: int, branches: list[tuple[str, int]], dilation: int) -> None:
        super().__init__()
        if not branches:
            raise ValueError("branches: a parallel module needs at least one branch")
        self.branches = nn.ModuleList(temporal_op(op, in_channels, out_channels, k, dilation) for op, k in branches)
        self.kernel_size, self.dilation = (max(k for _, k in branches),), (dilation,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([branch(x) for branch in self.branches]).mean(dim=0)


class _ResidualLayer(nn.Module, abc.ABC):
    """MS-TCN's residual tail around a temporal module: ``x + dropout(conv1x1(relu(conv_dilated(x))))``, masked; a
    1x1 shortcut when widths differ. Subclasses build ``conv_dilated``."""

    def __init__(self, in_channels: int, spec: LayerSpec, dropout: float) -> None:
        super().__init__()
        self.conv_dilated = self._temporal(in_channels, spec)
        self.conv_1x1 = nn.Conv1d(spec.channels, spec.channels, 1)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = nn.Conv1d(in_channels, spec.channels, 1) if in_channels != spec.channels else nn.Identity()

    @abc.abstractmethod
    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        """The temporal module of the layer."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv_1x1(F.relu(self.conv_dilated(x))))
        return (self.shortcut(x) + out) * mask


class DilatedResidualLayer(_ResidualLayer):
    """MS-TCN's layer: ``x + dropout(conv1x1(relu(conv_dilated(x))))``, masked; a 1x1 shortcut when widths differ."""

    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        return _dilated_conv(in_channels, spec.channels, spec.kernel_size, spec.dilation)


class SeparableResidualLayer(_ResidualLayer):
    """``sep_conv``: MS-TCN's residual layer around a :class:`SeparableConv1d` (the layer's kernel and dilation)."""

    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        return SeparableConv1d(in_channels, spec.channels, spec.kernel_size, spec.dilation)


class TGMResidualLayer(_ResidualLayer):
    """``tgm``: MS-TCN's residual layer around a :class:`TemporalGaussianMixture1d` with ``L`` the layer's kernel
    size, its dilation and ``M = min(4, L)``."""

    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        return temporal_op("tgm", in_channels, spec.channels, spec.kernel_size, spec.dilation)


class OpResidualLayer(_ResidualLayer):
    """``conv2plus1d``, ``max_pool``, ``avg_pool``: MS-TCN's residual layer around the op's
    :func:`temporal_op` (the layer's kernel length and dilation)."""

    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        return temporal_op(spec.op, in_channels, spec.channels, spec.kernel_size, spec.dilation)


class ParallelResidualLayer(_ResidualLayer):
    """``parallel``: MS-TCN's residual layer around a :class:`ParallelTemporal` module of the spec's branches."""

    def _temporal(self, in_channels: int, spec: LayerSpec) -> nn.Module:
        assert spec.branches is not None
        return ParallelTemporal(in_channels, spec.channels, list(spec.branches), spec.dilation)


class DualDilatedResidualLayer(nn.Module):
    """MS-TCN++'s prediction-generation layer: two dilated convs, concatenated, fused by a 1x1 conv, ReLU."""

    def __init__(self, in_channels: int, spec: LayerSpec, dropout: float) -> None:
        super().__init__()
        assert spec.dilation2 is not None
        self.conv_dilated_1 = _dilated_conv(in_channels, spec.channels, spec.kernel_size, spec.dilation)
        self.conv_dilated_2 = _dilated_conv(in_channels, spec.channels, spec.kernel_size, spec.dilation2)
        self.conv_fusion = nn.Conv1d(2 * spec.channels, spec.channels, 1)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = nn.Conv1d(in_channels, spec.channels, 1) if in_channels != spec.channels else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.conv_fusion(torch.cat([self.conv_dilated_1(x), self.conv_dilated_2(x)], dim=1))
        return (self.shortcut(x) + self.dropout(F.relu(out))) * mask


#: op name -> layer class; later op types register here.
LAYER_TYPES: dict[str, type[nn.Module]] = {
    "conv": DilatedResidualLayer,
    "dual_conv": DualDilatedResidualLayer,
    "conv2plus1d": OpResidualLayer,
    "max_pool": OpResidualLayer,
    "avg_pool": OpResidualLayer,
    "sep_conv": SeparableResidualLayer,
    "tgm": TGMResidualLayer,
    "parallel": ParallelResidualLayer,
}


class Stage(nn.Module):
    """One stage: 1x1 input projection, the spec's layers, 1x1 classifier."""

    def __init__(self, spec: StageSpec, in_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.conv_1x1 = nn.Conv1d(in_dim, spec.layers[0].channels, 1)
        layers, width = [], spec.layers[0].channels
        for layer in spec.layers:
            layers.append(LAYER_TYPES[layer.op](width, layer, dropout))
            width = layer.channels
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Conv1d(width, num_classes, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Masking the projection too makes padded frames exactly zero everywhere, so a video's predictions do not
        # depend on the batch it is padded into.
        out = self.conv_1x1(x) * mask
        for layer in self.layers:
            out = layer(out, mask)
        return self.conv_out(out) * mask


class MultiStageTCN(nn.Module):
    """A multi-stage TCN; ``forward`` returns the logits of every stage, shape ``(stages, batch, classes, time)``.

    Example:
        >>> spec = StructureSpec.mstcn(num_stages=2, num_layers=3, channels=8)
        >>> model = MultiStageTCN(spec, input_dim=16, num_classes=5)
        >>> x, mask = torch.randn(2, 16, 50), torch.ones(2, 1, 50)
        >>> tuple(model(x, mask).shape)
        (2, 2, 5, 50)
    """

    def __init__(self, spec: StructureSpec, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.stages = nn.ModuleList(
            Stage(stage, input_dim if s == 0 else num_classes, num_classes, spec.dropout)
            for s, stage in enumerate(spec.stages)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, input_dim, time)`` features; ``mask``: ``(batch, 1, time)``, 1 on real frames."""
        out = self.stages[0](x, mask)
        outputs = [out]
        for stage in self.stages[1:]:
            out = stage(F.softmax(out, dim=1) * mask, mask)
            outputs.append(out)
        return torch.stack(outputs, dim=0)


def build_model(spec: StructureSpec, input_dim: int, num_classes: int, seed: int | None = None) -> MultiStageTCN:
    """Build the model for ``spec``; with ``seed`` the initial weights are reproducible and the caller's global
    torch RNG state is left untouched."""
    if seed is None:
        return MultiStageTCN(spec, input_dim, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MultiStageTCN(spec, input_dim, num_classes)
