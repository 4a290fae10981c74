"""Multi-stage temporal convolutional networks (MS-TCN, MS-TCN++) built from a :class:`StructureSpec`.

Module names follow the G2L code (``stages.S.layers.L.conv_dilated``), so a G2L config key is the path of the
convolution it sets. Every layer multiplies its output by the frame mask, so padded frames never leak into real ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl.structure import LayerSpec, StageSpec, StructureSpec


def _dilated_conv(in_ch: int, out_ch: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    # Odd kernels with symmetric padding keep the sequence length.
    return nn.Conv1d(in_ch, out_ch, kernel_size, padding=dilation * (kernel_size - 1) // 2, dilation=dilation)


class DilatedResidualLayer(nn.Module):
    """MS-TCN's layer: ``x + dropout(conv1x1(relu(conv_dilated(x))))``, masked; a 1x1 shortcut when widths differ."""

    def __init__(self, in_channels: int, spec: LayerSpec, dropout: float) -> None:
        super().__init__()
        self.conv_dilated = _dilated_conv(in_channels, spec.channels, spec.kernel_size, spec.dilation)
        self.conv_1x1 = nn.Conv1d(spec.channels, spec.channels, 1)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = nn.Conv1d(in_channels, spec.channels, 1) if in_channels != spec.channels else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv_1x1(F.relu(self.conv_dilated(x))))
        return (self.shortcut(x) + out) * mask


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
LAYER_TYPES: dict[str, type[nn.Module]] = {"conv": DilatedResidualLayer, "dual_conv": DualDilatedResidualLayer}


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
