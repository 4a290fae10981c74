"""EvaNet's TGM layer (Eq. 1-4) and the new layer ops: sep_conv, tgm and parallel modules in MS-TCN's residual tail."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from g2l_automl.errors import StructureError
from g2l_automl.models import (
    LAYER_TYPES,
    ParallelTemporal,
    SeparableConv1d,
    TemporalGaussianMixture1d,
    build_model,
)
from g2l_automl.structure import KNOWN_OPS, LayerSpec, StageSpec, StructureSpec, load_structure, save_structure

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("c_in", "c_out", "length", "m"), [(3, 5, 9, 4), (8, 2, 1, 1), (4, 4, 11, 3), (2, 6, 3, 5)])
def test_temporal_kernel_is_a_normalised_mixture(c_in, c_out, length, m):
    torch.manual_seed(0)
    layer = TemporalGaussianMixture1d(c_in, c_out, length, num_gaussians=m)
    with torch.no_grad():  # move away from the initialisation so the checks see arbitrary parameters
        layer.mu_hat.normal_(0, 2)
        layer.sigma_hat.normal_(0, 2)
    kernel = layer.temporal_kernel()
    assert kernel.shape == (c_out, c_in, length)
    torch.testing.assert_close(kernel.sum(-1), torch.ones(c_out, c_in))
    assert torch.all(kernel >= 0)
    # Eq. 2-3 by hand for one (i, c)
    i, c = c_out - 1, 0
    mu = (length - 1) * (torch.tanh(layer.mu_hat[c]) + 1) / 2
    var = torch.exp(layer.sigma_hat[c])
    taps = torch.arange(length, dtype=torch.float32)
    g = torch.exp(-((taps[None] - mu[:, None]) ** 2) / (2 * var[:, None]))
    g = g / g.sum(-1, keepdim=True)
    expected = (torch.softmax(layer.a[i], 0)[:, None] * g).sum(0)
    torch.testing.assert_close(kernel[i, c], expected)


@pytest.mark.parametrize(("c_in", "c_out", "length", "m"), [(3, 5, 9, 4), (16, 16, 11, 2), (4, 1, 1, 1)])
def test_parameter_count_is_the_papers_plus_the_pointwise_kernel(c_in, c_out, length, m):
    layer = TemporalGaussianMixture1d(c_in, c_out, length, num_gaussians=m)
    count = sum(p.numel() for p in layer.parameters())
    assert count == c_in * c_out + 2 * m * c_in + m * c_out
    # independent of the temporal length L
    longer = TemporalGaussianMixture1d(c_in, c_out, 4 * length + 1, num_gaussians=m)
    assert sum(p.numel() for p in longer.parameters()) == count
    with_bias = TemporalGaussianMixture1d(c_in, c_out, length, num_gaussians=m, bias=True)
    assert sum(p.numel() for p in with_bias.parameters()) == count + c_out


def test_default_m_is_min_4_l():
    assert TemporalGaussianMixture1d(2, 2, 9).num_gaussians == 4
    assert TemporalGaussianMixture1d(2, 2, 3).num_gaussians == 3
    assert TemporalGaussianMixture1d(2, 2, 1).num_gaussians == 1


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    layer = TemporalGaussianMixture1d(4, 6, 7, num_gaussians=3, dilation=2)
    x = torch.randn(2, 4, 30)
    (layer(x) * torch.randn(2, 6, 30)).sum().backward()
    for name in ("weight", "mu_hat", "sigma_hat", "a"):
        grad = getattr(layer, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize("dilation", [1, 3])
def test_layer_is_conv1d_with_its_inflated_kernel(dilation):
    torch.manual_seed(2)
    layer = TemporalGaussianMixture1d(5, 3, 5, num_gaussians=2, dilation=dilation, bias=True)
    x = torch.randn(2, 5, 23)
    kernel = layer.weight[:, :, None] * layer.temporal_kernel()  # Eq. 4
    torch.testing.assert_close(layer.kernel(), kernel)
    expected = F.conv1d(x, kernel, layer.bias, padding=dilation * 2, dilation=dilation)
    out = layer(x)
    assert out.shape == (2, 3, 23)
    torch.testing.assert_close(out, expected)


def test_centres_stay_in_the_kernel():
    layer = TemporalGaussianMixture1d(3, 3, 9, num_gaussians=4)
    initial = layer.centres()
    assert torch.all(initial > 0) and torch.all(initial < 8)  # spread over the kernel, strictly inside
    assert len(torch.unique(initial[0])) == 4
    with torch.no_grad():
        layer.mu_hat.copy_(torch.tensor([-1e4, -3.0, 0.0, 1e4]).expand(3, 4))
    centres = layer.centres()
    assert torch.all(centres >= 0) and torch.all(centres <= 8)
    torch.testing.assert_close(centres[0, 2], torch.tensor(4.0))
    assert centres[0, 0] == 0 and centres[0, 3] == 8


def test_tgm_learns_a_shifted_smoothing():
    """A target made by averaging the input over frames t+1..t+3 is learnable: the mixture moves to the right."""
    torch.manual_seed(3)
    x = torch.randn(8, 1, 64)
    target = F.conv1d(x, torch.tensor([[[0.0, 0.0, 0.0, 0.0, 1 / 3, 1 / 3, 1 / 3]]]), padding=3)
    layer = TemporalGaussianMixture1d(1, 1, 7, num_gaussians=2)
    with torch.no_grad():  # a positive amplitude: the test is about the Gaussians moving, not S changing sign
        layer.weight.fill_(0.5)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    first = F.mse_loss(layer(x), target).item()
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(layer(x), target)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    kernel = layer.kernel()[0, 0]
    assert kernel[4:].sum() > 0.8 * kernel.sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 4}, "kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"num_gaussians": 0}, "num_gaussians"),
        ({"dilation": 0}, "dilation"),
    ],
)
def test_invalid_arguments(kwargs, message):
    args = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        TemporalGaussianMixture1d(**args)


# -- the layer ops ------------------------------------------------------------------------------------------------


def _all_ops_spec(channels: int = 8) -> StructureSpec:
    layers = (
        LayerSpec(1, 3, channels, "conv"),
        LayerSpec(4, 5, channels, "sep_conv"),
        LayerSpec(2, 9, channels, "tgm"),
        LayerSpec(2, 3, channels, "dual_conv", 1),
        LayerSpec(8, channels=channels, op="parallel", branches=(("conv", 3), ("sep_conv", 7), ("tgm", 11))),
    )
    return StructureSpec(stages=(StageSpec(layers), StageSpec(layers[:2])), name="all-ops")


def test_every_known_op_is_a_layer_type():
    assert set(KNOWN_OPS) == set(LAYER_TYPES)
    assert {"sep_conv", "tgm", "parallel"} <= set(KNOWN_OPS)


def test_models_with_every_op_run_and_keep_masks():
    spec = _all_ops_spec()
    model = build_model(spec, input_dim=6, num_classes=4, seed=0).eval()
    x = torch.randn(1, 6, 30)
    alone = model(x, torch.ones(1, 1, 30))
    assert alone.shape == (2, 1, 4, 30)
    padded = torch.cat([x, 50 * torch.randn(1, 6, 10)], dim=2)
    mask = torch.cat([torch.ones(1, 1, 30), torch.zeros(1, 1, 10)], dim=2)
    out = model(padded, mask)
    assert torch.all(out[..., 30:] == 0)
    torch.testing.assert_close(out[..., :30], alone, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_layer_modules_follow_the_spec():
    model = build_model(_all_ops_spec(), 6, 4, seed=0)
    layers = model.stages[0].layers
    sep = layers[1].conv_dilated
    assert isinstance(sep, SeparableConv1d)
    assert sep.depthwise.groups == 8 and sep.depthwise.kernel_size == (5,) and sep.depthwise.dilation == (4,)
    tgm = layers[2].conv_dilated
    assert isinstance(tgm, TemporalGaussianMixture1d)
    assert tgm.kernel_size == (9,) and tgm.dilation == (2,) and tgm.num_gaussians == 4
    module = layers[4].conv_dilated
    assert isinstance(module, ParallelTemporal)
    kinds = [type(b).__name__ for b in module.branches]
    assert kinds == ["Conv1d", "SeparableConv1d", "TemporalGaussianMixture1d"]
    assert [b.kernel_size for b in module.branches] == [(3,), (7,), (11,)]
    assert all(b.dilation == (8,) for b in module.branches)
    # G2L config keys still name a module with the layer's dilation
    modules = dict(model.named_modules())
    assert modules["stages.0.layers.4.conv_dilated"].dilation == (8,)


def test_parallel_module_averages_its_branches():
    torch.manual_seed(4)
    module = ParallelTemporal(3, 5, [("conv", 3), ("tgm", 5)], dilation=2)
    x = torch.randn(2, 3, 17)
    torch.testing.assert_close(module(x), (module.branches[0](x) + module.branches[1](x)) / 2)


def test_parallel_layer_spec_validates_and_round_trips(tmp_path):
    spec = _all_ops_spec()
    layer = spec.stages[0].layers[4]
    assert layer.kernel_size == 11  # the longest branch's
    assert spec.receptive_field(1) == 1 + 2 + 4 * 4
    path = tmp_path / "s.json"
    save_structure(spec, path)
    data = json.loads(path.read_text())
    assert data["stages"][0]["layers"][4]["branches"][2] == {"op": "tgm", "kernel_size": 11}
    assert load_structure(path) == spec
    # pairs are accepted too, and the derived kernel size wins over a stale one
    pairs = LayerSpec.from_dict({"op": "parallel", "dilation": 2, "kernel_size": 3, "branches": [["tgm", 5]]})
    assert pairs.kernel_size == 5 and pairs.branches == (("tgm", 5),)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (LayerSpec(op="parallel"), "branches: required"),
        (LayerSpec(op="parallel", branches=()), "at least one branch"),
        (LayerSpec(op="parallel", branches=(("dual_conv", 3),)), r"branches\[0\].op: unknown branch op"),
        (LayerSpec(op="parallel", branches=(("conv", 3), ("tgm", 4))), r"branches\[1\].kernel_size: must be odd"),
        (LayerSpec(op="parallel", branches=(("conv", 0),)), r"branches\[0\].kernel_size: must be an integer"),
        (LayerSpec(op="tgm", branches=(("conv", 3),)), "branches: only allowed"),
        (LayerSpec(op="parallel", branches="conv"), "expected a list"),
    ],
)
def test_invalid_parallel_layers_name_the_field(layer, message):
    with pytest.raises(StructureError, match=message):
        StructureSpec(stages=(StageSpec((layer,)),))


def test_bad_branches_in_json_name_the_field():
    with pytest.raises(StructureError, match=r"stages\[0\].layers\[0\].branches\[0\]: expected the fields"):
        StructureSpec.from_dict({"stages": [{"layers": [{"op": "parallel", "branches": [{"op": "tgm"}]}]}]})
    with pytest.raises(StructureError, match=r"branches\[0\].op: unknown branch op 'lstm'"):
        StructureSpec.from_dict(
            {"stages": [{"layers": [{"op": "parallel", "branches": [{"op": "lstm", "kernel_size": 3}]}]}]}
        )
