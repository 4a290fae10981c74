"""EvaNet's kernel space: op types, temporal lengths and parallel multi-op modules as genes; the evolution's
mutation operators on them (EvaNet Sec. 4.2, Fig. 5); both genetic samplers and the CLI on such a space."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from g2l_automl.config import load_config
from g2l_automl.errors import SpaceError
from g2l_automl.models import build_model
from g2l_automl.objective import ProxyObjective
from g2l_automl.samplers import EvolutionSampler, G2LGeneticSampler
from g2l_automl.spaces import Depths, Dilations, Kernels, Modules, Ops, SearchSpace, space_from_dict
from g2l_automl.structure import LayerSpec, StageSpec, StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVANET_OPS = ("conv", "conv2plus1d", "sep_conv", "tgm", "max_pool", "avg_pool", "parallel")
CONV_BRANCHES = ("conv", "conv2plus1d", "sep_conv", "tgm")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _evanet_space(num_layers: int = 3, depths: bool = True, ops: tuple[str, ...] = EVANET_OPS) -> SearchSpace:
    dims = [
        Dilations(k=2, T=4),
        Ops(ops),
        Kernels((1, 3, 5, 7)),
        Modules(max_branches=3, kernel_sizes=(1, 3, 5, 7, 9, 11), max_pools=2),
    ]
    if depths:
        dims.append(Depths((2, 3, 4)))
    return SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=num_layers, channels=4), dims)


def _forward(spec: StructureSpec) -> None:
    model = build_model(spec, input_dim=3, num_classes=2, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 24), torch.ones(1, 1, 24))
    assert out.shape == (len(spec.stages), 1, 2, 24) and torch.isfinite(out).all()


# -- the space ----------------------------------------------------------------------------------------------------


def test_module_genes_are_named_and_ordered_per_layer():
    space = _evanet_space(num_layers=2, depths=False)
    assert space.names[:16] == (
        "stage0.layer0.op",
        "stage0.layer0.num_branches",
        "stage0.layer0.num_pools",
        "stage0.layer0.dilation",
        "stage0.layer0.kernel_size",
        "stage0.layer0.branch0.op",
        "stage0.layer0.branch0.kernel_size",
        "stage0.layer0.branch1.op",
        "stage0.layer0.branch1.kernel_size",
        "stage0.layer0.branch2.op",
        "stage0.layer0.branch2.kernel_size",
        "stage0.layer0.pool0.op",
        "stage0.layer0.pool0.kernel_size",
        "stage0.layer0.pool1.op",
        "stage0.layer0.pool1.kernel_size",
        "stage0.layer1.op",
    )
    assert space.gene("stage0.layer1.num_branches").choices == (1, 2, 3)
    assert space.gene("stage0.layer1.num_pools").choices == (0, 1, 2)
    assert space.gene("stage0.layer1.branch2.op").choices == CONV_BRANCHES
    assert space.gene("stage0.layer1.branch2.kernel_size").choices == (1, 3, 5, 7, 9, 11)
    assert space.gene("stage0.layer1.branch2.op").branch == 2
    pool = space.gene("stage0.layer1.pool1.op")
    assert (pool.choices, pool.field, pool.branch) == (("max_pool", "avg_pool"), "pool_op", 1)
    assert space.gene("stage0.layer1.pool1.kernel_size").field == "pool_kernel_size"


def test_which_genes_are_active():
    space = _evanet_space(num_layers=1, depths=False)
    base = {n: space.gene(n).choices[0] for n in space.names}
    conv = {**base, "stage0.layer0.op": "tgm"}
    assert space.active_names(conv) == ["stage0.layer0.op", "stage0.layer0.dilation", "stage0.layer0.kernel_size"]
    module = {**base, "stage0.layer0.op": "parallel", "stage0.layer0.num_branches": 2}
    assert space.active_names(module) == [
        "stage0.layer0.op",
        "stage0.layer0.num_branches",
        "stage0.layer0.num_pools",
        "stage0.layer0.dilation",
        "stage0.layer0.branch0.op",
        "stage0.layer0.branch0.kernel_size",
        "stage0.layer0.branch1.op",
        "stage0.layer0.branch1.kernel_size",
    ]
    spec = space.to_structure({**module, "stage0.layer0.branch1.op": "tgm", "stage0.layer0.branch1.kernel_size": 9})
    assert spec.stages[0].layers[0] == LayerSpec(1, channels=4, op="parallel", branches=(("conv", 1), ("tgm", 9)))
    pooled = {**module, "stage0.layer0.num_pools": 1, "stage0.layer0.pool0.op": "avg_pool"}
    assert space.active_names(pooled)[-2:] == ["stage0.layer0.pool0.op", "stage0.layer0.pool0.kernel_size"]
    layer = space.to_structure({**pooled, "stage0.layer0.pool0.kernel_size": 5}).stages[0].layers[0]
    assert layer.branches == (("conv", 1), ("conv", 1), ("avg_pool", 5)) and layer.kernel_size == 5


def test_random_genomes_round_trip_and_build():
    space = _evanet_space()
    rng = np.random.RandomState(0)
    ops, counts, pools, branch_ops = set(), set(), set(), set()
    for k in range(200):
        genome = space.sample(rng)
        spec = space.to_structure(genome)
        params = space.to_params(spec)
        assert set(params) == set(space.active_names(genome))
        assert space.to_structure(params) == spec
        assert StructureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
        for _, _, layer in spec.layers():
            ops.add(layer.op)
            if layer.op == "parallel":
                counts.add(sum(b.op in CONV_BRANCHES for b in layer.branches))
                pools.add(sum(b.op in ("max_pool", "avg_pool") for b in layer.branches))
                branch_ops.update(b.op for b in layer.branches)
                assert layer.kernel_size == max(b.kernel_size for b in layer.branches)
        if k < 20:
            _forward(spec)
    assert ops == set(EVANET_OPS) and counts == {1, 2, 3} and pools == {0, 1, 2}
    assert branch_ops == set(CONV_BRANCHES) | {"max_pool", "avg_pool"}


@pytest.mark.parametrize("encoding", ["categorical", "index"])
def test_suggest_asks_only_active_genes(encoding):
    space = _evanet_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(25):
        trial = study.ask()
        spec = space.suggest(trial, encoding=encoding)
        study.tell(trial, 0.0)
        params = study.trials[-1].params
        if encoding == "index":
            params = {n: space.gene(n).choices[v] for n, v in params.items()}
        assert space.to_params(spec) == params


def test_compiles_to_optuna_and_nni_with_every_gene():
    space = _evanet_space(num_layers=2, depths=False)
    dists = space.distributions()
    assert set(dists) == set(space.names)
    assert dists["stage0.layer1.branch0.op"].choices == CONV_BRANCHES
    nni = json.loads(json.dumps(space.to_nni()))
    assert nni["stage0.layer0.num_branches"] == {"_type": "choice", "_value": [1, 2, 3]}
    assert len(nni) == len(space.names)
    # defaults: the MS-TCN template's own values; it has no modules, so no branch defaults
    defaults = space.defaults()
    assert defaults["stage0.layer0.op"] == "conv" and defaults["stage0.layer1.dilation"] == 2
    assert not any("branch" in n for n in defaults)


def test_modules_without_ops_make_every_chosen_layer_a_module():
    base = StructureSpec.mstcn(num_stages=2, num_layers=3, channels=4)
    space = SearchSpace(base, [Modules(max_branches=2, ops=("tgm",), kernel_sizes=(3, 9), stages=(1,), layers=(0, 2))])
    params = {n: space.gene(n).choices[-1] for n in space.names}
    spec = space.to_structure(params)
    assert [layer.op for layer in spec.stages[1].layers] == ["parallel", "conv", "parallel"]
    assert spec.stages[1].layers[2].branches == (("tgm", 9), ("tgm", 9))
    assert spec.stages[0] == base.stages[0]
    assert space.to_params(spec) == params
    with pytest.raises(SpaceError, match="stage1.layer0.op: the structure's op is 'conv'"):
        space.to_params(base)


def test_a_base_with_modules_keeps_its_branches_under_ops():
    module = LayerSpec(1, channels=4, op="parallel", branches=(("tgm", 5), ("conv", 3)))
    base = StructureSpec(stages=(StageSpec((module,)), StageSpec((LayerSpec(2, channels=4),))))
    space = SearchSpace(base, [Ops(("conv", "parallel"), stages=(0,)), Dilations(k=2, T=2)])
    params = space.to_params(base)
    assert params["stage0.layer0.op"] == "parallel" and space.to_structure(params) == base
    flipped = space.to_structure({**params, "stage0.layer0.op": "conv"}).stages[0].layers[0]
    assert (flipped.op, flipped.kernel_size, flipped.branches) == ("conv", 5, None)
    with pytest.raises(SpaceError, match="'parallel' at stage1.layer0 needs a modules dimension"):
        SearchSpace(base, [Ops(("conv", "parallel"))])


def test_receptive_field_cap_counts_branch_kernels():
    base = StructureSpec.mstcn(num_stages=1, num_layers=2, channels=4)
    dims = [Dilations(k=2, T=2), Modules(max_branches=2, kernel_sizes=(3, 11))]
    SearchSpace(base, dims, max_receptive_field=1 + 2 * 4 * 10)
    with pytest.raises(SpaceError, match="max_receptive_field"):
        SearchSpace(base, dims, max_receptive_field=1 + 2 * 4 * 10 - 1)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"modules": {"max_branches": 0}}, "space.modules.max_branches"),
        ({"modules": {"max_branches": 2, "min_branches": 3}}, "space.modules.min_branches"),
        ({"modules": {"ops": ["conv", "dual_conv"]}}, r"space.modules.ops\[1\]: unknown branch op 'dual_conv'"),
        ({"modules": {"ops": ["conv", "max_pool"]}}, r"modules.ops\[1\]: .*pooling branches go in modules.pool_ops"),
        ({"modules": {"pool_ops": ["conv"], "max_pools": 1}}, r"modules.pool_ops\[0\]: unknown pool op 'conv'"),
        ({"modules": {"max_pools": 1, "min_pools": 2}}, "space.modules.min_pools: 2 is larger than max_pools 1"),
        (
            {"modules": {"pool_sizes": [2], "max_pools": 1}},
            r"modules.pool_sizes\[0\]: temporal kernel sizes must be odd",
        ),
        ({"modules": {"kernel_sizes": [3, 4]}}, r"space.modules.kernel_sizes\[1\]: temporal kernel sizes must be odd"),
        ({"modules": {"kernel_sizes": []}}, "space.modules.kernel_sizes: the list of candidates is empty"),
        ({"modules": {"layers": [9]}}, "space.modules.layers: layer 9 does not exist in stage 0"),
        ({"modules": {"branches": 2}}, r"space.modules: unknown option\(s\) branches"),
        ({"modules": {}, "ops": {"types": ["conv", "tgm"]}}, "space.modules: stage0.layer0 is a module"),
        ({"ops": {"types": ["conv", "parallel"]}}, "space.ops.types: 'parallel' at stage0.layer0 needs a modules"),
        ({"ops": {"types": ["conv", "lstm"]}}, "unknown op 'lstm'"),
        ({"modules": [3]}, "space.modules: expected a mapping"),
    ],
)
def test_space_config_errors_name_the_field(space, message):
    with pytest.raises(SpaceError, match=message):
        space_from_dict(StructureSpec.mstcn(num_stages=1, num_layers=3), space)


def test_space_config_accepts_the_dimension():
    base = StructureSpec.mstcn(num_stages=2, num_layers=3)
    space = space_from_dict(
        base,
        {
            "ops": {"types": list(EVANET_OPS), "stages": [0]},
            "modules": {"max_branches": 2, "ops": ["tgm", "conv"], "kernel_sizes": [3, 9], "stages": [0]},
        },
    )
    assert space.gene("stage0.layer2.branch1.kernel_size").choices == (3, 9)
    assert "stage1.layer0.num_branches" not in space.names
    assert space.to_structure(space.to_params(base)) == base


# -- the mutation operators ---------------------------------------------------------------------------------------


def _classify(space: SearchSpace, before: dict, after: dict) -> str:
    changed = {space.gene(n).field for n in space.names if before[n] != after[n]}
    names = [n for n in space.names if before[n] != after[n]]
    for field, kind in (("num_branches", "branch"), ("num_pools", "pool"), ("num_layers", "layer")):
        if field in changed:
            return kind
    if not names:
        return "none"
    (name,) = names
    gene = space.gene(name)
    where = ("pool_" if gene.field.startswith("pool_") else "branch_") if gene.branch is not None else ""
    return where + {"op": "op", "kernel_size": "length"}.get(gene.field.removeprefix("pool_"), "value")


def test_every_mutation_operator_occurs_uniformly_and_gives_valid_structures():
    space = _evanet_space()
    sampler = EvolutionSampler(space, population_size=4, sample_size=2, seed=0)
    genome = sampler._genome(space.distributions())
    rng = np.random.RandomState(1)
    kinds: Counter = Counter()
    for k in range(1200):
        child = genome.random(rng)
        out = sampler._mutate(genome, child)
        before, after = genome.to_params(child), genome.to_params(out)
        kind = _classify(space, before, after)
        kinds[kind] += 1
        spec_before, spec_after = space.to_structure(before), space.to_structure(after)
        if k < 40:
            _forward(spec_after)
        if kind in ("branch", "pool"):
            field = "num_branches" if kind == "branch" else "num_pools"
            name = next(n for n in space.names if space.gene(n).field == field and before[n] != after[n])
            gene = space.gene(name)
            assert abs(before[name] - after[name]) == 1
            a = spec_before.stages[gene.stage].layers[gene.layer]
            b = spec_after.stages[gene.stage].layers[gene.layer]
            assert a.op == b.op == "parallel"
            # one branch, any of them, removed or added; the others unchanged; a pool for num_pools
            fewer, more = (b, a) if after[name] < before[name] else (a, b)
            assert not Counter(fewer.branches) - Counter(more.branches)
            (changed,) = (Counter(more.branches) - Counter(fewer.branches)).elements()
            assert (changed.op in ("max_pool", "avg_pool")) == (kind == "pool")
        if kind == "layer":
            depth = space.gene("stage0.num_layers").choices
            assert abs(depth.index(before["stage0.num_layers"]) - depth.index(after["stage0.num_layers"])) == 1
    assert kinds["none"] == 0
    # the four operators (value, op, length, depth) are drawn uniformly; op, length and depth each cover layers
    # and module branches
    every = ("op", "branch_op", "pool_op", "length", "branch_length", "pool_length", "layer", "branch", "pool")
    assert all(kinds[k] > 0 for k in every + ("value",)), kinds
    shares = {
        "value": kinds["value"],
        "op": kinds["op"] + kinds["branch_op"] + kinds["pool_op"],
        "length": kinds["length"] + kinds["branch_length"] + kinds["pool_length"],
        "depth": kinds["layer"] + kinds["branch"] + kinds["pool"],
    }
    assert all(abs(n / 1200 - 0.25) < 0.05 for n in shares.values()), shares


def test_removed_branch_can_be_any_of_them():
    space = SearchSpace(StructureSpec.mstcn(1, 1, channels=4), [Modules(max_branches=3, kernel_sizes=(1, 3, 5))])
    sampler = EvolutionSampler(space, population_size=2, sample_size=1, seed=0)
    genome = sampler._genome(space.distributions())
    params = {
        "stage0.layer0.num_branches": 3,
        "stage0.layer0.branch0.op": "conv",
        "stage0.layer0.branch0.kernel_size": 1,
        "stage0.layer0.branch1.op": "sep_conv",
        "stage0.layer0.branch1.kernel_size": 3,
        "stage0.layer0.branch2.op": "tgm",
        "stage0.layer0.branch2.kernel_size": 5,
    }
    child = [params[n] for n in genome.names]
    removed = set()
    for _ in range(60):
        out = genome.to_params(sampler._mutate(genome, child))
        if out["stage0.layer0.num_branches"] == 2:
            kept = space.to_structure(out).stages[0].layers[0].branches
            (gone,) = set(space.to_structure(params).stages[0].layers[0].branches) - set(kept)
            removed.add(gone.op)
            # the removed branch's genes wait in the first inactive slot: adding a branch back restores it
            assert (out["stage0.layer0.branch2.op"], out["stage0.layer0.branch2.kernel_size"]) == gone
    assert removed == {"conv", "sep_conv", "tgm"}


class _Recorder(EvolutionSampler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds: Counter = Counter()

    def _mutate(self, genome, child):
        out = super()._mutate(genome, child)
        self.kinds[_classify(self._space, genome.to_params(child), genome.to_params(out))] += 1
        return out


def test_evolution_study_over_ops_and_modules_builds_every_structure():
    space = _evanet_space(ops=("conv", "conv2plus1d", "max_pool", "parallel"))
    proxy = ProxyObjective(space, seed=0)
    sampler = _Recorder(space, population_size=8, sample_size=3, max_mutations=2, anneal_rounds=10, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        _forward(spec)
        modules = sum(layer.op == "parallel" for _, _, layer in spec.layers())
        return proxy.score(spec) + modules  # dilations near the target, modules rewarded

    study.optimize(objective, n_trials=60)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all(sampler.kinds[k] > 0 for k in ("op", "branch_op", "branch", "value")), sampler.kinds
    later = [t.value for t in study.trials[40:]]
    assert np.mean(later) > np.mean([t.value for t in study.trials[:8]])  # it climbs
    seen = {v for t in study.trials for n, v in t.params.items() if n.endswith(".op")}
    assert {"conv", "conv2plus1d", "tgm", "max_pool", "avg_pool", "parallel"} <= seen


def test_g2l_sampler_crosses_over_such_genomes():
    space = _evanet_space()
    proxy = ProxyObjective(space, seed=1)
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=6, seed=0))
    study.enqueue_trial(space.to_params(space.base))

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        _forward(spec)
        return proxy.score(spec)

    study.optimize(objective, n_trials=24)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    generations = {t.system_attrs[G2LGeneticSampler._get_generation_key()] for t in study.trials}
    assert max(generations) >= 2
    assert any(layer.op == "parallel" for t in study.trials for _, _, layer in space.to_structure(t.params).layers())


# -- the shipped study config and the CLI -------------------------------------------------------------------------


def test_evanet_study_config_and_search_cli(tmp_path, tiny_data):
    path = REPO / "studies" / "synthetic-tiny-evanet.yaml"
    config = load_config(path)
    assert config.search["sampler"] == "evolution"
    fields = {(g.field, g.branch is not None) for g in config.space.genes}
    assert {("op", False), ("op", True), ("kernel_size", True), ("num_branches", False)} <= fields
    storage = f"sqlite:///{tmp_path / 'evanet.db'}"
    optuna_cli = str(BIN / "optuna") if (BIN / "optuna").exists() else shutil.which("optuna") or "optuna"
    g2l_cli = str(BIN / "g2l-optimize") if (BIN / "g2l-optimize").exists() else shutil.which("g2l-optimize")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [optuna_cli, "create-study", "--storage", storage, "--study-name", "X", "--direction", "maximize"],
        check=True,
        capture_output=True,
        env=env,
    )
    result = subprocess.run(
        [
            g2l_cli,
            "search",
            "--config",
            str(path),
            "--storage",
            storage,
            "--study-name",
            "X",
            "--data",
            str(tiny_data),
            "--n-trials",
            "7",
            "--seed",
            "0",
            "--seed-baseline",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "best"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "best trial" in result.stdout
    study = optuna.load_study(study_name="X", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 7
    assert study.trials[0].user_attrs["baseline"] == "mstcn"
    specs = [StructureSpec.from_dict(t.user_attrs["structure"]) for t in complete]
    assert all(config.space.to_structure(t.params) == s for t, s in zip(complete, specs, strict=True))
    assert len({op for s in specs for _, _, layer in s.layers() for op in [layer.op]}) >= 3
    best = json.loads((tmp_path / "best" / "best_structure.json").read_text())
    assert StructureSpec.from_dict(best) == StructureSpec.from_dict(study.best_trial.user_attrs["structure"])
