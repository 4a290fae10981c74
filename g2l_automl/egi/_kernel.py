"""The shifted-tap mixing of the fused multi-dilated convolution as one compiled C++ pass (and its adjoint).

In Python the mixing is about 25 small tensor operations whose fixed cost (0.3-0.4 ms) exceeds the GEMM at
MS-TCN's lengths; compiled, it is one pass over the input per direction. The kernel is built once per machine with
PyTorch's own JIT extension builder (``torch.utils.cpp_extension.load_inline``: a C++ compiler and ``ninja``) into
``TORCH_EXTENSIONS_DIR`` and reused from there. Where it cannot be built, or with ``G2L_EGI_KERNEL=python``, the
layer uses the Python form, which computes the same numbers.
"""

from __future__ import annotations

import logging
import os
import threading
from types import ModuleType

_LOG = logging.getLogger(__name__)

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <vector>

// dst[t] += a * src[t + shift] for every t with 0 <= t + shift < T
template <typename scalar_t>
static inline void shifted_axpy(scalar_t* __restrict__ dst, const scalar_t* __restrict__ src, scalar_t a,
                                int64_t shift, int64_t T) {
  const int64_t lo = std::max<int64_t>(0, -shift), hi = std::min<int64_t>(T, T - shift);
#pragma omp simd
  for (int64_t t = lo; t < hi; ++t) dst[t] += a * src[t + shift];
}

// dst[t] = a * src[t + shift] where 0 <= t + shift < T, else 0
template <typename scalar_t>
static inline void shifted_assign(scalar_t* __restrict__ dst, const scalar_t* __restrict__ src, scalar_t a,
                                  int64_t shift, int64_t T) {
  const int64_t lo = std::min<int64_t>(T, std::max<int64_t>(0, -shift));
  const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(T, T - shift));
  std::fill(dst, dst + lo, scalar_t(0));
#pragma omp simd
  for (int64_t t = lo; t < hi; ++t) dst[t] = a * src[t + shift];
  std::fill(dst + hi, dst + T, scalar_t(0));
}

// z[r, k, t] = sum_s alpha_s * x[r, t + (k - c) d_s] (zero outside [0, T)); the centre tap is x * sum(alpha).
// The first candidate assigns (no separate zero fill), the others accumulate.
template <typename scalar_t>
static void mix_rows(const scalar_t* xp, scalar_t* zp, const std::vector<double>& alpha,
                     const std::vector<int64_t>& dil, int64_t K, int64_t T, int64_t begin, int64_t end) {
  const int64_t c = K / 2;
  double asum = 0;
  for (double a : alpha) asum += a;
  for (int64_t r = begin; r < end; ++r) {
    const scalar_t* xr = xp + r * T;
    for (int64_t k = 0; k < K; ++k) {
      scalar_t* zr = zp + (r * K + k) * T;
      if (k == c) {
        const scalar_t a = static_cast<scalar_t>(asum);
#pragma omp simd
        for (int64_t t = 0; t < T; ++t) zr[t] = a * xr[t];
        continue;
      }
      shifted_assign(zr, xr, static_cast<scalar_t>(alpha[0]), (k - c) * dil[0], T);
      for (size_t s = 1; s < alpha.size(); ++s)
        shifted_axpy(zr, xr, static_cast<scalar_t>(alpha[s]), (k - c) * dil[s], T);
    }
  }
}

// One pass over grad_z[r, k] for one candidate s (shift = (k - c) d_s): z read x[t + shift], so x[t + shift]
// receives alpha_s grad_z[t], and d z / d alpha_s contributes grad_z[t] x[t + shift]. Both use the same offsets.
template <typename scalar_t, bool NEED_X, bool NEED_ALPHA>
static inline scalar_t adjoint_pass(scalar_t* __restrict__ gx, const scalar_t* __restrict__ gk,
                                    const scalar_t* __restrict__ xr, scalar_t a, int64_t shift, int64_t T) {
  const int64_t lo = std::max<int64_t>(0, -shift), hi = std::min<int64_t>(T, T - shift);
  scalar_t acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t t = lo; t < hi; ++t) {
    const scalar_t g = gk[t];
    if (NEED_X) gx[t + shift] += a * g;
    if (NEED_ALPHA) acc += g * xr[t + shift];
  }
  return acc;
}

// The adjoint of mix_rows: grad_x[r, u] = sum_k sum_s alpha_s grad_z[r, k, u - (k - c) d_s], and per row
// partial[r, s] = sum_t grad_z[r, c, t] x[r, t] + sum_{k != c} sum_t grad_z[r, k, t] x[r, t + (k - c) d_s],
// in one pass over grad_z per (tap, candidate).
template <typename scalar_t, bool NEED_X, bool NEED_ALPHA>
static void adjoint_rows(const scalar_t* gp, const scalar_t* xp, scalar_t* gxp, double* pp,
                         const std::vector<double>& alpha, const std::vector<int64_t>& dil, int64_t K, int64_t T,
                         int64_t begin, int64_t end) {
  const int64_t c = K / 2, S = alpha.size();
  double asum = 0;
  for (double a : alpha) asum += a;
  std::vector<scalar_t> acc(S);
  for (int64_t r = begin; r < end; ++r) {
    const scalar_t* xr = xp + r * T;
    const scalar_t* gc = gp + (r * K + c) * T;
    scalar_t* gx = NEED_X ? gxp + r * T : nullptr;
    const scalar_t a = static_cast<scalar_t>(asum);
    scalar_t centre = 0;
#pragma omp simd reduction(+ : centre)
    for (int64_t t = 0; t < T; ++t) {
      if (NEED_X) gx[t] = a * gc[t];
      if (NEED_ALPHA) centre += gc[t] * xr[t];
    }
    std::fill(acc.begin(), acc.end(), centre);  // per-row sums in the input precision, rows summed in double
    for (int64_t k = 0; k < K; ++k) {
      if (k == c) continue;
      const scalar_t* gk = gp + (r * K + k) * T;
      for (int64_t s = 0; s < S; ++s)
        acc[s] += adjoint_pass<scalar_t, NEED_X, NEED_ALPHA>(gx, gk, xr, static_cast<scalar_t>(alpha[s]),
                                                              (k - c) * dil[s], T);
    }
    if (NEED_ALPHA)
      for (int64_t s = 0; s < S; ++s) pp[r * S + s] = static_cast<double>(acc[s]);
  }
}

torch::Tensor mix_forward(const torch::Tensor& x, const std::vector<double>& alpha, const std::vector<int64_t>& dil,
                          int64_t K) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "x must be a contiguous (B, C, T) tensor");
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2);
  auto z = torch::empty({B, C, K, T}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mix_forward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* zp = z.data_ptr<scalar_t>();
    at::parallel_for(0, B * C, 16, [&](int64_t begin, int64_t end) {
      mix_rows<scalar_t>(xp, zp, alpha, dil, K, T, begin, end);
    });
  });
  return z;
}

std::vector<torch::Tensor> mix_backward(const torch::Tensor& grad_z, const torch::Tensor& x,
                                        const std::vector<double>& alpha, const std::vector<int64_t>& dil,
                                        bool need_x, bool need_alpha) {
  TORCH_CHECK(grad_z.is_contiguous() && x.is_contiguous(), "contiguous tensors expected");
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), K = grad_z.size(2), S = alpha.size();
  auto grad_x = need_x ? torch::empty_like(x) : torch::Tensor();
  auto partial = need_alpha ? torch::empty({B * C, S}, x.options().dtype(torch::kDouble)) : torch::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mix_backward", [&] {
    const scalar_t* gp = grad_z.data_ptr<scalar_t>();
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* gxp = need_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    double* pp = need_alpha ? partial.data_ptr<double>() : nullptr;
    at::parallel_for(0, B * C, 16, [&](int64_t begin, int64_t end) {
      if (need_x && need_alpha)
        adjoint_rows<scalar_t, true, true>(gp, xp, gxp, pp, alpha, dil, K, T, begin, end);
      else if (need_x)
        adjoint_rows<scalar_t, true, false>(gp, xp, gxp, pp, alpha, dil, K, T, begin, end);
      else if (need_alpha)
        adjoint_rows<scalar_t, false, true>(gp, xp, gxp, pp, alpha, dil, K, T, begin, end);
    });
  });
  return {grad_x, need_alpha ? partial.sum(0) : torch::Tensor()};
}
"""

_lock = threading.Lock()
_state: dict[str, ModuleType | None] = {}


def load_kernel() -> ModuleType | None:
    """The compiled module (``mix_forward``, ``mix_backward``), built on first use; None when it cannot be built
    or ``G2L_EGI_KERNEL=python`` asks for the Python form."""
    if os.environ.get("G2L_EGI_KERNEL", "cpp") == "python":
        return None
    if "module" not in _state:  # every forward pass asks: only the first build takes the lock
        with _lock:
            if "module" not in _state:
                _state["module"] = _build()
    return _state["module"]


def _build() -> ModuleType | None:
    try:
        from torch.utils.cpp_extension import load_inline

        _LOG.info("building the fused multi-dilated kernel (once per machine)")
        return load_inline(
            name="g2l_multidilated_v4",
            cpp_sources=_SOURCE,
            functions=["mix_forward", "mix_backward"],
            extra_cflags=["-O3", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as exc:  # no compiler, no ninja, read-only cache, ...: the Python form computes the same
        _LOG.warning("fused multi-dilated kernel unavailable, using the Python form: %s", exc)
        return None
