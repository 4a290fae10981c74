"""Multi-dilated convolutions: G2L's shared-weight layer (Eq. 4-5) and the DARTS baseline with separate weights."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl.egi._kernel import load_kernel

#: Normalisations of the importance weights into a PMF over dilations (Eq. 4 and the ablation of Table 7).
NORMALIZATIONS: tuple[str, ...] = ("abs", "softmax", "sigmoid")
#: Initial importance weight (the official code's 0.01: a uniform PMF under every normalisation).
INIT_IMPORTANCE = 0.01


def _check_dilations(dilations: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(d) for d in dilations)
    if not out or any(d < 1 for d in out) or any(int(d) != d for d in dilations):
        raise ValueError(f"dilations: need one or more integers >= 1, got {tuple(dilations)}")
    return out


def normalize_importance(weights: torch.Tensor, normalize: str) -> torch.Tensor:
    """PMF of importance weights: ``|w| / sum |w|`` (Eq. 4), ``softmax(w)``, or ``sigmoid(w) / sum sigmoid(w)``."""
    if normalize == "abs":
        magnitude = weights.abs()
        return magnitude / magnitude.sum().clamp_min(torch.finfo(weights.dtype).tiny)
    if normalize == "softmax":
        return torch.softmax(weights, dim=0)
    if normalize == "sigmoid":
        gates = torch.sigmoid(weights)
        return gates / gates.sum()
    raise ValueError(f"normalize: unknown normalisation {normalize!r}; choose from {', '.join(NORMALIZATIONS)}")


def _pmf_vjp(weights: torch.Tensor, pmf: torch.Tensor, grad: torch.Tensor, normalize: str | None) -> torch.Tensor:
    """The importance weights' gradient from the PMF's (what autograd through :func:`normalize_importance` gives,
    without its small ops): with ``c = grad - <grad, pmf>``, ``sign(w) c / sum |w|`` (abs), ``pmf c`` (softmax),
    ``(1 - sigmoid(w)) pmf c`` (sigmoid); None: the coefficients are the weights."""
    if normalize is None:
        return grad
    centred = grad - torch.dot(grad, pmf)
    if normalize == "abs":
        total = weights.abs().sum().clamp_min(torch.finfo(weights.dtype).tiny)
        return torch.sign(weights) * centred / total
    if normalize == "softmax":
        return pmf * centred
    return (1.0 - torch.sigmoid(weights)) * pmf * centred


def _shift_pairs(length: int, shift: int) -> tuple[slice, slice]:
    """(destination, source) slices so that ``dst[t] = src[t + shift]`` where ``0 <= t + shift < length``."""
    if shift >= 0:
        return slice(0, max(length - shift, 0)), slice(shift, length)
    return slice(-shift, length), slice(0, max(length + shift, 0))


def _mix_taps(x: torch.Tensor, alpha: list[float], dilations: tuple[int, ...], kernel_size: int) -> torch.Tensor:
    """``z[:, :, k] = sum_i alpha_i * shift(x, (k - c) * d_i)`` with zero padding, shape ``(B, C, K, T)`` (channel
    major, so the ``(O, C, K)`` kernel is a ``(O, C*K)`` GEMM operand without a copy); the centre tap is
    ``x * sum(alpha)``."""
    batch, channels, length = x.shape
    c = kernel_size // 2
    z = x.new_empty(batch, channels, kernel_size, length)
    for k in range(kernel_size):
        tap = z[:, :, k]
        if k == c:
            torch.mul(x, sum(alpha), out=tap)
            continue
        # the smallest shift covers the most frames: it writes first, the frames it cannot reach are zeroed
        order = sorted(range(len(dilations)), key=lambda i: dilations[i])
        first = order[0]
        dst, src = _shift_pairs(length, (k - c) * dilations[first])
        torch.mul(x[..., src], alpha[first], out=tap[..., dst])
        tap[..., : dst.start].zero_()
        tap[..., dst.stop :].zero_()
        for i in order[1:]:
            dst, src = _shift_pairs(length, (k - c) * dilations[i])
            tap[..., dst].add_(x[..., src], alpha=alpha[i])
    return z


def _compiled_for(x: torch.Tensor) -> ModuleType | None:
    """The compiled mixing kernel when it serves ``x`` (CPU float32/float64), else None (the Python form)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    return load_kernel()


def _shared_mm(matrix: torch.Tensor, batch: torch.Tensor, column: torch.Tensor | None = None) -> torch.Tensor:
    """``column + matrix @ batch[b]`` for every b (``column``: ``(rows, 1)`` or None), one GEMM per video into one
    output. ``torch.matmul`` of a 2-D and a 3-D operand may fold the batch into one GEMM by transposing copies of
    the 3-D operand and of the result, which at B=4, T=5000 cost twice the GEMM itself."""
    out = batch.new_empty(batch.shape[0], matrix.shape[0], batch.shape[2])
    for b in range(batch.shape[0]):
        if column is None:
            torch.mm(matrix, batch[b], out=out[b])
        else:
            torch.addmm(column, matrix, batch[b], out=out[b])
    return out


class _FusedMultiDilated(torch.autograd.Function):
    """Shared-kernel multi-dilated convolution as one GEMM over PMF-mixed taps, with a hand-written backward
    (autograd through the shifted slices would allocate a padded gradient per slice). ``weight`` is ``(O, C*K)``;
    the bias term ``bias * sum(alpha)`` rides in the GEMM's accumulator (no separate pass over the output). The
    coefficients ``alpha`` are ``normalize_importance(importance, normalize)``, computed here with their gradient
    (:func:`_pmf_vjp`), or ``importance`` itself when ``normalize`` is None."""

    @staticmethod
    def forward(ctx, x, weight, bias, importance, normalize, dilations):  # noqa: ANN001, ANN205
        kernel_size = weight.shape[1] // x.shape[1]
        with torch.no_grad():
            alpha = importance if normalize is None else normalize_importance(importance, normalize)
            alpha = alpha.to(x.dtype)
        coeffs = alpha.tolist()
        kernel = _compiled_for(x)
        if kernel is not None:
            x = x.contiguous()
            z = kernel.mix_forward(x, coeffs, list(dilations), kernel_size)
        else:
            z = _mix_taps(x, coeffs, dilations, kernel_size)
        ctx.save_for_backward(x, weight, z, bias, importance, alpha)
        ctx.coeffs, ctx.dilations, ctx.kernel_size, ctx.kernel = coeffs, dilations, kernel_size, kernel
        ctx.normalize = normalize
        column = None if bias is None else (bias.detach() * sum(coeffs)).unsqueeze(1)
        return _shared_mm(weight, z.flatten(1, 2), column)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        x, weight, z, bias, importance, alpha = ctx.saved_tensors
        coeffs, dilations, kernel_size = ctx.coeffs, ctx.dilations, ctx.kernel_size
        grad_x = grad_w = grad_b = grad_alpha = None
        batch, channels, length = x.shape
        grad_out = grad_out.to(z.dtype).contiguous()  # under autocast the forward's GEMM ran in bf16/fp16
        need_x, need_w, need_b, need_alpha = ctx.needs_input_grad[:4]
        if need_w:
            flat = z.flatten(1, 2)
            grad_w = torch.mm(grad_out[0], flat[0].t())  # BLAS reads the transposed view in place
            for b in range(1, batch):
                grad_w.addmm_(grad_out[b], flat[b].t())
        # d(bias * sum(alpha)) : the bias gets sum(alpha) * sum_{b,t} grad_out, every alpha_s gets bias . that sum
        out_sum = grad_out.sum((0, 2)) if bias is not None and (need_b or need_alpha) else None
        if need_b:
            grad_b = out_sum * sum(coeffs)
        if need_x or need_alpha:
            grad_z = _shared_mm(weight.t(), grad_out)
            grad_z = grad_z.view(batch, channels, kernel_size, length)
            if ctx.kernel is not None:
                grad_x, grad_alpha = ctx.kernel.mix_backward(grad_z, x, coeffs, list(dilations), need_x, need_alpha)
                grad_x = grad_x if need_x else None
                grad_alpha = grad_alpha.to(z.dtype) if need_alpha else None
            else:
                grad_x, grad_alpha = _mix_taps_adjoint(grad_z, x, coeffs, dilations, need_x, need_alpha)
            if need_alpha and out_sum is not None:
                grad_alpha = grad_alpha + torch.dot(bias.to(out_sum.dtype), out_sum)
        if need_alpha:
            grad_alpha = _pmf_vjp(
                importance, alpha.to(importance.dtype), grad_alpha.to(importance.dtype), ctx.normalize
            )
        return grad_x, grad_w, grad_b, grad_alpha, None, None


def _mix_taps_adjoint(
    grad_z: torch.Tensor,
    x: torch.Tensor,
    coeffs: list[float],
    dilations: tuple[int, ...],
    need_x: bool,
    need_alpha: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The Python form of the compiled ``mix_backward``: the input's and the coefficients' gradients of
    :func:`_mix_taps` given ``grad_z`` of shape ``(B, C, K, T)``."""
    kernel_size, length = grad_z.shape[2], grad_z.shape[3]
    c = kernel_size // 2
    grad_x = grad_alpha = None
    if need_x:
        grad_x = grad_z[:, :, c] * sum(coeffs)
        for k in range(kernel_size):
            if k == c:
                continue
            for a, d in zip(coeffs, dilations, strict=True):
                dst, src = _shift_pairs(length, (k - c) * d)
                grad_x[..., src].add_(grad_z[:, :, k, dst], alpha=a)
    if need_alpha:
        centre = torch.linalg.vecdot(grad_z[:, :, c], x).sum()
        parts = []
        for d in dilations:
            total = centre
            for k in range(kernel_size):
                if k == c:
                    continue
                dst, src = _shift_pairs(length, (k - c) * d)
                total = total + torch.linalg.vecdot(grad_z[:, :, k, dst], x[..., src]).sum()
            parts.append(total)
        grad_alpha = torch.stack(parts)
    return grad_x, grad_alpha


class MultiDilatedConv1d(nn.Module):
    """``y = sum_i PMF_i * conv(x, theta, d_i)`` with one kernel ``theta`` shared by all dilations (G2L Eq. 5).

    Because the kernel is shared, the S convolutions equal one convolution whose tap ``k`` reads the PMF-mixed
    input ``z_k = sum_i PMF_i * shift(x, (k - c) * d_i)``; the layer computes that (``fused=True``, the cost of about
    one convolution) or, for checking, the S convolutions themselves (``fused=False``). The padding keeps the
    length ("same"), as MS-TCN's dilated convolutions.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv1d`` (odd kernel).
        dilations: the candidate dilations ``T_l`` (repeats allowed: they share their mass).
        normalize: ``abs`` (Eq. 4), ``softmax`` or ``sigmoid`` (Table 7).
        fused: compute the fused form.

    Example:
        >>> layer = MultiDilatedConv1d(8, 8, 3, dilations=(3, 4, 5))
        >>> layer(torch.randn(2, 8, 40)).shape
        torch.Size([2, 8, 40])
        >>> [round(p, 4) for p in layer.pmf().tolist()], round(layer.expected_dilation(), 4)
        ([0.3333, 0.3333, 0.3333], 4.0)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1,),
        normalize: str = "abs",
        fused: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd, got {kernel_size}")
        normalize_importance(torch.zeros(1), normalize)  # validates the name
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.normalize, self.fused = normalize, fused
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, bias=bias)  # PyTorch's default initialisation
        self.weight = conv.weight
        self.bias = conv.bias
        self.dilations: tuple[int, ...] = _check_dilations(dilations)
        self.importance = nn.Parameter(torch.full((len(self.dilations),), INIT_IMPORTANCE))

    def set_dilations(self, dilations: Sequence[int]) -> None:
        """New candidates; the importance weights restart uniform (Alg. 2), the shared kernel is kept. The
        importance parameter stays the same object (an optimiser keeps it; resetting its state is the caller's)."""
        self.dilations = _check_dilations(dilations)
        with torch.no_grad():
            self.importance.data = torch.full(
                (len(self.dilations),), INIT_IMPORTANCE, device=self.weight.device, dtype=self.importance.dtype
            )

    def pmf(self) -> torch.Tensor:
        """The PMF over :attr:`dilations` (Eq. 4)."""
        return normalize_importance(self.importance, self.normalize)

    def expected_dilation(self) -> float:
        """``sum_i PMF_i * d_i`` (Eq. 6 before rounding)."""
        with torch.no_grad():
            pmf = self.pmf().double().cpu()
        return float((pmf * torch.tensor(self.dilations, dtype=torch.float64)).sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            weight = self.weight.to(x.dtype).reshape(self.out_channels, -1)  # (O, C*K): a view, no copy
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return _FusedMultiDilated.apply(x, weight, bias, self.importance, self.normalize, self.dilations)
        return self._naive(x, self.pmf().to(x.dtype))

    def _naive(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        out = 0
        for a, d in zip(alpha, self.dilations, strict=True):
            pad = d * (self.kernel_size - 1) // 2
            out = out + a * F.conv1d(x, self.weight, self.bias, padding=pad, dilation=d)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, dilations={self.dilations}, "
            f"normalize={self.normalize!r}, fused={self.fused}"
        )


class DartsDilatedConv1d(nn.Module):
    """The DARTS baseline (Table 4): one convolution per dilation with its own weights, mixed by
    ``softmax(alpha)``; decoding takes the argmax.

    Example:
        >>> layer = DartsDilatedConv1d(8, 8, 3, dilations=(2, 4))
        >>> layer(torch.randn(1, 8, 30)).shape, layer.decode()
        (torch.Size([1, 8, 30]), 2)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1,)):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.dilations = _check_dilations(dilations)
        self.branches = nn.ModuleList(self._conv(d) for d in self.dilations)
        self.alpha = nn.Parameter(torch.zeros(len(self.dilations)))

    def _conv(self, d: int) -> nn.Conv1d:
        pad = d * (self.kernel_size - 1) // 2
        return nn.Conv1d(self.in_channels, self.out_channels, self.kernel_size, padding=pad, dilation=d)

    def pmf(self) -> torch.Tensor:
        return torch.softmax(self.alpha, dim=0)

    def decoded_branch(self) -> int:
        """Index of the largest architecture weight."""
        return int(torch.argmax(self.alpha.detach()))

    def decode(self) -> int:
        """The dilation of the largest architecture weight."""
        return self.dilations[self.decoded_branch()]

    def set_dilations(self, dilations: Sequence[int]) -> None:
        """New candidates; every branch starts from the decoded branch's weights, alpha restarts at zero. Existing
        branches are re-dilated in place (their parameters stay the same objects, so an optimiser keeps them)."""
        dilations = _check_dilations(dilations)
        decoded = self.branches[self.decoded_branch()]
        best = {k: v.clone() for k, v in decoded.state_dict().items()}
        branches = list(self.branches[: len(dilations)])
        branches += [self._conv(1).to(decoded.weight) for _ in range(len(dilations) - len(branches))]
        for conv, d in zip(branches, dilations, strict=True):
            conv.dilation, conv.padding = (d,), (d * (self.kernel_size - 1) // 2,)
            conv.load_state_dict(best)
        self.dilations = dilations
        self.branches = nn.ModuleList(branches)
        with torch.no_grad():
            self.alpha.data = torch.zeros(len(self.dilations), device=self.alpha.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.pmf().to(x.dtype)
        out = 0
        for a, conv in zip(alpha, self.branches, strict=True):
            out = out + a * conv(x)
        return out
