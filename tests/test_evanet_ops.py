"""EvaNet's (2+1)D layer and space-time pooling on feature sequences (Sec. 3, 4.1), as layer ops and module
branches; EvaNet's module rules (Sec. 5.2) in the space and in every mutation of the evolution (Sec. 4.2)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import optuna
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl.errors import SpaceError
from g2l_automl.metrics import count_flops
from g2l_automl.models import (
    LAYER_TYPES,
    Conv2Plus1d,
    ParallelTemporal,
    SeparableConv1d,
    TemporalPool1d,
    build_model,
    temporal_op,
)
from g2l_automl.samplers import EvolutionSampler
from g2l_automl.spaces import Dilations, Kernels, Modules, Ops, SearchSpace
from g2l_automl.structure import BRANCH_OPS, KNOWN_OPS, POOL_OPS, LayerSpec, StageSpec, StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.usefixtures("one_torch_thread")
GEOMETRIES = [(3, 5, 1, 1), (4, 4, 3, 1), (6, 2, 5, 2), (2, 7, 11, 4)]  # C_in, C_out, L, dilation


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- the (2+1)D layer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("c_in", "c_out", "length", "dilation"), GEOMETRIES)
def test_conv2plus1d_shape_parameters_and_formula(c_in, c_out, length, dilation):
    conv = Conv2Plus1d(c_in, c_out, length, dilation)
    for steps in (1, 7, 40):  # same length out, also for sequences shorter than the kernel's span
        assert conv(torch.randn(2, c_in, steps)).shape == (2, c_out, steps)
    # EvaNet Sec. 3: H W C_in C_out + L C_out C_out with H = W = 1, plus the temporal conv's C_out biases
    assert _params(conv) == c_in * c_out + length * c_out * c_out + c_out
    assert conv.spatial.weight.shape == (c_out, c_in, 1) and conv.spatial.bias is None
    assert conv.temporal.weight.shape == (c_out, c_out, length) and conv.temporal.groups == 1  # a full conv
    x = torch.randn(1, c_in, 30)
    pad = dilation * (length - 1) // 2
    expected = F.conv1d(
        F.relu(F.conv1d(x, conv.spatial.weight)),
        conv.temporal.weight,
        conv.temporal.bias,
        padding=pad,
        dilation=dilation,
    )
    torch.testing.assert_close(conv(x), expected)
    assert count_flops(conv, x) == 2 * 30 * (c_in * c_out + length * c_out * c_out)


def test_sep_conv_is_not_the_2plus1d_layer():
    sep, full = SeparableConv1d(8, 8, 5), Conv2Plus1d(8, 8, 5)
    assert sep.depthwise.groups == 8 and _params(sep) == 5 * 8 + 8 + 8 * 8 + 8  # depthwise L C_in, pointwise C_in C_out
    assert _params(full) == 8 * 8 + 5 * 8 * 8 + 8


def test_conv2plus1d_sees_exactly_its_taps():
    """An impulse spreads over exactly ``dilation * (L - 1) + 1`` frames, centred: same-length padding."""
    conv = Conv2Plus1d(1, 1, 5, dilation=3)
    with torch.no_grad():
        conv.spatial.weight.fill_(1.0)
        conv.temporal.weight.fill_(1.0)
        conv.temporal.bias.zero_()
    x = torch.zeros(1, 1, 41)
    x[0, 0, 20] = 1.0
    (hit,) = torch.nonzero(conv(x)[0, 0]).T
    assert hit.tolist() == [14, 17, 20, 23, 26]


# -- pooling ------------------------------------------------------------------------------------------------------


def _pool_reference(x: np.ndarray, kind: str, length: int, dilation: int) -> np.ndarray:
    """Brute force: frames outside the sequence are zeros, window of ``length`` taps ``dilation`` apart."""
    half = dilation * (length - 1) // 2
    padded = np.pad(x, ((0, 0), (0, 0), (half, half)))
    taps = np.stack([padded[..., j * dilation : j * dilation + x.shape[-1]] for j in range(length)])
    return taps.max(axis=0) if kind == "max" else taps.mean(axis=0)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("c_in", "c_out", "length", "dilation"), GEOMETRIES)
def test_pooling_matches_brute_force_and_keeps_the_length(kind, c_in, c_out, length, dilation):
    pool = TemporalPool1d(kind, c_in, c_out, length, dilation)
    for steps in (1, 6, 33):
        x = torch.randn(2, c_in, steps)
        np.testing.assert_allclose(pool.pool(x).numpy(), _pool_reference(x.numpy(), kind, length, dilation), atol=1e-6)
        assert pool(x).shape == (2, c_out, steps)
    # the 1x1 convolution EvaNet puts after every pooling layer is all it learns
    assert _params(pool) == c_in * c_out + c_out and pool.conv_1x1.kernel_size == (1,)
    x = torch.randn(1, c_in, 20)
    torch.testing.assert_close(pool(x), pool.conv_1x1(pool.pool(x)))
    assert count_flops(pool, x) == 2 * 20 * c_in * c_out  # the pooling itself is not a matmul: not counted


def test_pooling_length_one_is_the_identity_and_bad_arguments_are_refused():
    x = torch.randn(1, 3, 9)
    assert torch.equal(TemporalPool1d("max", 3, 3, 1).pool(x), x)
    for kwargs, message in (
        ({"kind": "min"}, "kind"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"dilation": 0}, "dilation"),
    ):
        with pytest.raises(ValueError, match=message):
            TemporalPool1d(**{"kind": "max", "in_channels": 2, "out_channels": 2, "kernel_size": 3, **kwargs})
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2Plus1d(2, 2, 2)
    with pytest.raises(ValueError, match="no temporal module for 'lstm'"):
        temporal_op("lstm", 2, 2, 3, 1)


# -- as layer ops and module branches -----------------------------------------------------------------------------


def _new_ops_spec(channels: int = 6) -> StructureSpec:
    layers = (
        LayerSpec(1, 3, channels, "conv2plus1d"),
        LayerSpec(2, 5, channels, "max_pool"),
        LayerSpec(4, 3, channels, "avg_pool"),
        LayerSpec(2, channels=channels, op="parallel", branches=(("conv2plus1d", 5), ("conv", 3), ("max_pool", 7))),
        LayerSpec(1, channels=channels, op="parallel", branches=(("tgm", 3), ("sep_conv", 3), ("avg_pool", 3))),
    )
    return StructureSpec(stages=(StageSpec(layers), StageSpec(layers[2:4])), name="new-ops")


def test_new_ops_are_known_layer_and_branch_ops():
    assert {"conv2plus1d", "max_pool", "avg_pool"} <= set(KNOWN_OPS) == set(LAYER_TYPES)
    assert {"conv2plus1d", *POOL_OPS} <= set(BRANCH_OPS)


def test_models_with_the_new_ops_keep_length_and_padding_out():
    spec = _new_ops_spec()
    model = build_model(spec, input_dim=4, num_classes=3, seed=0).eval()
    x = torch.randn(1, 4, 25)
    alone = model(x, torch.ones(1, 1, 25))
    assert alone.shape == (2, 1, 3, 25)
    padded = torch.cat([x, 50 * torch.randn(1, 4, 9)], dim=2)
    mask = torch.cat([torch.ones(1, 1, 25), torch.zeros(1, 1, 9)], dim=2)
    out = model(padded, mask)
    # zero padding like the convolutions': a padded video sees exactly what it sees alone (max pooling included)
    assert torch.all(out[..., 25:] == 0)
    torch.testing.assert_close(out[..., :25], alone, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_layer_ops_build_the_modules_with_the_formula_counts():
    c = 6
    layers = build_model(_new_ops_spec(c), 4, 3, seed=0).stages[0].layers
    tail = c * c + c  # MS-TCN's residual tail: the 1x1 conv after the temporal part
    two_plus_one = layers[0].conv_dilated
    assert isinstance(two_plus_one, Conv2Plus1d) and two_plus_one.kernel_size == (3,)
    assert _params(layers[0]) == c * c + 3 * c * c + c + tail
    pool = layers[1].conv_dilated
    assert isinstance(pool, TemporalPool1d) and (pool.kind, pool.kernel_size, pool.dilation) == ("max", (5,), (2,))
    assert _params(layers[1]) == c * c + c + tail
    assert layers[2].conv_dilated.kind == "avg"
    module = layers[3].conv_dilated
    assert isinstance(module, ParallelTemporal)
    assert [type(b).__name__ for b in module.branches] == ["Conv2Plus1d", "Conv1d", "TemporalPool1d"]
    assert all(b.dilation == (2,) for b in module.branches) and module.kernel_size == (7,)
    assert _params(module) == (c * c + 5 * c * c + c) + (3 * c * c + c) + (c * c + c)


def test_pool_branches_round_trip_through_json():
    spec = _new_ops_spec()
    again = StructureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert spec.to_dict()["stages"][0]["layers"][3]["branches"][2] == {"op": "max_pool", "kernel_size": 7}
    assert spec.stages[0].layers[3].kernel_size == 7 and spec.receptive_field(1) == 1 + 4 * 2 + 2 * 6


# -- EvaNet's module rules (Sec. 5.2) -----------------------------------------------------------------------------


def _ruled_space() -> SearchSpace:
    """EvaNet's rules: 2-3 space-time convolutions and 1-2 poolings per module."""
    modules = Modules(
        min_branches=2,
        max_branches=3,
        ops=("conv", "conv2plus1d", "tgm"),
        kernel_sizes=(1, 3, 5, 7, 9, 11),
        min_pools=1,
        max_pools=2,
        pool_ops=("max_pool",),
        pool_sizes=(3, 5, 7),
    )
    ops = Ops(("conv", "conv2plus1d", "max_pool", "parallel"))
    return SearchSpace(StructureSpec.mstcn(1, 4, channels=4), [Dilations(k=2, T=3), ops, Kernels((1, 3, 5)), modules])


def _check_rules(spec: StructureSpec) -> tuple[int, int]:
    """Every module keeps the rules; returns its (convolutions, poolings) of the last module (or (0, 0))."""
    counts = (0, 0)
    for _, _, layer in spec.layers():
        if layer.op != "parallel":
            continue
        convs = [b for b in layer.branches if b.op not in POOL_OPS]
        pools = [b for b in layer.branches if b.op in POOL_OPS]
        assert 2 <= len(convs) <= 3 and 1 <= len(pools) <= 2, layer
        assert {b.op for b in convs} <= {"conv", "conv2plus1d", "tgm"} and {b.op for b in pools} <= {"max_pool"}
        assert {b.kernel_size for b in pools} <= {3, 5, 7}
        counts = (len(convs), len(pools))
    return counts


def test_every_mutation_keeps_evanets_module_rules():
    space = _ruled_space()
    sampler = EvolutionSampler(space, population_size=4, sample_size=2, seed=0)
    genome = sampler._genome(space.distributions())
    rng = np.random.RandomState(0)
    seen: Counter = Counter()
    for _ in range(40):  # chains of single mutations from random genomes
        child = genome.random(rng)
        _check_rules(space.to_structure(genome.to_params(child)))
        for _ in range(50):
            child = sampler._mutate(genome, child)
            seen[_check_rules(space.to_structure(genome.to_params(child)))] += 1
    for _ in range(200):  # and the annealed multi-mutation children of Alg. 1
        child = sampler._vary(genome, genome.random(rng), int(rng.randint(1, 8)))
        _check_rules(space.to_structure(genome.to_params(child)))
    # the counts move over their whole ranges, never past them
    assert {k for k in seen if k != (0, 0)} == {(2, 1), (2, 2), (3, 1), (3, 2)}


def test_an_evolution_study_under_the_rules_builds_only_ruled_modules():
    space = _ruled_space()
    sampler = EvolutionSampler(space, population_size=6, sample_size=3, max_mutations=3, anneal_rounds=5, seed=1)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        _check_rules(spec)
        return float(sum(layer.op == "parallel" for _, _, layer in spec.layers()))

    study.optimize(objective, n_trials=30)
    assert len(study.trials) == 30 and study.best_value >= 1  # modules were built, every one of them ruled


def test_a_structure_outside_the_rules_is_refused_by_the_space():
    space = _ruled_space()
    one_conv = LayerSpec(1, channels=4, op="parallel", branches=(("conv", 3), ("max_pool", 3)))
    spec = StructureSpec.mstcn(1, 4, channels=4).with_layer(0, 0, op="parallel", branches=one_conv.branches)
    with pytest.raises(SpaceError, match="num_branches: the structure's value 1"):
        space.to_params(spec)
    no_pools = SearchSpace(StructureSpec.mstcn(1, 1, channels=4), [Modules(max_branches=3)])
    pooled = StructureSpec.mstcn(1, 1, channels=4).with_layer(0, 0, op="parallel", branches=one_conv.branches)
    with pytest.raises(SpaceError, match="pooling branches .* are not searched by this space"):
        no_pools.to_params(pooled)
