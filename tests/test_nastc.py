import json
import math

import numpy as np
import pytest
import torch

from g2l_automl.cli import main
from g2l_automl.config import parse_nastc_config
from g2l_automl.data import generate
from g2l_automl.errors import ConfigError, StructureError
from g2l_automl.models import (
    TEMPORAL_OPS,
    Genotype,
    GenotypeCell,
    NASTCLayer,
    NASTCNetwork,
    TemporalConvModule,
    TimeceptionLayer,
    TimeceptionNetwork,
    channel_shuffle,
    load_genotype,
    save_genotype,
)
from g2l_automl.nas import NASTCSearchLayer, NASTCSupernet, SearchCell, TempDARTSSearch, run_experiment
from g2l_automl.structure import TEMPORAL_OP_NAMES as OP_NAMES
from g2l_automl.structure import num_edges

GENOTYPE = Genotype(
    (
        (("sep_conv_3", 0), ("dil_conv_5", 1)),
        (("max_pool_2", 1), ("sep_conv_7", 2)),
        (("identity", 0), ("avg_pool_2", 3)),
        (("sep_conv_5", 2), ("dil_conv_3", 4)),
    )
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the tiny convolutions here are overhead-bound; extra threads only contend on a shared CI box
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("nastc") / "ml", "multilabel", seed=0, num_videos=24)


@pytest.mark.parametrize("t", [7, 8])
@pytest.mark.parametrize("groups", [1, 2])
def test_every_op_keeps_the_shape(t, groups):
    assert list(TEMPORAL_OPS) == list(OP_NAMES) and len(TEMPORAL_OPS) == 9
    x = torch.randn(3, 6, t)
    for name, make in TEMPORAL_OPS.items():
        op = make(6, True, groups).train()
        y = op(x)
        assert y.shape == (3, 6, t), name
        assert torch.isfinite(y).all(), name


def test_zero_op_gives_zeros_and_pools_look_back_one_step():
    x = torch.randn(2, 3, 5)
    assert torch.equal(TEMPORAL_OPS["zero"](3)(x), torch.zeros_like(x))
    mx, avg = TEMPORAL_OPS["max_pool_2"](3)(x), TEMPORAL_OPS["avg_pool_2"](3)(x)
    assert torch.equal(mx[..., 0], x[..., 0]) and torch.allclose(avg[..., 0], x[..., 0])
    assert torch.equal(mx[..., 1:], torch.maximum(x[..., :-1], x[..., 1:]))
    assert torch.allclose(avg[..., 1:], (x[..., :-1] + x[..., 1:]) / 2)


def test_conv_ops_follow_table_one():
    dil = TEMPORAL_OPS["dil_conv_5"](8)
    assert [type(m).__name__ for m in dil] == ["ReLU", "Conv1d", "Conv1d", "BatchNorm1d"]
    assert (dil[1].kernel_size, dil[1].dilation, dil[1].groups, dil[1].padding) == ((5,), (2,), 8, (4,))
    sep = TEMPORAL_OPS["sep_conv_7"](8)
    assert len(sep) == 2 and all(block[1].kernel_size == (7,) and block[1].dilation == (1,) for block in sep)
    assert sep[0][1].padding == (3,)


def test_gradients_reach_alpha_through_the_cells():
    torch.manual_seed(0)
    net = NASTCSupernet(5, 3, layers=2, groups=2, channels=12, hidden=8)
    loss = net(torch.randn(4, 5, 12)).pow(2).mean()
    loss.backward()
    assert net.arch_parameters() == [net.alpha]
    assert net.alpha.grad is not None and torch.isfinite(net.alpha.grad).all()
    assert net.alpha.grad.abs().sum() > 0
    # the zero op's column gets gradient through the softmax only: its share of every other op's gain
    assert (net.alpha.grad[:, OP_NAMES.index("zero")] != 0).any()


def test_decode_keeps_two_non_zero_inputs_per_node():
    rng = np.random.default_rng(0)
    for _ in range(20):
        w = rng.random((14, 9))
        w[:, OP_NAMES.index("zero")] += 1.0  # zero is the strongest op everywhere; it must still never be chosen
        g = Genotype.decode(w)
        assert g.num_nodes == 4
        for j, node in enumerate(g.nodes):
            assert len(node) == 2 and len({src for _, src in node}) == 2
            assert all(op != "zero" and 0 <= src < j + 2 for op, src in node)


def test_hand_set_alpha_decodes_to_the_expected_genotype():
    w = np.zeros((num_edges(4), 9))
    offset = 0
    for j, node in enumerate(GENOTYPE.nodes):
        for i in range(j + 2):
            w[offset + i, OP_NAMES.index("zero")] = 5.0
            w[offset + i, OP_NAMES.index("identity")] = 0.1  # a weak non-zero op on every edge
        for op, src in node:
            w[offset + src, OP_NAMES.index(op)] = 1.0
        offset += j + 2
    assert Genotype.decode(torch.softmax(torch.as_tensor(w), dim=-1)) == GENOTYPE


def test_discrete_cell_is_smaller_than_the_supernet_cell_and_runs():
    search, fixed = SearchCell(6, 9, 3), GenotypeCell(GENOTYPE, 6, 9, 3)
    n_search, n_fixed = (sum(p.numel() for p in m.parameters()) for m in (search, fixed))
    assert 0 < n_fixed < n_search
    y = fixed(torch.randn(2, 6, 11), torch.randn(2, 9, 11))
    assert y.shape == (2, 12, 11) and torch.isfinite(y).all()


def _layer(c_prev, channels, groups, genotype, **kw):
    """The supernet layer (nas) for ``genotype=None``, else the discrete one (models)."""
    if genotype is None:
        return NASTCSearchLayer(c_prev, channels, groups, **kw)
    return NASTCLayer(c_prev, channels, groups, genotype, **kw)


def test_discrete_network_refuses_no_genotype_and_moved_names_still_resolve():
    with pytest.raises(StructureError, match="nas.NASTCSupernet"):
        NASTCNetwork(5, 3, None, layers=1, groups=1, channels=3)
    with pytest.raises(StructureError, match="nas.NASTCSearchLayer"):
        NASTCLayer(6, 6, groups=1)
    import g2l_automl.models as models
    import g2l_automl.nas as nas

    for name in ("MixedOp", "SearchCell", "VideoNASSupernet"):
        with pytest.warns(DeprecationWarning, match=f"nas.{name}"):
            assert getattr(models, name) is getattr(nas, name)


@pytest.mark.parametrize("genotype", [None, GENOTYPE])
def test_layer_maps_c_to_s_c_over_m_channels_and_halves_time(genotype):
    layer = _layer(48, 48, groups=4, genotype=genotype)
    x = torch.randn(2, 48, 16)
    w = torch.softmax(torch.randn(14, 9), -1) if genotype is None else None
    assert layer(x, x, w).shape == (2, 4 * 48 // 3, 8) and layer.out_channels == 64
    odd = _layer(48, 64, groups=4, genotype=genotype)  # the next layer: previous input at twice the length
    # S * C / M = 85.3 is rounded per node: 4 groups * 4 nodes * round(16 / 3) = 80 channels; odd T rounds up
    assert odd(torch.randn(2, 64, 7), torch.randn(2, 48, 13), w).shape == (2, 80, 4) and odd.c_node == 5


def test_channel_shuffle_is_a_permutation_that_interleaves_groups():
    x = torch.arange(12.0).view(1, 12, 1)
    y = channel_shuffle(x, 3).flatten()
    assert sorted(y.tolist()) == x.flatten().tolist()
    assert y[:3].tolist() == [0.0, 4.0, 8.0]  # one channel of each group first
    assert torch.equal(channel_shuffle(channel_shuffle(x, 3), 4), x)  # shuffling by C / groups undoes it


@pytest.mark.parametrize("search", [True, False])
def test_grouped_layer_equals_separate_cells_per_group(search):
    torch.manual_seed(0)
    groups, c = 2, 12
    layer = _layer(c, c, groups=groups, genotype=None if search else GENOTYPE, affine=True).eval()
    for p in layer.parameters():  # move batch norms and weights off their defaults
        p.data.normal_()
    for name, buf in layer.named_buffers():
        if "running_var" in name:
            buf.uniform_(0.5, 2.0)
        elif "running_mean" in name:
            buf.normal_()
    x, prev = torch.randn(2, c, 10), torch.randn(2, c, 10)
    w = torch.softmax(torch.randn(14, 9), -1)
    state = layer.cell.state_dict()
    outs = []
    for g in range(groups):
        cg = c // groups
        cell = SearchCell(cg, cg, layer.c_node, affine=True) if search else GenotypeCell(GENOTYPE, cg, cg, layer.c_node)
        cell.load_state_dict({k: v.chunk(groups, 0)[g] if v.ndim else v for k, v in state.items()})
        cell.eval()
        xs, ps = x.chunk(groups, 1)[g], prev.chunk(groups, 1)[g]
        outs.append(cell(ps, xs, w) if search else cell(ps, xs))
    expected = torch.nn.functional.max_pool1d(channel_shuffle(torch.cat(outs, 1), groups), 2, ceil_mode=True)
    got = layer(x, prev, w if search else None)
    assert torch.allclose(got, expected, atol=1e-5)


def test_timeception_module_shape_and_parameters_match_the_formula():
    for c_in, b, groups in [(12, 4, 1), (10, 3, 2)]:
        m = TemporalConvModule(c_in, b, groups=groups)
        assert m(torch.randn(2, groups * c_in, 9)).shape == (2, 5 * b * groups, 9)
        # five 1x1 reductions with bias, depthwise kernels 3 + 5 + 7 without bias, five batch norms (weight, bias)
        assert sum(p.numel() for p in m.parameters()) == groups * (5 * (c_in * b + b) + 15 * b + 10 * b)
    layer = TimeceptionLayer(96, groups=4, reduction=4)
    assert layer(torch.randn(2, 96, 15)).shape == (2, 120, 8)
    net = TimeceptionNetwork(8, 3, layers=2, groups=2, channels=16)
    assert net(torch.randn(3, 8, 16)).shape == (3, 3)
    assert net.tc_parameters() == sum(p.numel() for p in net.layers.parameters())


def test_genotype_validation_and_round_trip(tmp_path):
    assert Genotype.from_dict(json.loads(json.dumps(GENOTYPE.to_dict()))) == GENOTYPE
    save_genotype(GENOTYPE, tmp_path / "g.json")
    assert load_genotype(tmp_path / "g.json") == GENOTYPE
    bad = [
        ({"nodes": [[["conv_9", 0], ["identity", 1]]]}, r"nodes\[0\]\[0\]: unknown op 'conv_9'"),
        ({"nodes": [[["zero", 0], ["identity", 1]]]}, r"nodes\[0\]\[0\]: unknown op 'zero'"),
        ({"nodes": [[["identity", 0], ["identity", 2]]]}, r"nodes\[0\]\[1\]: input must be an integer in 0..1"),
        ({"nodes": [[["identity", 1], ["max_pool_2", 1]]]}, r"nodes\[0\]: an input appears twice"),
        ({"nodes": [[["identity"]]]}, r"nodes\[0\]\[0\]: expected \[op, input\]"),
        ({"nodes": []}, "non-empty list of nodes"),
        ({"nodes": [3]}, r"nodes\[0\]: expected a non-empty list"),
        ({"nodes": [[[["x"], 0], ["identity", 1]]]}, r"unknown op \['x'\]"),
        ({"cells": []}, "single key 'nodes'"),
    ]
    for data, message in bad:
        with pytest.raises(StructureError, match=message):
            Genotype.from_dict(data)
    (tmp_path / "bad.json").write_text('{"nodes": [[["identity", 0], ["identity", 5]]]}')
    with pytest.raises(StructureError, match=r"bad\.json: genotype\.nodes\[0\]\[1\]"):
        load_genotype(tmp_path / "bad.json")
    with pytest.raises(StructureError, match="no such genotype file"):
        load_genotype(tmp_path / "missing.json")


def _tiny_config(root, **overrides):
    raw = {
        "data": {"root": str(root), "steps": 16},
        "network": {"layers": 2, "groups": 2, "channels": 12, "hidden": 16},
        "search": {"layers": 2, "groups": 2, "channels": 12, "epochs": 2, "warmup": 1, "batch_size": 8},
        "train": {"epochs": 2, "batch_size": 8},
    }
    for section, fields in overrides.items():
        raw[section] = {**raw.get(section, {}), **fields}
    return raw


def test_tiny_search_and_retrain_give_a_finite_map(multilabel):
    config = parse_nastc_config(_tiny_config(multilabel), "tiny")
    result = run_experiment(config, device="cpu", log=lambda line: None)
    search = result["search"]
    assert len(search["alpha_history"]) == 2 and np.allclose(np.sum(search["alphas"], axis=1), 1.0)
    assert search["history"][-1]["arch_loss"] > 0  # alpha steps ran after the warm-up epoch
    genotype = Genotype.from_dict(result["genotype"])
    assert all(len(node) == 2 for node in genotype.nodes)
    for name in ("NAS-TC", "Timeception"):
        m = result["models"][name]
        assert math.isfinite(m["test"]["mAP"]) and 0 < m["test"]["mAP"] <= 100 and m["tc_parameters"] > 0


def test_search_is_reproducible_and_records_alpha_per_epoch(multilabel):
    config = parse_nastc_config(_tiny_config(multilabel), "tiny")
    train, val, _ = config.splits()
    search = TempDARTSSearch(layers=1, groups=1, channels=6, hidden=8, epochs=3, warmup=1, batch_size=8, device="cpu")
    a, b = search.run(train, val), search.run(train, val)
    assert len(a.alpha_history) == 3 and np.allclose(a.alphas, b.alphas) and a.genotype == b.genotype
    assert not np.allclose(a.alpha_history[0], a.alpha_history[-1])  # alpha moved once the warm-up ended
    start = search.build_supernet(train.input_dim, train.num_classes).op_weights().detach().numpy()
    assert np.allclose(a.alpha_history[0], start)  # ... and not during it
    with pytest.raises(StructureError, match="warmup"):
        TempDARTSSearch(epochs=3, warmup=3)


def test_cli_runs_with_a_genotype_and_rejects_bad_configs(multilabel, tmp_path, capsys):
    import yaml

    config = tmp_path / "nastc.yaml"
    config.write_text(yaml.safe_dump(_tiny_config(multilabel)))
    save_genotype(GENOTYPE, tmp_path / "g.json")
    out = tmp_path / "run"
    args = ["nastc", "--config", str(config), "--genotype", str(tmp_path / "g.json"), "--device", "cpu"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| NAS-TC |" in printed and "| Timeception |" in printed and "TC params" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["search"] is None and Genotype.from_dict(results["genotype"]) == GENOTYPE
    assert load_genotype(out / "genotype.json") == GENOTYPE

    for overrides, field in [
        ({"network": {"groups": 5}}, "network.channels: 12 is not divisible by groups=5"),
        ({"search": {"epoch": 3}}, "search: unknown field(s) epoch"),
        ({"train": {"lr": -1}}, "train.lr: must be a finite number in (0, inf), got -1"),
        ({"nastc": {"multiplier": 0}}, "nastc.multiplier: must be an integer >= 1"),
        ({"data": {"val_fraction": 1.5}}, "data.val_fraction: must be a finite number in (0, 1), got 1.5"),
        ({"search": {"warmup": 2}}, "search.warmup: must be an integer in 0..epochs-1"),
    ]:
        config.write_text(yaml.safe_dump(_tiny_config(multilabel, **overrides)))
        assert main(["nastc", "--config", str(config), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert str(config) in err and field in err, err
    with pytest.raises(ConfigError, match="unknown section"):
        parse_nastc_config({"model": {}}, "x.yaml")
