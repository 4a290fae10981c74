"""EGI local search: the shared-kernel multi-dilated layer (fused == naive == reference), PMFs, candidates,
the expectation update (no drift without signal), the DARTS baseline, the search loop (one Adam across updates,
early stop or the full schedule) and its config/CLI options."""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.data import Video
from g2l_automl.egi import (
    DartsDilatedConv1d,
    EGILocalSearch,
    MultiDilatedConv1d,
    candidate_dilations,
    expected_dilation,
    normalize_importance,
)
from g2l_automl.errors import ConfigError, G2LError
from g2l_automl.search import make_local_search
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer

DILATION_SETS = [(1,), (1, 1, 2), (3, 4, 5), (2, 3, 5, 8), (40, 50, 60)]


def _pair(kernel_size: int, dilations, normalize: str, seed: int = 0, channels=(3, 4)):
    """A fused layer and a naive copy with the same (random, non-uniform) parameters, in float64."""
    torch.manual_seed(seed)
    fused = MultiDilatedConv1d(*channels, kernel_size, dilations, normalize=normalize).double()
    with torch.no_grad():
        fused.importance.copy_(torch.randn(len(dilations), dtype=torch.float64) + 0.2)
    naive = MultiDilatedConv1d(*channels, kernel_size, dilations, normalize=normalize, fused=False).double()
    naive.load_state_dict(fused.state_dict())
    return fused, naive


def _reference(layer: MultiDilatedConv1d, x: torch.Tensor) -> torch.Tensor:
    pmf = normalize_importance(layer.importance, layer.normalize)
    out = 0
    for p, d in zip(pmf, layer.dilations, strict=True):
        pad = d * (layer.kernel_size - 1) // 2
        out = out + p * F.conv1d(x, layer.weight, layer.bias, padding=pad, dilation=d)
    return out


def _grads(layer: MultiDilatedConv1d, x: torch.Tensor, grad_out: torch.Tensor, fn=None):
    out = layer(x) if fn is None else fn(layer, x)
    return out, torch.autograd.grad(out, [x, layer.weight, layer.bias, layer.importance], grad_out)


# -- MultiDilatedConv1d: fused == naive == reference -------------------------------------------------------------


@pytest.fixture(params=["cpp", "python"])
def backend(request, monkeypatch):
    """Run a test with the compiled mixing kernel and with the Python form of the fused layer."""
    monkeypatch.setenv("G2L_EGI_KERNEL", request.param)
    return request.param


@pytest.mark.parametrize("normalize", ["abs", "softmax", "sigmoid"])
@pytest.mark.parametrize("dilations", DILATION_SETS, ids=str)
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_fused_equals_naive_and_reference_in_float64(kernel_size, dilations, normalize, backend):
    fused, naive = _pair(kernel_size, dilations, normalize)
    length = 30  # shorter than the largest dilations of (40, 50, 60): their off-centre taps read only padding
    x = torch.randn(2, 3, length, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(2, 4, length, dtype=torch.float64)
    y_fused, g_fused = _grads(fused, x, grad_out)
    y_naive, g_naive = _grads(naive, x, grad_out)
    y_ref, g_ref = _grads(naive, x, grad_out, fn=_reference)
    assert y_fused.shape == (2, 4, length)
    torch.testing.assert_close(y_fused, y_naive, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y_fused, y_ref, rtol=1e-10, atol=1e-12)
    for name, a, b, c in zip(("input", "weight", "bias", "importance"), g_fused, g_naive, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"d/d{name} fused vs naive")
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-12, msg=f"d/d{name} fused vs reference")


def test_dilations_longer_than_the_sequence_leave_only_the_centre_tap():
    fused, _ = _pair(3, (40, 50, 60), "abs")
    x = torch.randn(2, 3, 30, dtype=torch.float64)
    centre = F.conv1d(x, fused.weight[:, :, 1:2], fused.bias)  # every shifted tap falls in the padding
    torch.testing.assert_close(fused(x), centre, rtol=1e-10, atol=1e-12)


def test_fused_gradcheck_small(backend):
    fused, _ = _pair(3, (1, 2, 2, 7), "abs", channels=(2, 2))
    x = torch.randn(2, 2, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b, i: fused(x), (x, fused.weight, fused.bias, fused.importance), eps=1e-6, atol=1e-7
    )


def test_fused_function_gradcheck_with_unnormalised_coefficients(backend):
    """The bias term is ``bias * sum(alpha)``: with coefficients that do not sum to 1 its share of the
    coefficients' gradient (``bias . sum grad_out``) is visible to gradcheck."""
    from g2l_automl.egi._layers import _FusedMultiDilated

    torch.manual_seed(5)
    x = torch.randn(2, 3, 11, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3 * 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([0.7, -0.2, 1.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b, a: _FusedMultiDilated.apply(x, w, b, a, None, (1, 2, 4)),
        (x, weight, bias, alpha),
        eps=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("frozen", ["input", "importance"])
def test_fused_gradients_when_one_input_needs_none(frozen, backend):
    """The adjoint pass computes only what is asked for (input gradient only, or coefficient gradient only)."""
    fused, naive = _pair(3, (1, 3, 6), "abs")
    x = torch.randn(2, 3, 25, dtype=torch.float64, requires_grad=frozen != "input")
    grad_out = torch.randn(2, 4, 25, dtype=torch.float64)
    wanted = {"input": [fused.importance], "importance": [x]}[frozen]
    naive_wanted = {"input": [naive.importance], "importance": [x]}[frozen]
    fused.importance.requires_grad_(frozen != "importance")
    naive.importance.requires_grad_(frozen != "importance")
    (got,) = torch.autograd.grad(fused(x), wanted, grad_out)
    (want,) = torch.autograd.grad(naive(x), naive_wanted, grad_out)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_the_compiled_kernel_builds_and_matches_the_python_form(monkeypatch):
    from g2l_automl.egi._kernel import load_kernel

    assert load_kernel() is not None, "the C++ kernel did not build (see the warning logged by g2l_automl.egi)"
    torch.manual_seed(3)
    layer = MultiDilatedConv1d(16, 8, 3, (5, 64, 70))
    x = torch.randn(2, 16, 300, requires_grad=True)
    grad_out = torch.randn(2, 8, 300)
    results = {}
    for backend in ("cpp", "python"):
        monkeypatch.setenv("G2L_EGI_KERNEL", backend)
        results[backend] = _grads(layer, x, grad_out)
    (y_cpp, g_cpp), (y_py, g_py) = results["cpp"], results["python"]
    torch.testing.assert_close(y_cpp, y_py, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_cpp, g_py, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # no input gradient asked for: only the kernel and importance gradients are computed
    monkeypatch.setenv("G2L_EGI_KERNEL", "cpp")
    w, imp = torch.autograd.grad(layer(x.detach()), [layer.weight, layer.importance], grad_out)
    torch.testing.assert_close(imp, g_py[3], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(w, g_py[1], rtol=1e-4, atol=1e-4)


def test_float32_fused_matches_naive():
    torch.manual_seed(1)
    fused = MultiDilatedConv1d(8, 6, 3, (2, 4, 6))
    naive = MultiDilatedConv1d(8, 6, 3, (2, 4, 6), fused=False)
    naive.load_state_dict(fused.state_dict())
    x = torch.randn(2, 8, 50)
    torch.testing.assert_close(fused(x), naive(x), rtol=1e-5, atol=1e-5)


def test_no_bias_layer():
    torch.manual_seed(0)
    fused = MultiDilatedConv1d(3, 4, 3, (1, 3), bias=False).double()
    naive = MultiDilatedConv1d(3, 4, 3, (1, 3), bias=False, fused=False).double()
    naive.load_state_dict(fused.state_dict())
    assert fused.bias is None
    x = torch.randn(1, 3, 12, dtype=torch.float64)
    torch.testing.assert_close(fused(x), naive(x))


# -- PMFs --------------------------------------------------------------------------------------------------------


def test_pmf_normalisations():
    w = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(normalize_importance(w, "abs"), w.abs() / w.abs().sum())  # Eq. 4
    torch.testing.assert_close(normalize_importance(w, "softmax"), torch.exp(w) / torch.exp(w).sum())
    s = 1 / (1 + torch.exp(-w))
    torch.testing.assert_close(normalize_importance(w, "sigmoid"), s / s.sum())
    for name in ("abs", "softmax", "sigmoid"):
        assert float(normalize_importance(w, name).sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalize"):
        normalize_importance(w, "l2")


@pytest.mark.parametrize("normalize", ["abs", "softmax", "sigmoid"])
def test_initial_pmf_is_uniform_and_set_dilations_resets_it(normalize):
    layer = MultiDilatedConv1d(4, 4, 3, (58, 64, 70), normalize=normalize)
    torch.testing.assert_close(layer.pmf(), torch.full((3,), 1 / 3))
    assert layer.expected_dilation() == pytest.approx(64.0)
    with torch.no_grad():
        layer.importance.copy_(torch.tensor([0.9, 0.05, 0.3]))
    kernel = layer.weight.detach().clone()
    bias = layer.bias.detach().clone()
    assert not torch.allclose(layer.pmf(), torch.full((3,), 1 / 3))
    layer.set_dilations((3, 4, 5, 6))
    assert layer.dilations == (3, 4, 5, 6)
    torch.testing.assert_close(layer.pmf(), torch.full((4,), 0.25))
    assert isinstance(layer.importance, torch.nn.Parameter) and layer.importance.requires_grad
    assert torch.equal(layer.weight, kernel) and torch.equal(layer.bias, bias)
    assert layer(torch.randn(1, 4, 20)).shape == (1, 4, 20)


def test_expected_dilation_of_the_layer():
    layer = MultiDilatedConv1d(2, 2, 3, (58, 64, 70))
    with torch.no_grad():
        layer.importance.copy_(torch.tensor([0.2, 0.3, 0.5]))
    assert layer.expected_dilation() == pytest.approx(0.2 * 58 + 0.3 * 64 + 0.5 * 70)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"normalize": "l1"},
        {"dilations": ()},
        {"dilations": (0, 1)},
        {"dilations": (2, -1)},
        {"dilations": (1.5,)},
        {"kernel_size": 2},
        {"kernel_size": 0},
    ],
    ids=str,
)
def test_invalid_layer_arguments_raise_value_error(kwargs):
    args = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "dilations": (1, 2)} | kwargs
    with pytest.raises(ValueError):
        MultiDilatedConv1d(**args)


def test_set_dilations_rejects_bad_dilations():
    layer = MultiDilatedConv1d(2, 2, 3, (1, 2))
    with pytest.raises(ValueError):
        layer.set_dilations(())
    with pytest.raises(ValueError):
        layer.set_dilations((0,))
    assert layer.dilations == (1, 2)


# -- candidates and the expectation update (Eq. 6) --------------------------------------------------------------


def test_candidate_dilations_paper_case_and_small_dilations():
    assert candidate_dilations(64) == (58, 64, 70)  # dD = 0.1 D = 6.4 -> round
    assert candidate_dilations(2) == (1, 2, 3)
    assert candidate_dilations(4) == (3, 4, 5)
    assert candidate_dilations(1) == (1, 1, 2)  # clipped at 1, but 2 lets it grow
    # without min_delta, the official rounding keeps small dilations fixed
    assert candidate_dilations(4, min_delta=0) == (4, 4, 4)
    assert candidate_dilations(3, delta=0.0, min_delta=0) == (3, 3, 3)


@pytest.mark.parametrize("num", [2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 5, 16, 64, 100, 512])
def test_candidate_dilations_spacing(num, dilation):
    cands = candidate_dilations(dilation, num=num)
    spread = max(0.1 * dilation, 1.0)
    assert len(cands) == num
    assert list(cands) == sorted(cands)
    assert all(isinstance(d, int) and d >= 1 for d in cands)
    assert cands[0] == max(math.floor(dilation - spread + 0.5), 1)
    assert cands[-1] == math.floor(dilation + spread + 0.5)
    if num == 3:
        assert cands[1] == dilation


def test_candidate_dilations_four_and_one():
    assert candidate_dilations(100, num=4) == (90, 97, 103, 110)
    assert candidate_dilations(100, num=2) == (90, 110)
    assert candidate_dilations(37, num=1) == (37,)


def test_candidate_dilations_max_clip():
    # dD shrinks to the distance to the bound (the window stays symmetric), but not below min_delta
    assert candidate_dilations(64, max_dilation=66) == (62, 64, 66)
    assert candidate_dilations(64, max_dilation=64) == (63, 64, 64)
    assert candidate_dilations(2048, max_dilation=2048) == (2047, 2048, 2048)
    assert candidate_dilations(2000, max_dilation=2048) == (1952, 2000, 2048)
    assert candidate_dilations(5, delta=0.9) == (1, 5, 9)  # the lower bound too (was (1, 5, 10))


@pytest.mark.parametrize("num", [2, 3, 4, 5])
def test_candidate_dilations_are_symmetric_about_d(num):
    for dilation in range(1, 2049):
        cands = candidate_dilations(dilation, num=num, max_dilation=2048)
        if cands[0] > 1 and cands[-1] < 2048:  # nothing clipped
            assert all(a + b == 2 * dilation for a, b in zip(cands, reversed(cands), strict=True)), cands
    assert candidate_dilations(15) == (13, 15, 17)  # was (14, 15, 17): offsets +-1.5 both round away from D
    assert candidate_dilations(25) == (22, 25, 28)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((-3,), {}),
        ((2.5,), {}),
        ((True,), {}),
        (("4",), {}),
        ((4,), {"num": 0}),
        ((4,), {"delta": -0.1}),
        ((4,), {"min_delta": -1}),
    ],
    ids=str,
)
def test_candidate_dilations_bad_input(args, kwargs):
    with pytest.raises(ValueError):
        candidate_dilations(*args, **kwargs)


def test_expected_dilation_floor_and_round():
    assert expected_dilation([0.2, 0.3, 0.5], [58, 64, 70]) == 66  # 65.8: the default rounds to the nearest
    assert expected_dilation([0.2, 0.3, 0.5], [58, 64, 70], "floor") == 65
    assert expected_dilation([0.5, 0.5], [1, 2], "floor") == 1  # 1.5 floors
    assert expected_dilation([0.5, 0.5], [1, 2], "round") == 2
    assert expected_dilation([0.9, 0.1], [1, 2], "round") == 1
    assert expected_dilation([1.0], [0]) == 1  # at least 1
    assert expected_dilation([0.0, 0.0], [3, 4]) == 1
    with pytest.raises(ValueError, match="rounding"):
        expected_dilation([1.0], [3], "ceil")
    with pytest.raises(ValueError):
        expected_dilation([0.5, 0.5], [3])


@pytest.mark.parametrize("dilation", [1, 2, 3, 7, 10, 15, 64, 100, 333, 1000])
def test_uniform_expectation_does_not_drift_down(dilation):
    cands = candidate_dilations(dilation)
    pmf = MultiDilatedConv1d(1, 1, 3, cands).pmf().double().tolist()  # float32 -> the real rounding noise
    assert expected_dilation(pmf, cands) == dilation
    assert expected_dilation(pmf, cands, "floor") == dilation
    assert expected_dilation([1 / 3] * 3, (58, 64, 70)) == 64


@pytest.mark.parametrize("dilation", [1, 2, 4, 8, 64, 512, 2048])
def test_flat_pmf_is_a_fixed_point_of_the_default_update(dilation):
    """Alg. 2 without signal: a uniform PMF (exact, and as a fresh layer computes it) gives D back."""
    search = EGILocalSearch()
    cands = search.candidates(dilation)
    assert expected_dilation([1 / len(cands)] * len(cands), cands, search.rounding) == dilation
    assert search._decide(MultiDilatedConv1d(1, 1, 3, cands)) == dilation
    assert all(
        expected_dilation([1 / 3] * 3, search.candidates(d), search.rounding) == d for d in range(1, 2049)
    )  # every D up to max_dilation


def _drift(dilation: int, rounding: str | None, runs: int = 1000, updates: int = 10) -> tuple[float, float]:
    """Mean and standard error of D after ``updates`` EGI updates whose PMFs carry no signal (Dirichlet(30) draws
    around uniform, fixed seed), through the search's own candidates and Eq. 6 (``None``: its default rounding)."""
    search = EGILocalSearch() if rounding is None else EGILocalSearch(rounding=rounding)
    pmfs = np.random.default_rng(0).dirichlet([30.0] * search.num_candidates, size=(runs, updates))
    final = []
    for run in pmfs:
        d = dilation
        for pmf in run:
            d = expected_dilation(pmf.tolist(), search.candidates(d), search.rounding)
        final.append(d)
    return float(np.mean(final)), float(np.std(final) / math.sqrt(runs))


def test_default_rounding_does_not_drift_and_floor_does():
    """With noisy near-uniform PMFs, 10 updates keep D on average with the default rounding (round); Eq. 6's floor
    loses about 1/2 per update (D = 8 ends near 3, D = 4 near 1). D = 25 (dD = 2.5) and D = 2048 (the cap) check
    the symmetric candidates: the old ones took them to 26.0 and 1857.5 even when rounding to the nearest."""
    measured = {d: (_drift(d, None), _drift(d, "floor")[0]) for d in (1, 2, 4, 8, 25, 64, 512, 2048)}
    for d, ((mean, sem), _) in measured.items():
        assert mean >= d - 0.05  # never below D: small dilations can only be pushed up by the bound at 1
        if d >= 8:
            assert abs(mean - d) <= 4 * sem + 0.05, (d, mean, sem)  # measured 8.00, 25.02, 64.07, 512.51, 2047.99
    floor = {d: f for d, (_, f) in measured.items()}
    assert floor[1] == 1 and floor[2] < 1.01 and floor[4] < 1.1
    assert 2.8 < floor[8] < 3.3  # measured 3.11
    for d in (64, 512):
        assert 4.5 < d - floor[d] < 5.5, (d, floor[d])  # measured 59.06 and 507.48


# -- DARTS -------------------------------------------------------------------------------------------------------


def test_darts_layer_has_separate_weights_and_softmax_pmf():
    torch.manual_seed(0)
    layer = DartsDilatedConv1d(3, 4, 3, dilations=(2, 4, 6))
    assert len(layer.branches) == 3
    assert [b.dilation[0] for b in layer.branches] == [2, 4, 6]
    ptrs = {b.weight.data_ptr() for b in layer.branches}
    assert len(ptrs) == 3  # separate kernels
    assert not torch.equal(layer.branches[0].weight, layer.branches[1].weight)
    torch.testing.assert_close(layer.pmf(), torch.full((3,), 1 / 3))
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.1, 2.0, -1.0]))
    torch.testing.assert_close(layer.pmf(), torch.softmax(torch.tensor([0.1, 2.0, -1.0]), 0))
    assert layer.decode() == 4
    x = torch.randn(2, 3, 25)
    expected = sum(p * b(x) for p, b in zip(layer.pmf(), layer.branches, strict=True))
    torch.testing.assert_close(layer(x), expected)
    assert layer(x).shape == (2, 4, 25)


def test_darts_set_dilations_copies_the_decoded_branch():
    torch.manual_seed(0)
    layer = DartsDilatedConv1d(3, 4, 3, dilations=(2, 4, 6))
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.0, -1.0, 3.0]))
    best = {k: v.clone() for k, v in layer.branches[2].state_dict().items()}
    layer.set_dilations((5, 6, 7, 8))
    assert layer.dilations == (5, 6, 7, 8)
    assert [b.dilation[0] for b in layer.branches] == [5, 6, 7, 8]
    assert [b.padding[0] for b in layer.branches] == [5, 6, 7, 8]
    for branch in layer.branches:
        for k, v in branch.state_dict().items():
            assert torch.equal(v, best[k])
    assert len({b.weight.data_ptr() for b in layer.branches}) == 4  # copies, not shared
    assert torch.equal(layer.alpha.detach(), torch.zeros(4))
    assert layer(torch.randn(1, 3, 20)).shape == (1, 4, 20)


def test_darts_set_dilations_keeps_the_branch_parameters():
    layer = DartsDilatedConv1d(3, 4, 3, dilations=(2, 4, 6))
    params = [p for b in layer.branches for p in b.parameters()]
    layer.set_dilations((3, 5, 7))
    assert all(a is b for a, b in zip(params, (p for b in layer.branches for p in b.parameters()), strict=True))
    x = torch.randn(1, 3, 20)
    reference = DartsDilatedConv1d(3, 4, 3, dilations=(3, 5, 7))
    reference.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), reference(x))  # re-dilated in place == built with those dilations


# -- the search loop ---------------------------------------------------------------------------------------------


def _videos(n: int = 3, dim: int = 4, length: int = 48, seed: int = 0) -> list[Video]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labels = np.repeat([0, 1, 2, 1], length // 4)
        features = rng.normal(size=(dim, length)).astype("float32") + labels[None, :].astype("float32")
        out.append(Video(f"v{i}", features, labels, labels))
    return out


def _search(**kwargs) -> EGILocalSearch:
    kwargs.setdefault("trainer", Trainer(batch_size=1, lr=0.01, device="cpu", progress=False, seed=0))
    return EGILocalSearch(**kwargs)


def _flat(dilations) -> list[int]:
    out = []
    for stage in dilations:
        for d in stage:
            out += d if isinstance(d, list) else [d]
    return out


@pytest.mark.parametrize("method", ["egi", "darts"])
def test_search_trajectory_and_result(method):
    spec = StructureSpec.mstcn(1, 3, channels=8, dilations=[1, 4, 16])
    steps = []
    result = _search(method=method, interval=1, epochs=3).run(spec, _videos(), num_classes=3, callback=steps.append)
    epochs = [step["epoch"] for step in result.trajectory]
    assert epochs == list(range(len(epochs)))
    assert result.trajectory[0] == {"epoch": 0, "dilations": [[1, 4, 16]]}
    assert steps == result.trajectory[1:]
    assert result.structure.dilations() == result.trajectory[-1]["dilations"]
    assert result.epochs == epochs[-1]
    if result.converged:
        assert result.trajectory[-1]["dilations"] == result.trajectory[-2]["dilations"]
    else:
        assert result.epochs == 3 and len(result.trajectory) == 4
    # each update stays within the candidates
    for before, after in itertools.pairwise(result.trajectory):
        for d0, d1 in zip(_flat(before["dilations"]), _flat(after["dilations"]), strict=True):
            cands = candidate_dilations(d0)
            assert min(cands) <= d1 <= max(cands)
    assert len(result.history) == result.epochs
    # only the dilations change
    for (_, _, a), (_, _, b) in zip(spec.layers(), result.structure.layers(), strict=True):
        assert (a.kernel_size, a.channels, a.op) == (b.kernel_size, b.channels, b.op)


def test_search_interval_two_records_every_update():
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[2, 8])
    search = _search(interval=2, epochs=5)
    search._decide = lambda layer: max(layer.dilations)  # always moves up: never converges
    result = search.run(spec, _videos(2), num_classes=3)
    assert [s["epoch"] for s in result.trajectory] == [0, 2, 4, 5]
    assert result.epochs == 5 and not result.converged
    assert [s["dilations"] for s in result.trajectory] == [[[2, 8]], [[3, 9]], [[4, 10]], [[5, 11]]]
    assert result.structure.dilations() == [[5, 11]]


def test_search_stops_when_nothing_moves(monkeypatch):  # stop_when_converged (the default)
    monkeypatch.setattr(EGILocalSearch, "_decide", lambda self, layer: layer.dilations[len(layer.dilations) // 2])
    spec = StructureSpec.mstcn(1, 3, channels=8, dilations=[1, 3, 9])
    result = _search(interval=1, epochs=10).run(spec, _videos(2), num_classes=3)
    assert result.converged
    assert result.epochs == 1
    assert [s["epoch"] for s in result.trajectory] == [0, 1]
    assert result.trajectory[1]["dilations"] == [[1, 3, 9]]
    assert result.structure == spec


@pytest.mark.parametrize("stop", [True, False])
def test_search_schedule_early_stop_or_full(monkeypatch, stop):
    monkeypatch.setattr(EGILocalSearch, "_decide", lambda self, layer: layer.dilations[len(layer.dilations) // 2])
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[2, 8])
    result = _search(interval=2, epochs=7, stop_when_converged=stop).run(spec, _videos(2), num_classes=3)
    assert result.converged  # the last update moved nothing either way
    if stop:
        assert [s["epoch"] for s in result.trajectory] == [0, 2]
        assert result.epochs == 2 and len(result.history) == 2
    else:  # Alg. 2: all ceil(7 / 2) = 4 updates
        assert [s["epoch"] for s in result.trajectory] == [0, 2, 4, 6, 7]
        assert result.epochs == 7 and len(result.history) == 7
    assert all(s["dilations"] == [[2, 8]] for s in result.trajectory)


def test_full_schedule_reports_whether_the_last_update_moved(monkeypatch):
    moves = iter([True, False, True])  # update 1 moves, 2 does not (no stop), 3 moves

    def decide(self, layer):  # noqa: ANN001, ANN202
        move = next(moves) if layer.dilations[1] >= 8 else False  # only the second layer
        return max(layer.dilations) if move else layer.dilations[1]

    monkeypatch.setattr(EGILocalSearch, "_decide", decide)
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[2, 8])
    result = _search(interval=1, epochs=3, stop_when_converged=False).run(spec, _videos(2), num_classes=3)
    assert [s["dilations"] for s in result.trajectory] == [[[2, 8]], [[2, 9]], [[2, 9]], [[2, 10]]]
    assert not result.converged


def _adam_state(optimizer: torch.optim.Optimizer, params: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {name: {k: v.clone() for k, v in optimizer.state.get(p, {}).items()} for name, p in params.items()}


def test_search_keeps_the_kernels_adam_state_across_updates(monkeypatch):
    """One Adam for the whole search: after an update the kernel's moments and step count are the ones training
    left (and keep growing); the importance weights' state restarts with the weights."""
    seen = []
    fit = Trainer.fit

    def recording_fit(self, model, *args, optimizer=None, **kwargs):  # noqa: ANN001, ANN202
        layer = model.stages[0].layers[1].conv_dilated
        params = {"weight": layer.weight, "bias": layer.bias, "importance": layer.importance}
        before = _adam_state(optimizer, params)
        logs = fit(self, model, *args, optimizer=optimizer, **kwargs)
        seen.append((optimizer, before, _adam_state(optimizer, params)))
        return logs

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[2, 8])
    _search(interval=1, epochs=2, stop_when_converged=False).run(spec, _videos(2), num_classes=3)
    (first, start, trained), (second, updated, trained_again) = seen
    assert isinstance(first, torch.optim.Adam) and second is first
    assert start == {"weight": {}, "bias": {}, "importance": {}}
    steps = 2  # 2 videos, batch size 1, 1 epoch per update
    for name in ("weight", "bias"):
        assert trained[name].keys() == {"step", "exp_avg", "exp_avg_sq"}
        for key, value in trained[name].items():
            assert torch.equal(updated[name][key], value), (name, key)  # the update kept it
        assert float(trained[name]["step"]) == steps and float(trained_again[name]["step"]) == 2 * steps
    assert float(trained["importance"]["step"]) == steps
    assert updated["importance"] == {}  # reset with the importance weights
    assert float(trained_again["importance"]["step"]) == steps


def test_darts_update_copies_the_decoded_branch_adam_state():
    search = EGILocalSearch(method="darts")
    layer = search._wrap(torch.nn.Conv1d(3, 4, 3, padding=8, dilation=8), 8)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.01)
    layer(torch.randn(2, 3, 30)).square().sum().backward()
    optimizer.step()
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.0, 0.0, 1.0]))  # decode the third branch (dilation 9)
    best = [{k: v.clone() for k, v in optimizer.state[p].items()} for p in layer.branches[2].parameters()]
    search._move(layer, layer.decode(), optimizer)
    assert layer.dilations == (8, 9, 10)
    assert layer.alpha not in optimizer.state
    held = set(optimizer.param_groups[0]["params"])
    for branch in layer.branches:
        for p, state in zip(branch.parameters(), best, strict=True):
            assert p in held  # still the optimiser's parameters
            assert all(torch.equal(optimizer.state[p][k], v) for k, v in state.items())


def test_search_mstcn_pp_dual_layers():
    spec = StructureSpec.mstcn_pp(num_layers_pg=3, num_layers_r=2, num_r=1, channels=8)
    result = _search(interval=1, epochs=2).run(spec, _videos(2), num_classes=3)
    start = result.trajectory[0]["dilations"]
    assert start == [[[4, 1], [2, 2], [1, 4]], [1, 2]]
    for step in result.trajectory:
        assert all(isinstance(pair, list) and len(pair) == 2 for pair in step["dilations"][0])
        assert all(isinstance(d, int) for d in step["dilations"][1])
    last = result.trajectory[-1]["dilations"]
    assert [list(layer.dilations) for layer in result.structure.stages[0].layers] == last[0]
    assert [layer.dilation for layer in result.structure.stages[1].layers] == last[1]
    assert all(layer.op == "dual_conv" for layer in result.structure.stages[0].layers)


def test_search_mstcn_pp_dual_layers_move_independently():
    spec = StructureSpec.mstcn_pp(num_layers_pg=2, num_layers_r=1, num_r=0, channels=8)  # [(2, 1), (1, 2)]
    search = _search(interval=1, epochs=1)
    search._decide = lambda layer: max(layer.dilations)
    result = search.run(spec, _videos(2), num_classes=3)
    assert result.trajectory[1]["dilations"] == [[[3, 2], [2, 3]]]
    assert [layer.dilations for layer in result.structure.stages[0].layers] == [(3, 2), (2, 3)]


def test_search_only_some_stages():
    spec = StructureSpec.mstcn(2, 2, channels=8, dilations=[2, 8])
    search = _search(interval=1, epochs=2, stages=[1])
    search._decide = lambda layer: max(layer.dilations)
    result = search.run(spec, _videos(2), num_classes=3)
    assert result.structure.stages[0] == spec.stages[0]
    assert all(step["dilations"][0] == [2, 8] for step in result.trajectory)
    assert result.structure.dilations()[1] == [4, 10]


def test_search_is_deterministic():
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[3, 12])
    a = _search(interval=1, epochs=2).run(spec, _videos(2), num_classes=3)
    b = _search(interval=1, epochs=2).run(spec, _videos(2), num_classes=3)
    assert a.trajectory == b.trajectory
    assert a.structure == b.structure


def test_search_max_dilation_caps_the_structure():
    spec = StructureSpec.mstcn(1, 2, channels=8, dilations=[2, 9])
    search = _search(interval=1, epochs=3, max_dilation=10)
    search._decide = lambda layer: max(layer.dilations) + 5  # the search must clip, not the decision
    result = search.run(spec, _videos(2), num_classes=3)
    assert max(_flat(result.structure.dilations())) <= 10
    assert result.structure.dilations()[0][1] == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "nas"},
        {"rounding": "ceil"},
        {"normalize": "l2"},
        {"num_candidates": 0},
        {"interval": 0},
        {"epochs": 0},
        {"epochs": 2.5},
        {"interval": True},
        {"min_delta": -1},
        {"delta": -0.5},
        {"delta": "0.1"},
        {"stop_when_converged": 1},
        {"stop_when_converged": "no"},
    ],
    ids=str,
)
def test_search_bad_arguments(kwargs):
    with pytest.raises(G2LError):
        EGILocalSearch(**kwargs)


def test_search_needs_training_videos():
    with pytest.raises(G2LError, match="train"):
        _search(epochs=1).run(StructureSpec.mstcn(1, 2, channels=8), [], input_dim=4, num_classes=3)


def test_fused_layer_trains_under_autocast():
    torch.manual_seed(0)
    layer = MultiDilatedConv1d(4, 4, 3, (1, 2, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(2, 4, 20))
    out.float().sum().backward()
    assert layer.weight.grad is not None and layer.importance.grad is not None
    assert torch.isfinite(layer.weight.grad).all() and torch.isfinite(layer.importance.grad).all()


def test_search_keeps_the_dilation_of_layers_that_are_not_plain_convolutions():
    from dataclasses import replace

    from g2l_automl.structure import LayerSpec, StageSpec

    base = StructureSpec.mstcn(1, 3, channels=8, dilations=[1, 4, 16])
    layers = base.stages[0].layers
    mixed = (
        replace(layers[0], op="tgm", kernel_size=5),
        layers[1],
        LayerSpec(dilation=16, channels=8, op="parallel", branches=(("sep_conv", 3), ("conv", 3))),
    )
    spec = replace(base, stages=(StageSpec(mixed),))
    result = _search(interval=1, epochs=2).run(spec, _videos(), num_classes=3)
    out = result.structure.stages[0].layers
    assert (out[0].op, out[0].dilation, out[2].op, out[2].dilation) == ("tgm", 1, "parallel", 16)
    assert out[1].op == "conv"  # the plain convolution was searched
    assert [len(step["dilations"][0]) for step in result.trajectory] == [3] * len(result.trajectory)


@pytest.mark.parametrize("name", ["g2l_automl.egi._candidates", "g2l_automl.egi._layers", "g2l_automl.egi._search"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- the options in configs and on the command line --------------------------------------------------------------


def test_config_refine_defaults_and_options(tmp_path):
    tiny = Path(__file__).parents[1] / "studies" / "synthetic-tiny.yaml"
    base = tiny.read_text()
    search = make_local_search(load_config(tiny))
    assert (search.rounding, search.stop_when_converged) == ("round", True)
    path = tmp_path / "study.yaml"
    path.write_text(base.replace("top: 2}", "top: 2, rounding: floor, stop_when_converged: false}"))
    search = make_local_search(load_config(path))
    assert (search.rounding, search.stop_when_converged) == ("floor", False)
    assert make_local_search(load_config(path), stop_when_converged=True).stop_when_converged
    path.write_text(base.replace("top: 2}", "top: 2, stop_when_converged: sometimes}"))
    with pytest.raises(ConfigError, match="refine.stop_when_converged"):
        load_config(path)


def test_shipped_studies_use_the_unbiased_rounding():
    for path in sorted((Path(__file__).parents[1] / "studies").glob("*.yaml")):
        assert load_config(path).refine["rounding"] == "round", path.name


@pytest.mark.parametrize(("flag", "updates"), [("--stop-when-converged", 1), ("--no-stop-when-converged", 3)])
def test_refine_cli_schedule_flag(monkeypatch, tiny_data, tmp_path, flag, updates):
    monkeypatch.setattr(EGILocalSearch, "_decide", lambda self, layer: layer.dilations[len(layer.dilations) // 2])
    start = tmp_path / "start.json"
    start.write_text(json.dumps(StructureSpec.mstcn(1, 4, channels=16, dilations=[1, 3, 9, 27]).to_dict()))
    out = tmp_path / "out"
    config = Path(__file__).parents[1] / "studies" / "synthetic-tiny.yaml"
    options = ["--epochs", "3", "--interval", "1", "--device", "cpu", "--rounding", "floor", flag]
    argv = ["refine", "--structure", str(start), "--config", str(config), "--data", str(tiny_data), *options]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads((out / "refine.json").read_text())
    assert [s["epoch"] for s in report["trajectory"]] == list(range(updates + 1))
    assert report["converged"]
