"""EvaNet's (2+1)D layer and space-time pooling for 1-D feature sequences (Piergiovanni et al., ICCV 2019, Sec. 3
and 4.1).

Our inputs are ``(batch, C, T)`` feature sequences with no spatial axes, so a spatial ``H x W`` kernel becomes a
pointwise (1x1) one and space-time pooling becomes temporal pooling. Both modules keep the length ``T`` (stride 1,
odd length ``L``, symmetric padding of ``dilation * (L - 1) / 2`` frames) and treat frames outside the sequence as
zeros, as the convolutions do: a video padded into a batch (padding frames zero, as every layer's masked input is)
gives exactly the output it gives alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl._checks import check_choice, check_int
from g2l_automl.errors import ParameterError

#: Temporal pooling kinds of :class:`TemporalPool1d`, by op name.
POOL_KINDS: dict[str, str] = {"max_pool": "max", "avg_pool": "avg"}


def _check_geometry(kernel_size: int, dilation: int) -> None:
    if check_int(kernel_size, "kernel_size") % 2 == 0:
        raise ParameterError(f"kernel_size: must be an odd integer >= 1, got {kernel_size!r}")
    check_int(dilation, "dilation")


class Conv2Plus1d(nn.Module):
    """EvaNet's (2+1)D layer (Sec. 3): a "spatial" convolution, here pointwise ``C_in -> C_out``, then a *full*
    temporal convolution of length ``L`` (``C_out -> C_out``, dilated), with a ReLU between them as in R(2+1)D.

    Parameters: ``C_in C_out + L C_out C_out`` (the paper's ``H W C_in C_out + L C_out C_out`` with ``H = W = 1``)
    plus ``C_out`` biases of the temporal convolution. The pointwise convolution has no bias, so padding frames stay
    zero through the ReLU and never reach real frames through the temporal convolution.

    Example:
        >>> conv = Conv2Plus1d(8, 16, kernel_size=5, dilation=2)
        >>> tuple(conv(torch.randn(1, 8, 30)).shape), sum(p.numel() for p in conv.parameters())
        ((1, 16, 30), 1424)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__()
        _check_geometry(kernel_size, dilation)
        self.spatial = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.temporal = nn.Conv1d(
            out_channels, out_channels, kernel_size, padding=dilation * (kernel_size - 1) // 2, dilation=dilation
        )
        self.kernel_size, self.dilation = (kernel_size,), (dilation,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal(F.relu(self.spatial(x)))


class TemporalPool1d(nn.Module):
    """EvaNet's space-time pooling on sequences (Sec. 4.1): temporal max or average pooling over ``L`` taps spaced
    ``dilation`` apart, stride 1, same length out, followed by the 1x1 convolution EvaNet inserts after every
    pooling layer (Sec. 5.2, as in the Inception module, Fig. 4), ``C_in -> C_out`` with a bias.

    Frames outside the sequence count as zeros (the convolutions' zero padding): a window near an end is averaged
    over ``L`` taps and a max there is at least 0. Parameters: ``C_in C_out + C_out`` (the 1x1 convolution only).

    Example:
        >>> pool = TemporalPool1d("max", 4, 4, kernel_size=3)
        >>> x = torch.tensor([[[1.0, -2.0, 5.0, 0.5, -1.0]]]).expand(1, 4, 5)
        >>> pool.pool(x)[0, 0].tolist()
        [1.0, 5.0, 5.0, 5.0, 0.5]
        >>> tuple(pool(x).shape)
        (1, 4, 5)
    """

    def __init__(self, kind: str, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__()
        check_choice(kind, "kind", ("max", "avg"))
        _check_geometry(kernel_size, dilation)
        self.kind = kind
        self.kernel_size, self.dilation = (kernel_size,), (dilation,)
        self.padding = (dilation * (kernel_size - 1) // 2,)
        self.conv_1x1 = nn.Conv1d(in_channels, out_channels, 1)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The pooling alone: ``(B, C, T) -> (B, C, T)``."""
        (k,), (d,), (p,) = self.kernel_size, self.dilation, self.padding
        padded = F.pad(x, (p, p))
        if self.kind == "max":
            return F.max_pool1d(padded, k, stride=1, dilation=d)
        steps = x.shape[-1]
        return sum(padded[..., j * d : j * d + steps] for j in range(k)) / k  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_1x1(self.pool(x))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, kernel_size={self.kernel_size}, dilation={self.dilation}"
