import pytest
import torch

from g2l_automl.models import MultiStageTCN, build_model
from g2l_automl.structure import StructureSpec, to_g2l_config


@pytest.mark.parametrize("spec", [StructureSpec.mstcn(), StructureSpec.mstcn_pp()], ids=["mstcn", "mstcn++"])
def test_output_shape_and_g2l_keys_are_module_paths(spec):
    model = build_model(spec, input_dim=16, num_classes=5, seed=0)
    out = model(torch.randn(2, 16, 40), torch.ones(2, 1, 40))
    assert out.shape == (4, 2, 5, 40)
    modules = dict(model.named_modules())
    for key, dilation in to_g2l_config(spec)["model"].items():
        assert modules[key].dilation == (dilation,)


def test_every_layer_can_differ_in_dilation_kernel_and_width():
    spec = StructureSpec.mstcn(2, 3).with_layer(0, 1, dilation=5, kernel_size=7, channels=24)
    model = build_model(spec, 8, 3)
    conv = model.stages[0].layers[1].conv_dilated
    assert conv.dilation == (5,) and conv.kernel_size == (7,) and conv.out_channels == 24
    assert model(torch.randn(1, 8, 33), torch.ones(1, 1, 33)).shape == (2, 1, 3, 33)


def test_masks_keep_padding_out_of_real_frames():
    spec = StructureSpec.mstcn(3, 4, channels=8)
    model = build_model(spec, 4, 3, seed=0).eval()
    x = torch.randn(1, 4, 20)
    alone = model(x, torch.ones(1, 1, 20))
    padded = torch.cat([x, 100 * torch.randn(1, 4, 12)], dim=2)
    mask = torch.cat([torch.ones(1, 1, 20), torch.zeros(1, 1, 12)], dim=2)
    out = model(padded, mask)
    # Padding is zero in every layer's output, so real frames see exactly what they see alone (zero padding).
    assert torch.all(out[..., 20:] == 0)
    torch.testing.assert_close(out[..., :20], alone, rtol=1e-4, atol=1e-5)


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(StructureSpec.mstcn(1, 2, channels=4), 3, 2, seed=7)
    after = torch.rand(1)
    b = build_model(StructureSpec.mstcn(1, 2, channels=4), 3, 2, seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert isinstance(a, MultiStageTCN)


def test_later_stages_take_softmax_of_previous_stage():
    model = build_model(StructureSpec.mstcn(2, 1, channels=4), 3, 5, seed=0).eval()
    x, mask = torch.randn(1, 3, 10), torch.ones(1, 1, 10)
    out = model(x, mask)
    second = model.stages[1](torch.softmax(out[0], dim=1), mask)
    torch.testing.assert_close(out[1], second)
