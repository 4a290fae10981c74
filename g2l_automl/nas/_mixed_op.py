"""The relaxed choice between candidate ops, shared by Video-NAS (Eq. 3) and NAS-TC / Temp-DARTS (eq. 1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from g2l_automl.errors import StructureError

__all__ = ["MixedOp"]


class MixedOp(nn.Module):
    """``sum_o w_o * o(x)`` over named candidate ops, each with its own weights.

    ``weights`` (the softmax of one row of architecture parameters) has one entry per name of ``columns``
    (default: the ops' own order); a column without a module (NAS-TC's ``zero`` op) adds nothing, so it is not run.

    Example:
        >>> op = MixedOp({"a": nn.Identity(), "b": nn.Identity()}, columns=("zero", "a", "b"))
        >>> op(torch.ones(2), torch.tensor([0.5, 0.3, 0.2])).tolist()
        [0.5, 0.5]
    """

    def __init__(self, ops: Mapping[str, nn.Module], columns: Sequence[str] | None = None) -> None:
        super().__init__()
        self.names = tuple(ops)
        columns = self.names if columns is None else tuple(columns)
        missing = [name for name in self.names if name not in columns]
        if not self.names or missing:
            raise StructureError(f"MixedOp: ops {list(self.names)} must be a non-empty subset of {list(columns)}")
        self.ops = nn.ModuleList(ops.values())
        self._index = [columns.index(name) for name in self.names]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(weights[i] * op(x) for i, op in zip(self._index, self.ops, strict=True))
