"""What NAS-TC (Ren et al., Fig. 4a) and Timeception share: channel groups, their shuffle, and the classifier
around the stacked temporal layers."""

from __future__ import annotations

import abc

import torch
from torch import nn

from g2l_automl._checks import check_int, check_real
from g2l_automl.errors import StructureError

__all__ = ["TemporalNetwork", "channel_shuffle", "group_major", "node_channels"]


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


class TemporalNetwork(nn.Module, abc.ABC):
    """What NAS-TC and Timeception share (Fig. 4a): a 1x1 projection of the ``input_dim`` features to
    ``channels``, the stacked TC layers (``self.layers``, built by the subclass), a global max over time and an
    MLP classifier (dropout, linear, ReLU, dropout, linear) to ``num_classes`` logits. The head has no batch
    norm, so a last batch of one video still trains."""

    def __init__(self, input_dim: int, num_classes: int, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("num_classes", num_classes), ("channels", channels)):
            check_int(value, name, error=StructureError)
        check_int(hidden, "hidden", error=StructureError)
        check_real(dropout, "dropout", 0.0, 1.0, open_high=True, error=StructureError)
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
