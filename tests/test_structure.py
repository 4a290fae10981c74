import json

import pytest

from g2l_automl.errors import StructureError
from g2l_automl.structure import (
    LayerSpec,
    StageSpec,
    StructureSpec,
    from_g2l_config,
    load_structure,
    save_structure,
    to_g2l_config,
)


def test_mstcn_default_is_4x10_with_powers_of_two():
    spec = StructureSpec.default("mstcn")
    assert len(spec.stages) == 4
    assert spec.dilations() == [[2**i for i in range(10)]] * 4
    assert all(layer.kernel_size == 3 and layer.channels == 64 for _, _, layer in spec.layers())
    assert spec.dropout == 0.5
    assert spec.receptive_field(0) == 1 + 2 * (2**10 - 1)


def test_mstcn_pp_has_dual_dilated_prediction_generation_stage():
    spec = StructureSpec.default("mstcn++")
    pg = spec.stages[0].layers
    assert len(pg) == 11 and len(spec.stages) == 4
    assert [(l.dilation, l.dilation2) for l in pg][:2] == [(1024, 1), (512, 2)]
    assert all(l.op == "dual_conv" for l in pg)
    assert all(l.op == "conv" for _, _, l in spec.layers()[11:])


def test_json_round_trip(tmp_path):
    spec = StructureSpec.mstcn(2, 3).with_layer(1, 2, dilation=7, kernel_size=5, channels=32)
    path = tmp_path / "s.json"
    save_structure(spec, path)
    assert load_structure(path) == spec
    assert json.loads(path.read_text())["stages"][1]["layers"][2] == {
        "op": "conv",
        "dilation": 7,
        "kernel_size": 5,
        "channels": 32,
    }


@pytest.mark.parametrize("spec", [StructureSpec.mstcn(), StructureSpec.mstcn_pp()], ids=["mstcn", "mstcn++"])
def test_g2l_config_round_trip(spec, tmp_path):
    config = to_g2l_config(spec)
    assert from_g2l_config(config).stages == spec.stages
    assert from_g2l_config(config, base=spec) == spec
    path = tmp_path / "g2l.json"
    save_structure(spec, path, format="g2l")
    assert load_structure(path).stages == spec.stages


def test_g2l_config_reads_ints_and_one_element_lists_like_the_official_code():
    model = {f"stages.{s}.layers.{l}.conv_dilated": [2 ** ((s + l) % 11)] for s in range(4) for l in range(10)}
    model["stages.0.layers.0.conv_dilated"] = 8  # the local search writes plain ints
    spec = from_g2l_config({"global": {"population": 50}, "model": model})
    assert spec.stages[0].layers[0].dilation == 8
    assert spec.stages[3].layers[9].dilation == 2 ** (12 % 11)
    assert to_g2l_config(spec)["model"]["stages.3.layers.9.conv_dilated"] == 2


def test_g2l_config_accepts_original_module_names():
    mstcn = {"stage1.layers.0.conv_dilated": 4, "stages.0.layers.0.conv_dilated": 2}
    assert from_g2l_config({"model": mstcn}).dilations() == [[4], [2]]
    pp = {"PG.conv_dilated_1.0": 2, "PG.conv_dilated_2.0": 1, "Rs.0.layers.0.conv_dilated": 3}
    spec = from_g2l_config({"model": pp})
    assert spec.stages[0].layers[0].dilations == (2, 1) and spec.dilations()[1] == [3]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"stages.0.layers.0.conv_dilated": 0}, "stages.0.layers.0.conv_dilated: dilation must be an integer >= 1"),
        ({"stages.0.layers.0.conv_dilated": [2, 4]}, "1-element list"),
        ({"stages.0.layers.0.conv_dilated": "8"}, "got '8'"),
        ({"stages.0.layers.1.conv_dilated": 1}, "stage 0 layer 0 is missing"),
        ({"stages.0.layers.0.conv_1x1": 1}, "not a dilated-convolution key"),
        ({}, "non-empty 'model'"),
    ],
)
def test_g2l_config_errors_name_the_key(model, message):
    with pytest.raises(StructureError, match=message):
        from_g2l_config({"model": model})


def test_g2l_config_against_a_base_must_cover_every_layer():
    with pytest.raises(StructureError, match="do not match the base"):
        from_g2l_config({"model": {"stages.0.layers.0.conv_dilated": 1}}, base=StructureSpec.mstcn(1, 2))


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (LayerSpec(dilation=0), r"stages\[0\].layers\[0\].dilation: must be an integer >= 1, got 0"),
        (LayerSpec(kernel_size=4), "kernel_size: must be odd, got 4"),
        (LayerSpec(kernel_size=0), "kernel_size: must be an integer >= 1"),
        (LayerSpec(channels=0), "channels: must be an integer >= 1"),
        (LayerSpec(op="lstm"), "unknown op 'lstm'"),
        (LayerSpec(op="dual_conv"), "dilation2: required"),
        (LayerSpec(dilation2=2), "dilation2: only allowed"),
        (LayerSpec(dilation=True), "dilation: must be an integer"),
    ],
)
def test_invalid_layers_are_rejected_with_the_field_path(layer, message):
    with pytest.raises(StructureError, match=message):
        StructureSpec(stages=(StageSpec((layer,)),))


def test_empty_structures_and_stages_are_rejected():
    with pytest.raises(StructureError, match="empty stage"):
        StructureSpec(stages=(StageSpec(()),))
    with pytest.raises(StructureError, match="at least one stage"):
        StructureSpec(stages=())
    with pytest.raises(StructureError, match="dropout"):
        StructureSpec.mstcn(1, 1, dropout=1.0)


def test_load_structure_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"stages": [{"layers": [{"dilation": -1}]}]}')
    with pytest.raises(StructureError, match=r"bad.json: stages\[0\].layers\[0\].dilation"):
        load_structure(bad)
    bad.write_text("{not json")
    with pytest.raises(StructureError, match="bad.json: not valid JSON"):
        load_structure(bad)
    with pytest.raises(StructureError, match="missing.json: file not found"):
        load_structure(tmp_path / "missing.json")
    bad.write_text('{"stages": [{"layers": [{"dilation": 1, "width": 3}]}]}')
    with pytest.raises(StructureError, match="unknown field"):
        load_structure(bad)


def test_shipped_structure_files_are_the_defaults():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "studies" / "structures"
    assert load_structure(root / "mstcn.json") == StructureSpec.mstcn()
    assert load_structure(root / "mstcn_pp.json") == StructureSpec.mstcn_pp()
    assert load_structure(root / "mstcn_g2l.json").stages == StructureSpec.mstcn().stages
