"""EvaNet's temporal Gaussian mixture (TGM) layer for 1-D feature sequences (Piergiovanni et al., ICCV 2019, Sec. 3).

The inflated TGM layer of the paper learns a 2-D spatial kernel ``S`` and inflates it in time with a learned mixture
of Gaussians. Our inputs are feature sequences ``(batch, C_in, T)`` with no spatial axes, so the spatial kernel
becomes a pointwise ``C_out x C_in`` kernel and the inflated kernel a ``(C_out, C_in, L)`` temporal convolution whose
parameter count does not depend on ``L``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl._checks import check_int
from g2l_automl.errors import ParameterError

#: Gaussians per input channel used by the layer ops when M is not given: ``min(DEFAULT_GAUSSIANS, L)`` (the
#: paper only asks for M smaller than L; more Gaussians than taps add nothing).
DEFAULT_GAUSSIANS = 4


def default_gaussians(kernel_size: int) -> int:
    """M for a temporal kernel of length ``kernel_size``: ``min(4, L)``."""
    return min(DEFAULT_GAUSSIANS, kernel_size)


class TemporalGaussianMixture1d(nn.Module):
    """A temporal convolution whose kernel is a pointwise kernel inflated by a mixture of Gaussians (EvaNet Eq. 1-4).

    With ``M`` Gaussians per input channel ``c``, centres ``mu = (L - 1) (tanh(mu_hat) + 1) / 2`` and widths
    ``sigma^2 = exp(sigma_hat)`` (Eq. 1), each Gaussian is a length-``L`` kernel normalised to sum one
    ``K_hat[c, m, l] = exp(-(l - mu)^2 / (2 sigma^2)) / Z`` (Eq. 2); output channel ``i`` mixes them with soft
    attention ``K[i, c, l] = sum_m softmax(a_i)_m K_hat[c, m, l]`` (Eq. 3) and the kernel applied is
    ``k[i, c, l] = S[i, c] K[i, c, l]`` (Eq. 4), as a (dilated) convolution that keeps the sequence length.

    Learned parameters: ``weight`` S (``C_out x C_in``), ``mu_hat`` and ``sigma_hat`` (``C_in x M`` each) and
    ``a`` (``C_out x M``): the paper's ``2 M C_in + M C_out`` mixture parameters plus the kernel S, independent of
    L. ``bias=True`` adds ``C_out`` biases; it is off by default so the count is exactly the paper's.

    Args:
        in_channels, out_channels: C_in, C_out.
        kernel_size: L, the temporal length (odd, so that symmetric padding keeps the length).
        num_gaussians: M (default ``min(4, L)``).
        dilation: spacing of the kernel taps.
        bias: learn an output bias.

    Example:
        >>> layer = TemporalGaussianMixture1d(8, 16, kernel_size=9, num_gaussians=3)
        >>> tuple(layer(torch.randn(2, 8, 50)).shape), tuple(layer.temporal_kernel().shape)
        ((2, 16, 50), (16, 8, 9))
        >>> sum(p.numel() for p in layer.parameters()) == 8 * 16 + 2 * 3 * 8 + 3 * 16
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_gaussians: int | None = None,
        dilation: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("dilation", dilation)):
            check_int(value, name)
        if check_int(kernel_size, "kernel_size") % 2 == 0:
            raise ParameterError(f"kernel_size: must be an odd integer >= 1, got {kernel_size!r}")
        m = default_gaussians(kernel_size) if num_gaussians is None else check_int(num_gaussians, "num_gaussians")
        self.in_channels, self.out_channels, self.num_gaussians = in_channels, out_channels, m
        # Conv1d-style attributes, so code that reads a layer's temporal geometry treats both alike.
        self.kernel_size, self.dilation = (kernel_size,), (dilation,)
        self.padding = (dilation * (kernel_size - 1) // 2,)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.mu_hat = nn.Parameter(torch.empty(in_channels, m))
        self.sigma_hat = nn.Parameter(torch.empty(in_channels, m))
        self.a = nn.Parameter(torch.empty(out_channels, m))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """S as a 1x1 ``Conv1d``'s weight; centres spread evenly over the kernel; widths ``L / (2M)``; random
        mixing logits so output channels start with different temporal profiles."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        m, length = self.num_gaussians, self.kernel_size[0]
        with torch.no_grad():
            # centre (L - 1) (m + 0.5) / M  <=>  tanh(mu_hat) = 2 (m + 0.5) / M - 1, strictly inside (-1, 1)
            self.mu_hat.copy_(torch.atanh(2 * (torch.arange(m) + 0.5) / m - 1).expand_as(self.mu_hat))
            self.sigma_hat.fill_(2 * math.log(max(length / (2 * m), 0.5)))
            self.a.normal_(0.0, 0.5)
            if self.bias is not None:
                bound = 1 / math.sqrt(self.in_channels)
                self.bias.uniform_(-bound, bound)

    def centres(self) -> torch.Tensor:
        """mu of every Gaussian, ``(C_in, M)``, in ``[0, L - 1]`` (Eq. 1)."""
        return (self.kernel_size[0] - 1) * (torch.tanh(self.mu_hat) + 1) / 2

    def gaussians(self) -> torch.Tensor:
        """K_hat, ``(C_in, M, L)``: each Gaussian sampled at the taps and normalised to sum one (Eq. 2)."""
        taps = torch.arange(self.kernel_size[0], dtype=self.mu_hat.dtype, device=self.mu_hat.device)
        variance = torch.exp(self.sigma_hat).unsqueeze(-1)
        logits = -((taps - self.centres().unsqueeze(-1)) ** 2) / (2 * variance)
        return torch.softmax(logits, dim=-1)  # = exp(logits) / Z, computed stably

    def temporal_kernel(self) -> torch.Tensor:
        """K, ``(C_out, C_in, L)``: the Gaussians mixed per output channel by ``softmax(a_i)`` (Eq. 3)."""
        return torch.einsum("im,cml->icl", torch.softmax(self.a, dim=-1), self.gaussians())

    def kernel(self) -> torch.Tensor:
        """The inflated kernel ``k = S * K``, ``(C_out, C_in, L)`` (Eq. 4)."""
        return self.weight.unsqueeze(-1) * self.temporal_kernel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.kernel(), self.bias, padding=self.padding, dilation=self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"num_gaussians={self.num_gaussians}, dilation={self.dilation}, bias={self.bias is not None}"
        )
