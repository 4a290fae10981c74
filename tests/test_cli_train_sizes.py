"""``g2l-optimize train`` at another size of the default model, and on a study config's structure section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import cli_argv

from g2l_automl.cli import main
from g2l_automl.cli._train import default_structure
from g2l_automl.config import load_config
from g2l_automl.structure import StructureSpec

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _trained(out: Path) -> StructureSpec:
    return StructureSpec.from_dict(json.loads((out / "structure.json").read_text()))


def test_train_the_default_model_at_another_size(tmp_path, tiny_data, capsys):
    out = tmp_path / "small"
    argv = cli_argv(
        "train", data=tiny_data, default="mstcn", num_stages=2, num_layers=3, channels=8, epochs=1,
        device="cpu", no_progress=True, out=out,
    )  # fmt: skip
    assert main(argv) == 0
    assert "training mstcn (2 stages" in capsys.readouterr().out
    assert _trained(out) == StructureSpec.mstcn(num_stages=2, num_layers=3, channels=8)


def test_train_a_study_configs_structure(tmp_path, tiny_data):
    out = tmp_path / "baseline"
    config = STUDIES / "synthetic-tiny.yaml"
    argv = cli_argv("train", data=tiny_data, config=config, epochs=1, device="cpu", no_progress=True, out=out)
    assert main(argv) == 0
    assert _trained(out) == load_config(config).structure  # the search's own baseline, 1 x 4 x 16
    assert [len(s.layers) for s in _trained(out).stages] == [4]


def test_mstcn_pp_sizes():
    spec = default_structure("mstcn++", 3, 5, 16)
    assert [len(s.layers) for s in spec.stages] == [6, 5, 5]
    assert {layer.channels for _, _, layer in spec.layers()} == {16}
    assert default_structure("mstcn++", None, None, None) == StructureSpec.mstcn_pp()
    assert default_structure("mstcn", None, None, None) == StructureSpec.mstcn()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--default", "mstcn", "--num-layers", "0"], "--num-layers"),
        (["--default", "mstcn", "--channels", "-4"], "--channels"),
        (["--config", str(STUDIES / "synthetic-tiny.yaml"), "--num-stages", "2"], "--num-stages: sizes a --default"),
    ],
)
def test_bad_sizes_are_one_clear_line(tmp_path, tiny_data, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_data), *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()
