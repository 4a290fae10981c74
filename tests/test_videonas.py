import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import torch.nn.functional as F
import yaml

from g2l_automl.cli import main
from g2l_automl.data import ActionSegmentationDataset, ClassificationSet, classification_splits, generate
from g2l_automl.errors import G2LError, SpaceError, StructureError
from g2l_automl.metrics import count_flops, count_parameters
from g2l_automl.models import VideoNASArch, VideoNASNet, build_videonas
from g2l_automl.nas import VideoNASSearch, VideoNASSpace
from g2l_automl.nni import distributions_from_nni
from g2l_automl.objective import VideoNASObjective, arch_cost
from g2l_automl.samplers import EvolutionSampler, G2LGeneticSampler
from g2l_automl.training import ClassifierTrainer

OPTUNA = str(Path(sys.executable).parent / "optuna") if (Path(sys.executable).parent / "optuna").exists() else "optuna"
SMALL = VideoNASSpace(widths=[[4, 8], [8, 12, 16], [12, 16]], max_layers=[1, 2, 1], stem_channels=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_set(n=12, dim=5, steps=16, classes=4, seed=0) -> ClassificationSet:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, classes, generator=g) > 0.5).float()
    y[0], y[1] = 1.0, 0.0  # every class has a positive and a negative
    x = torch.randn(n, dim, steps, generator=g) + y[:, :1, None]
    return ClassificationSet(tuple(f"v{i}" for i in range(n)), x, y, tuple("abcd"[:classes]))


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = generate(tmp_path_factory.mktemp("vn") / "multilabel", "multilabel", seed=0, num_videos=24)
    return classification_splits(ActionSegmentationDataset(root), steps=16)


# -- architecture ----------------------------------------------------------------------------------------
def test_arch_round_trips_and_builds_the_network_it_describes():
    arch = VideoNASArch(4, (8, 16), (("dil2", "skip"), ("skip",)))
    assert VideoNASArch.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    assert arch.depths == (1, 0) and arch.summary() == "4 | 8: dil2 | 16: -"
    net = VideoNASNet(arch, 5, 3)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    # stem + 2 heads + one basic op (pointwise + temporal with dilation 2)
    assert len(convs) == 5 and [c.dilation[0] for c in convs] == [1, 1, 1, 2, 1]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 1, 2]
    assert tuple(net(torch.zeros(2, 5, 16)).shape) == (2, 3)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"stem_channels": 0, "stages": [{"channels": 8, "ops": []}]}, "stem_channels"),
        ({"stem_channels": 4, "stages": [{"channels": 8, "ops": ["dil3"]}]}, r"stage1\.layer0\.op"),
        ({"stem_channels": 4, "stages": [{"channels": 8, "ops": []}, {"channels": 1.5, "ops": []}]}, "stage2"),
        ({"stem_channels": 4, "stages": [{"channels": 8}]}, "stage1"),
        ({"stem_channels": 4, "stages": []}, "widths"),
    ],
)
def test_arch_validation_names_the_field(data, field):
    with pytest.raises(StructureError, match=field):
        VideoNASArch.from_dict(data)


# -- space -----------------------------------------------------------------------------------------------
def test_space_round_trips_params_and_compiles_to_optuna_and_nni():
    space = VideoNASSpace()
    assert space.names[:4] == ("stage1.channels", "stage1.layer0.op", "stage1.layer1.op", "stage2.channels")
    dists = space.distributions()
    assert list(dists) == list(space.names)
    assert all(isinstance(d, optuna.distributions.CategoricalDistribution) for d in dists.values())
    assert distributions_from_nni(json.loads(json.dumps(space.to_nni()))) == dists
    assert space.size == math.prod(len(d.choices) for d in dists.values())
    rng = np.random.default_rng(0)
    for _ in range(20):
        params = {n: d.choices[rng.integers(len(d.choices))] for n, d in dists.items()}
        arch = space.to_arch(params)
        assert space.to_params(arch) == params
        assert space.to_arch(space.to_params(arch)) == arch
    base = space.baseline()
    assert base.widths == (24, 48, 64, 96) and base.ops == tuple(("dil1",) * n for n in (2, 3, 3, 2))


def test_space_pads_short_stages_with_skip_and_refuses_what_does_not_fit():
    arch = VideoNASArch(4, (8, 12, 16), (("dil1",), (), ("dil4",)))
    params = SMALL.to_params(arch)
    assert params["stage2.layer0.op"] == params["stage2.layer1.op"] == "skip"
    assert SMALL.to_arch(params).depths == arch.depths
    with pytest.raises(SpaceError, match="stage1.channels: 6"):
        SMALL.to_params(VideoNASArch(4, (6, 12, 16), ((), (), ())))
    with pytest.raises(SpaceError, match="stage1: 2 stack layers"):
        SMALL.to_params(VideoNASArch(4, (8, 12, 16), (("dil1", "dil1"), (), ())))
    with pytest.raises(SpaceError, match="missing"):
        SMALL.to_arch({"stage1.channels": 4})
    with pytest.raises(SpaceError, match="stage1.channels"):
        VideoNASSpace(widths=[[4, 4]], max_layers=[1])
    with pytest.raises(SpaceError, match="ops"):
        VideoNASSpace(widths=[[4]], max_layers=[1], ops=["dil1", "conv"])


# -- supernet --------------------------------------------------------------------------------------------
def _supernet(seed=0):
    return SMALL.supernet(5, 4, steps=16, dropout=0.0, seed=seed)


def test_supernet_node_probabilities_follow_the_forward_algorithm():
    net = _supernet()
    with torch.no_grad():
        for b in net.betas:
            b.normal_()
    probs = net.path_probabilities()
    nodes = net.node_probabilities()
    assert all(torch.allclose(p.sum(dim=1), torch.ones(p.shape[0])) for p in probs)
    assert torch.allclose(nodes[0], probs[0][0])
    for s in range(1, len(probs)):
        assert torch.allclose(nodes[s], nodes[s - 1] @ probs[s])
        assert nodes[s].sum().item() == pytest.approx(1.0)


def test_arch_weights_get_gradients_from_both_the_bce_and_the_flops_term():
    net = _supernet()
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_(0, 0.5)
    data = _random_set()
    bce = F.binary_cross_entropy_with_logits(net(data.features), data.targets)
    flops = VideoNASSearch(SMALL, flops_weight=0.1).penalty(net)
    for term in (bce, flops):
        grads = torch.autograd.grad(term, net.arch_parameters())
        for p, g in zip(net.arch_parameters(), grads, strict=True):
            assert g.shape == p.shape and g.abs().sum() > 0


@pytest.mark.parametrize("seed", range(4))
def test_expected_flops_is_the_decoded_networks_flops_at_one_hot_weights(seed):
    net = _supernet(seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 1e3)  # softmax is one-hot in float32
    arch = net.decode()
    expected = net.expected_flops().item()
    assert expected == count_flops(VideoNASNet(arch, 5, 4), torch.zeros(1, 5, 16))
    assert expected == arch_cost(arch, 5, 4, 16)[0]


def test_expected_flops_at_uniform_weights_is_the_mean_over_architectures():
    space = VideoNASSpace(widths=[[4, 8], [8, 12]], max_layers=[1, 1], ops=["dil1", "skip"], stem_channels=4)
    net = space.supernet(5, 4, steps=16)
    archs = [space.to_arch(dict(zip(space.names, v, strict=True))) for v in itertools.product(*(
        space.choices(n) for n in space.names))]  # fmt: skip
    mean = np.mean([arch_cost(a, 5, 4, 16)[0] for a in archs])
    assert net.expected_flops().item() == pytest.approx(mean)


def test_decode_takes_the_most_probable_width_path_not_the_greedy_one():
    space = VideoNASSpace(widths=[[4, 8], [8, 12]], max_layers=[1, 1], stem_channels=4)
    net = space.supernet(5, 4, steps=16)
    with torch.no_grad():
        net.betas[0].copy_(torch.log(torch.tensor([[0.6, 0.4]])))
        # from width 4 the next step is a coin flip; from width 8 it is almost certain
        net.betas[1].copy_(torch.log(torch.tensor([[0.5, 0.5], [0.01, 0.99]])))
        net.alphas[0].copy_(torch.tensor([[0.0, 3.0, 0.0, 0.0]]))
        net.alphas[1].copy_(torch.tensor([[0.0, 0.0, 0.0, 3.0]]))
    assert net.decode("log") == VideoNASArch(4, (8, 12), (("dil2",), ("skip",)))  # 0.4 * 0.99 > 0.6 * 0.5
    assert net.decode("sum") == net.decode() == net.decode("log")  # 0.4 + 0.99 > 0.6 + 0.5 too
    with pytest.raises(StructureError, match="criterion"):
        net.decode("max")


def _brute_force_widths(net, criterion):
    """Every width path of the lattice scored by the sum of ``p_ij`` or of ``log p_ij``: the best one."""
    probs = [p.detach().double() for p in net.path_probabilities()]
    score = (lambda p: p) if criterion == "sum" else torch.log
    best = max(
        itertools.product(*(range(len(c)) for c in net.candidates)),
        key=lambda path: sum(score(p[i, j]).item() for p, i, j in zip(probs, (0, *path[:-1]), path, strict=True)),
    )
    return tuple(c[j] for c, j in zip(net.candidates, best, strict=True))


def test_both_decoding_criteria_equal_brute_force_and_differ_from_each_other_sometimes():
    differ = 0
    for seed in range(40):
        space = VideoNASSpace(widths=[[4, 8, 12], [8, 12], [12, 16, 20], [16, 24]], max_layers=[0, 1, 0, 0])
        net = space.supernet(5, 4, steps=8, seed=None)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for b in net.betas:
                b.copy_(torch.randn(b.shape, generator=g) * 1.5)
        decoded = {c: net.decode(c).widths for c in ("sum", "log")}
        assert decoded == {c: _brute_force_widths(net, c) for c in ("sum", "log")}, seed
        differ += decoded["sum"] != decoded["log"]
    assert 0 < differ < 40  # the criteria are different rules, not the same one twice


def test_supernet_forward_with_one_hot_weights_runs_only_the_chosen_path():
    net = _supernet().eval()
    with torch.no_grad():
        for p in net.arch_parameters():
            p.zero_()
        net.betas[0][0, 1] = 1e4  # stage 1 -> width 8
        net.betas[1][1, 0] = 1e4  # stage 2 -> width 8 from 8
        net.betas[2][0, 1] = 1e4  # stage 3 -> width 16
        net.alphas[0][0, 2] = net.alphas[1][0, 0] = net.alphas[1][1, 3] = net.alphas[2][0, 1] = 1e4
    x = _random_set().features
    with torch.no_grad():
        h = net.stem(x)
        h = net.cells[0][1][0].ops[2](net.heads[0][0][1](h))
        h = net.cells[1][0][0].ops[0](net.heads[1][1][0](h))
        h = net.cells[2][1][0].ops[1](net.heads[2][0][1](h))
        expected = net.classifiers[1](h.mean(dim=-1))
        assert torch.allclose(net(x), expected, atol=1e-6)
    assert net.decode() == VideoNASArch(4, (8, 8, 16), (("dil4",), ("dil1", "skip"), ("dil2",)))


def test_inherited_state_copies_the_decoded_path_and_gives_the_supernets_function():
    net = _supernet(seed=3)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)  # move weights (and BN affine) off their init
        for p in net.arch_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 1e3)  # one-hot softmaxes: the supernet is one network
    net.train()
    with torch.no_grad():
        net(_random_set(seed=1).features)  # move the batch-norm running statistics
    arch = net.decode()
    state = net.inherited_state(arch)
    discrete = VideoNASNet(arch, 5, 4, dropout=0.0)
    assert set(state) == set(discrete.state_dict())
    discrete.load_state_dict(state)
    source = net.state_dict()
    path = [SMALL.widths[s].index(w) for s, w in enumerate(arch.widths)]
    pairs = {"stem.0.weight": "stem.0.weight", "stem.1.running_mean": "stem.1.running_mean"}
    prev = 0
    for s, (j, ops) in enumerate(zip(path, arch.ops, strict=True)):
        pairs[f"stages.{s}.0.0.weight"] = f"heads.{s}.{prev}.{j}.0.weight"
        pairs[f"stages.{s}.0.1.running_var"] = f"heads.{s}.{prev}.{j}.1.running_var"
        for layer, op in enumerate(ops):
            if op != "skip":
                k = SMALL.ops.index(op)
                pairs[f"stages.{s}.{layer + 1}.temporal.weight"] = f"cells.{s}.{j}.{layer}.ops.{k}.temporal.weight"
                pairs[f"stages.{s}.{layer + 1}.bn2.bias"] = f"cells.{s}.{j}.{layer}.ops.{k}.bn2.bias"
        prev = j
    pairs["classifier.weight"] = f"classifiers.{prev}.weight"
    target = discrete.state_dict()
    for dst, src in pairs.items():
        assert torch.equal(target[dst], source[src]), dst
        assert state[dst].data_ptr() != source[src].data_ptr()  # a copy: retraining leaves the supernet alone
    assert len(pairs) > 8
    x = _random_set(seed=2).features
    net.eval()
    discrete.eval()
    with torch.no_grad():
        assert torch.allclose(discrete(x), net(x), atol=1e-5)
    with pytest.raises(StructureError, match="stage1"):
        net.inherited_state(VideoNASArch(4, (6, 8, 16), ((), (), ())))


def test_differentiable_search_records_history_and_the_flops_term_shrinks_the_network():
    data = _random_set(n=16)
    runs = {}
    for weight in (0.0, 2.0):
        search = VideoNASSearch(SMALL, epochs=6, warmup_epochs=1, batch_size=8, arch_lr=0.1, flops_weight=weight)
        runs[weight] = search.run(data, data)
    result = runs[2.0]
    assert [h["epoch"] for h in result.history] == list(range(1, 7))
    assert "arch_loss" not in result.history[0] and "arch_loss" in result.history[1]
    assert VideoNASArch.from_dict(result.history[-1]["arch"]) == result.arch
    assert [a.shape for a in result.alphas] == [(1, 4), (2, 4), (1, 4)]
    assert [b.shape for b in result.betas] == [(1, 2), (2, 3), (3, 2)]
    mflops = [h["expected_mflops"] for h in result.history]
    uniform = round(SMALL.supernet(5, 4, steps=16).expected_flops().item() / 1e6, 4)
    assert mflops[0] == uniform > mflops[1] > mflops[-1]  # no architecture step during warm-up, then down
    assert runs[0.0].history[-1]["expected_mflops"] > mflops[-1]
    assert json.loads(json.dumps(result.to_dict()))["summary"] == result.arch.summary()
    assert "weights" not in result.to_dict() and "supernet" not in result.to_dict()
    assert result.supernet.decode() == result.arch
    VideoNASNet(result.arch, 5, 4).load_state_dict(result.weights)  # every key, every shape
    log = VideoNASSearch(SMALL, epochs=6, warmup_epochs=1, batch_size=8, arch_lr=0.1, flops_weight=2.0, decode="log")
    assert log.run(data, data).history[-1]["expected_mflops"] == mflops[-1]  # decoding does not change the search
    with pytest.raises(G2LError, match="decode"):
        VideoNASSearch(SMALL, decode="viterbi")


# -- Optuna ----------------------------------------------------------------------------------------------
def _objective(splits, **kw):
    train, val, _ = splits
    return VideoNASObjective(SMALL, train, val, trainer=ClassifierTrainer(epochs=2, batch_size=8), **kw)


@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
        G2LGeneticSampler(None, population_size=2, seed=0),
        EvolutionSampler(None, population_size=2, sample_size=2, max_mutations=2, seed=0),
    ],
    ids=["tpe", "g2l", "evolution"],
)
def test_optuna_study_runs_trials_end_to_end(splits, sampler):
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective(splits), n_trials=4)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert len({tuple(sorted(t.params.items())) for t in trials}) > 1
    for t in trials:
        arch = VideoNASArch.from_dict(t.user_attrs["arch"])
        assert arch == SMALL.to_arch(t.params)
        assert t.user_attrs["metrics"]["mAP"] == t.value and 0 < t.value <= 100
        assert (t.user_attrs["flops"], t.user_attrs["params"]) == arch_cost(arch, 32, 34, 16)
        assert t.user_attrs["train_seconds"] > 0
    if isinstance(sampler, G2LGeneticSampler):  # generations 0 and 1: the second one bred from the first
        assert sorted(t.system_attrs["G2LGeneticSampler:generation"] for t in trials) == [0, 0, 1, 1]


def test_two_direction_study_gets_pareto_ranked_best_trials(splits):
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(_objective(splits, metric=("mAP", "flops")), n_trials=6)
    complete = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(complete) == 6

    def dominates(a, b):
        return a.values[0] >= b.values[0] and a.values[1] <= b.values[1] and a.values != b.values

    best = study.best_trials
    assert best and all(not dominates(o, b) for b in best for o in complete)
    assert all(any(dominates(b, o) or b.values == o.values for b in best) for o in complete if o not in best)
    assert all(t.values[1] == t.user_attrs["flops"] for t in complete)


def test_a_crashing_trial_fails_alone(splits):
    class Flaky(ClassifierTrainer):
        calls = 0

        def fit(self, *args, **kw):
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise RuntimeError("out of memory")
            return super().fit(*args, **kw)

    train, val, _ = splits
    objective = VideoNASObjective(SMALL, train, val, trainer=Flaky(epochs=1, batch_size=8))
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.get_trials()]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert study.get_trials()[1].user_attrs["error"] == "RuntimeError: out of memory"


def test_objective_refuses_unknown_metrics(splits):
    with pytest.raises(Exception, match="unknown metric 'F1@10'"):
        _objective(splits, metric="F1@10")


def test_discrete_network_cost_helpers_agree():
    arch = SMALL.baseline()
    net = build_videonas(arch, 5, 4, seed=0)
    assert arch_cost(arch, 5, 4, 16) == (count_flops(net, torch.zeros(1, 5, 16)), count_parameters(net))


# -- CLI -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vncli")
    root = generate(tmp / "multilabel", "multilabel", seed=0, num_videos=24)
    config = {
        "data": {"root": str(root), "steps": 16},
        "space": {"stem_channels": 4, "widths": [[4, 8], [8, 12]], "max_layers": [1, 2]},
        "training": {"epochs": 2, "trial_epochs": 1, "batch_size": 8},
        "search": {"epochs": 3, "warmup_epochs": 1, "arch_lr": 0.1},
        "optuna": {"metric": "mAP", "sampler": "g2l", "n_trials": 3, "samplers": {"g2l": {"population_size": 2}}},
    }
    return tmp, config


def _write(path, config):
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_cli_differentiable_searches_retrains_and_compares_with_the_baseline(cli_setup, tmp_path, capsys):
    _, config = cli_setup
    out = tmp_path / "run"
    assert (
        main(["videonas", "--config", _write(tmp_path / "c.yaml", config), "--out", str(out), "--device", "cpu"]) == 0
    )
    printed = capsys.readouterr().out
    assert "searched" in printed and "baseline" in printed and "test mAP" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "differentiable" and len(results["search"]["history"]) == 3
    assert results["baseline"]["summary"] == "4 | 4: dil1 | 8: dil1 dil1"  # lower middle of two
    for key in ("searched", "baseline"):
        arch = VideoNASArch.from_dict(results[key]["arch"])
        assert results[key]["mflops"] == round(arch_cost(arch, 32, 34, 16)[0] / 1e6, 4)
        assert 0 < results[key]["test_mAP"] <= 100
    assert results["searched"]["arch"] == results["search"]["arch"]


@pytest.mark.parametrize("init", ["searched", "scratch"])
def test_cli_retrains_from_the_searched_weights_when_asked(cli_setup, tmp_path, monkeypatch, init):
    from g2l_automl.objective import _videonas as objective_module

    _, config = cli_setup
    config = {**config, "search": {**config["search"], "decode": "log", "retrain_init": init}}
    inits = []
    real = objective_module.build_videonas

    def spy(arch, *args, **kwargs):
        net = real(arch, *args, **kwargs)
        load = net.load_state_dict

        def record(state, *a, **k):
            inits.append({key: value.clone() for key, value in state.items()})
            return load(state, *a, **k)

        net.load_state_dict = record
        return net

    monkeypatch.setattr(objective_module, "build_videonas", spy)
    out = tmp_path / "run"
    args = ["videonas", "--config", _write(tmp_path / "c.yaml", config), "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    if init == "scratch":
        assert inits == []
    else:
        assert len(inits) == 1  # the searched network only; the baseline has no searched weights
        arch = VideoNASArch.from_dict(results["searched"]["arch"])
        assert set(inits[0]) == set(VideoNASNet(arch, 32, 34).state_dict())
    assert 0 < results["searched"]["test_mAP"] <= 100


def test_cli_optuna_runs_against_a_created_study_and_checks_directions(cli_setup, tmp_path, capsys):
    _, config = cli_setup
    storage = f"sqlite:///{tmp_path / 'vn.db'}"
    created = subprocess.run(
        [OPTUNA, "create-study", "--storage", storage, "--study-name", "vn", "--direction", "maximize"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    args = ["videonas", "--config", _write(tmp_path / "c.yaml", config), "--out", str(tmp_path / "o"),
            "--method", "optuna", "--storage", storage, "--study-name", "vn", "--device", "cpu"]  # fmt: skip
    assert main([*args, "--n-trials", "3", "--seed", "0", "--retrain"]) == 0
    printed = capsys.readouterr().out
    assert "3 complete trials" in printed and "test mAP" in printed
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    study = optuna.load_study(study_name="vn", storage=storage)
    assert len(results["best"]) == 1 and results["best"][0]["trial"] == study.best_trial.number
    assert results["best"][0]["val_mAP"] == round(study.best_value, 3) and "test_mAP" in results["best"][0]
    # a two-objective config against this single-direction study: a clear error, exit 2
    config2 = {**config, "optuna": {**config["optuna"], "metric": ["mAP", "flops"]}}
    args[2] = _write(tmp_path / "c2.yaml", config2)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "has direction(s) maximize" in err and "--directions maximize minimize" in err
    assert len(study.get_trials()) == 3


@pytest.mark.parametrize(
    "section, change, message",
    [
        ("space", {"widths": [[4, "x"]]}, r"space\.widths\[0\] \(stage1\)"),
        ("space", {"max_layers": [1]}, "space: widths / max_layers"),
        ("space", {"ops": ["dil1", "dil8"]}, "space: ops"),
        ("search", {"warmup_epochs": 3}, "search.warmup_epochs"),
        ("search", {"flops_base": 1}, "search.flops_base"),
        ("search", {"decode": "max"}, "search.decode: must be one of sum, log"),
        ("search", {"retrain_init": "warm"}, "search.retrain_init: must be one of scratch, searched"),
        ("training", {"lr": -1}, "training.lr"),
        ("training", {"epoch": 3}, r"training: unknown field\(s\) epoch"),
        ("optuna", {"metric": ["mAP", "F1@10"]}, "optuna.metric"),
        ("optuna", {"sampler": "cmaes"}, "optuna.sampler"),
        ("optuna", {"samplers": {"g2l": {"population": 3}}}, "optuna.samplers.g2l"),
        ("data", {"steps": 0}, "data.steps"),
    ],
)
def test_cli_bad_config_exits_2_naming_the_file_and_field(cli_setup, tmp_path, capsys, section, change, message):
    _, config = cli_setup
    bad = {**config, section: {**config[section], **change}}
    path = _write(tmp_path / "bad.yaml", bad)
    assert main(["videonas", "--config", path, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and path in err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists()


def test_the_shipped_config_is_valid_and_its_help_runs():
    from g2l_automl.config import load_videonas_config

    config = load_videonas_config("studies/nas/videonas-multilabel.yaml")
    assert config.data["root"] == "data/multilabel" and config.space.num_stages == 4
    assert config.space.baseline().widths == (24, 48, 64, 96)
    result = subprocess.run(
        [sys.executable, "-m", "g2l_automl.cli._main", "videonas", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--method" in result.stdout


def test_trials_report_val_map_for_pruning_only_when_map_is_the_one_objective():
    train, val = _random_set(seed=0), _random_set(seed=1)
    trainer = ClassifierTrainer(epochs=2, batch_size=4, device="cpu")
    for metric, direction, reports in (("mAP", "maximize", True), ("flops", "minimize", False)):
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(VideoNASObjective(SMALL, train, val, trainer=trainer, metric=metric), n_trials=1)
        trial = study.trials[0]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        # a pruner of a minimised-FLOPs study must not see mAP (it would cut the most accurate networks)
        assert bool(trial.intermediate_values) == reports
