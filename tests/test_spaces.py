"""Search spaces: gene names and order, params <-> structure round trips, compilation targets, validation."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from g2l_automl.errors import SpaceError
from g2l_automl.spaces import Depths, Dilations, Kernels, Ops, SearchSpace, Widths, space_from_dict
from g2l_automl.structure import StructureSpec, from_g2l_config


def _rich_space() -> SearchSpace:
    base = StructureSpec.mstcn_pp(num_layers_pg=3, num_layers_r=3, num_r=1)
    return SearchSpace(base, [Dilations(k=2, T=5), Ops(), Depths((2, 3, 4)), Widths((32, 64)), Kernels((3, 5))])


def test_dilation_space_is_g2l_eq1():
    assert Dilations(k=2, T=10).candidates == tuple(2**i for i in range(11))
    assert Dilations(k=3, T=2).candidates == (1, 3, 9)
    space = SearchSpace(StructureSpec.mstcn(), [Dilations()])
    assert len(space.genes) == 40
    assert space.names[:3] == ("stage0.layer0.dilation", "stage0.layer1.dilation", "stage0.layer2.dilation")
    assert space.names[10] == "stage1.layer0.dilation"  # layer-ordered: stage by stage, layer10 after layer9


def test_genome_order_puts_stage_genes_and_op_first():
    names = _rich_space().names
    assert names[:6] == (
        "stage0.num_layers",
        "stage0.channels",
        "stage0.layer0.op",
        "stage0.layer0.dilation",
        "stage0.layer0.dilation2",
        "stage0.layer0.kernel_size",
    )


def test_base_round_trip_mstcn_and_mstcn_pp():
    for base in (StructureSpec.mstcn(), StructureSpec.mstcn_pp()):
        space = SearchSpace(base, [Dilations()])
        params = space.to_params(base)
        assert space.to_structure(params) == base
    assert (
        SearchSpace(StructureSpec.mstcn(), [Dilations()]).to_params(StructureSpec.mstcn())["stage3.layer9.dilation"]
        == 512
    )


def test_random_genomes_round_trip_and_active_genes():
    space = _rich_space()
    rng = np.random.RandomState(0)
    depths, ops = set(), set()
    for _ in range(300):
        genome = space.sample(rng)
        spec = space.to_structure(genome)
        params = space.to_params(spec)
        assert set(params) == set(space.active_names(genome))
        assert space.to_structure(params) == spec
        depths.add(len(spec.stages[0].layers))
        ops.update(layer.op for _, _, layer in spec.layers())
        for _, _, layer in spec.layers():
            assert (layer.dilation2 is None) == (layer.op == "conv")
    assert depths == {2, 3, 4} and ops == {"conv", "dual_conv"}


def test_suggest_asks_only_active_genes_with_readable_names():
    space = _rich_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        spec = space.suggest(trial)
        study.tell(trial, 0.0)
        frozen = study.trials[-1]
        assert set(frozen.params) == set(
            space.active_names({**space.sample(np.random.RandomState(0)), **frozen.params})
        )
        assert space.to_structure(frozen.params) == spec
        assert all(name.startswith("stage") for name in frozen.params)


def test_compiles_to_optuna_nni_and_g2l():
    space = SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=3), [Dilations(k=2, T=3)])
    dists = space.distributions()
    assert isinstance(dists["stage1.layer2.dilation"], optuna.distributions.CategoricalDistribution)
    assert dists["stage1.layer2.dilation"].choices == (1, 2, 4, 8)
    nni = json.loads(json.dumps(space.to_nni()))
    assert nni["stage0.layer0.dilation"] == {"_type": "choice", "_value": [1, 2, 4, 8]}
    assert len(nni) == 6
    params = {name: 8 for name in space.names}
    config = space.to_g2l_config(params, {"k": 2})
    assert config["model"]["stages.1.layers.2.conv_dilated"] == 8
    assert from_g2l_config(config, base=space.base) == space.to_structure(params)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Dilations(k=1), "dilations.k"),
        (lambda: Dilations(T=-1), "dilations.T"),
        (lambda: Widths(()), "empty"),
        (lambda: Kernels((3, 4)), "odd"),
        (lambda: Ops(("conv", "lstm")), "unknown op"),
        (lambda: Depths((0,)), "depths.candidates"),
        (lambda: Widths((32, 32)), "duplicate"),
        (lambda: SearchSpace(StructureSpec.mstcn(), []), "at least one dimension"),
        (lambda: SearchSpace(StructureSpec.mstcn(), [Dilations(stages=(7,))]), "stage 7"),
        (lambda: SearchSpace(StructureSpec.mstcn(), [Dilations()], max_receptive_field=4096), "max_receptive_field"),
    ],
)
def test_invalid_spaces_fail_clearly(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_receptive_field_cap_accepts_a_space_within_it():
    base = StructureSpec.mstcn(num_stages=1, num_layers=4)
    space = SearchSpace(base, [Dilations(k=2, T=3)], max_receptive_field=1 + 4 * 8 * 2)
    assert max(space.to_structure(space.sample(np.random.RandomState(0))).receptive_field(0) for _ in range(5)) <= 65


def test_bad_params_name_the_gene():
    space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=2), [Dilations(k=2, T=3)])
    with pytest.raises(SpaceError, match="stage0.layer1.dilation: missing"):
        space.to_structure({"stage0.layer0.dilation": 1})
    with pytest.raises(SpaceError, match=r"stage0.layer0.dilation: 3 is not one of"):
        space.to_structure({"stage0.layer0.dilation": 3, "stage0.layer1.dilation": 1})
    with pytest.raises(SpaceError, match="not in"):
        space.to_params(StructureSpec.mstcn(num_stages=1, num_layers=2, dilations=[1, 64]))


def test_space_from_dict_and_its_errors():
    base = StructureSpec.mstcn(num_stages=2, num_layers=4)
    space = space_from_dict(base, {"dilations": {"k": 2, "T": 4}, "kernels": {"sizes": [3, 5], "stages": [1]}})
    assert "stage1.layer0.kernel_size" in space.names and "stage0.layer0.kernel_size" not in space.names
    with pytest.raises(SpaceError, match="space: unknown field"):
        space_from_dict(base, {"dilation": {}})
    with pytest.raises(SpaceError, match=r"space.dilations: unknown option\(s\) K"):
        space_from_dict(base, {"dilations": {"K": 2}})
    with pytest.raises(SpaceError, match="space.dilations.k"):
        space_from_dict(base, {"dilations": {"k": 1}})
    with pytest.raises(SpaceError, match="no dimension"):
        space_from_dict(base, {})


def test_index_encoding_asks_for_candidate_indices():
    space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=3), [Dilations(k=2, T=4)])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    spec = space.suggest(trial, encoding="index")
    assert all(isinstance(v, int) and 0 <= v <= 4 for v in trial.params.values())
    assert [layer.dilation for layer in spec.stages[0].layers] == [2 ** trial.params[n] for n in space.names]
    with pytest.raises(SpaceError, match="encoding"):
        space.suggest(study.ask(), encoding="onehot")
