"""The discrete Video-NAS network on feature sequences (Zhou et al., Sec. 3.1, Fig. 1, Table 2).

A network maps ``(batch, D, T)`` features to ``(batch, classes)`` logits: a stem (1x1 conv ``D -> C0`` + BN +
ReLU, not searched), then stages of one *head* layer (temporal conv k=3, stride 2: halves ``T``, changes the
width; BN, ReLU) followed by *stack* layers, then global average pooling, dropout and a linear classifier. A stack
layer is one of :data:`~g2l_automl.structure.VIDEONAS_OPS`: the (2+1)D basic block of Video-NAS (Fig. 1) reduced to
features -- a pointwise "spatial" conv + BN + ReLU, a temporal conv k=3 with dilation 1, 2 or 4 + BN, a residual
add and ReLU -- or ``skip`` (identity), so a stage's depth is its number of non-skip layers (Table 2). The layers
are shared with the relaxed network, :class:`~g2l_automl.nas.VideoNASSupernet`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError
from g2l_automl.structure import VIDEONAS_DILATIONS, VIDEONAS_OPS, VideoNASArch

__all__ = ["BasicOp", "VideoNASNet", "build_videonas", "head_layer", "stack_layer", "stage_lengths", "stem_layer"]


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
    )


def stem_layer(input_dim: int, channels: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU (the unsearched first stage)."""
    return _conv_bn_relu(input_dim, channels, 1)


def head_layer(cin: int, cout: int) -> nn.Sequential:
    """Temporal conv k=3, stride 2 (``T -> ceil(T / 2)``) + BN + ReLU: a stage's downsampling width change."""
    return _conv_bn_relu(cin, cout, 3, stride=2)


class BasicOp(nn.Module):
    """The (2+1)D basic block on features: ``relu(x + BN(tconv_d(relu(BN(pw(x))))))``, a pointwise "spatial"
    conv then a temporal conv of kernel 3 and dilation ``d`` (length kept)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.spatial = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.temporal = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.spatial(x)))
        return F.relu(x + self.bn2(self.temporal(h)))


def stack_layer(op: str, channels: int) -> nn.Module:
    """The module of stack op ``op`` (:data:`~g2l_automl.structure.VIDEONAS_OPS`)."""
    if op == "skip":
        return nn.Identity()
    if op not in VIDEONAS_DILATIONS:
        raise StructureError(f"op: unknown op {op!r}; choose from {', '.join(VIDEONAS_OPS)}")
    return BasicOp(channels, VIDEONAS_DILATIONS[op])


def stage_lengths(steps: int, num_stages: int) -> list[int]:
    """Time steps after the stem and after each stage's stride-2 head: ``[T, ceil(T/2), ...]``."""
    lengths = [steps]
    for _ in range(num_stages):
        lengths.append(math.ceil(lengths[-1] / 2))
    return lengths


class VideoNASNet(nn.Module):
    """The discrete network of a :class:`~g2l_automl.structure.VideoNASArch`.

    Parameter names: ``stem``, ``stages.{s}.0`` (the head of stage ``s``), ``stages.{s}.{l + 1}`` (stack layer
    ``l``), ``classifier`` -- :meth:`~g2l_automl.nas.VideoNASSupernet.inherited_state` maps a supernet onto them.

    Example:
        >>> arch = VideoNASArch(8, (16, 24), (("dil1", "skip"), ("dil2",)))
        >>> net = VideoNASNet(arch, input_dim=4, num_classes=3)
        >>> tuple(net(torch.zeros(2, 4, 16)).shape)
        (2, 3)
    """

    def __init__(self, arch: VideoNASArch, input_dim: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        check_int(input_dim, "input_dim", error=StructureError)
        check_int(num_classes, "num_classes", error=StructureError)
        self.arch = arch
        self.stem = stem_layer(input_dim, arch.stem_channels)
        stages, cin = [], arch.stem_channels
        for width, ops in zip(arch.widths, arch.ops, strict=True):
            stages.append(nn.Sequential(head_layer(cin, width), *(stack_layer(op, width) for op in ops)))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return self.classifier(self.dropout(h.mean(dim=-1)))


def build_videonas(
    arch: VideoNASArch, input_dim: int, num_classes: int, dropout: float = 0.5, seed: int | None = 0
) -> VideoNASNet:
    """:class:`VideoNASNet` with weights drawn under ``seed`` (the caller's RNG state is kept)."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return VideoNASNet(arch, input_dim, num_classes, dropout)
