import json
import re
import subprocess
import sys

import pytest

from g2l_automl.cli import main
from g2l_automl.structure import StructureSpec, save_structure


def test_make_synthetic_train_evaluate_end_to_end(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "run"
    assert main(["make-synthetic", str(data), "--preset", "tiny", "--seed", "0"]) == 0
    structure = tmp_path / "g2l.json"
    save_structure(StructureSpec.mstcn(2, 4, channels=16), structure, format="g2l")
    args = [
        "train",
        "--data",
        str(data),
        "--structure",
        str(structure),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--val-fraction",
        "0.2",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "val F1@10" in printed and "F1@10    F1@25    F1@50     Edit      Acc" in printed
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "metrics.json", "model.pt", "structure.json"]
    trained = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(trained) == {"F1@10", "F1@25", "F1@50", "Edit", "Acc"} and trained["Acc"] > 0
    assert main(["evaluate", "--data", str(data), "--checkpoint", str(out / "model.pt")]) == 0
    evaluated = json.loads((out / "metrics_test_split1.json").read_text())["metrics"]
    assert evaluated == pytest.approx(trained)  # same model, same test split, same numbers
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(data),
                "--checkpoint",
                str(out / "model.pt"),
                "--subset",
                "val",
                "--out",
                str(tmp_path / "val.json"),
            ]
        )
        == 0
    )
    assert (tmp_path / "val.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{missing}", "--default", "mstcn", "--out", "{out}"], "dataset folder not found"),
        (
            ["train", "--data", "{data}", "--structure", "{bad}", "--out", "{out}"],
            r"bad.json: stages\[0\].layers\[0\].kernel_size: must be odd",
        ),
        (["train", "--data", "{data}", "--default", "mstcn", "--split", "9", "--out", "{out}"], "split file not found"),
        (
            ["train", "--data", "{data}", "--default", "mstcn", "--epochs", "0", "--out", "{out}"],
            "epochs: must be an integer >= 1",
        ),
        (["evaluate", "--data", "{data}", "--checkpoint", "{missing}"], "checkpoint not found"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, tiny_data, capsys, argv, message):
    bad = tmp_path / "bad.json"
    bad.write_text('{"stages": [{"layers": [{"kernel_size": 2}]}]}')
    paths = {"data": tiny_data, "missing": tmp_path / "missing", "bad": bad, "out": tmp_path / "out"}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("g2l-optimize") and "error:" in err and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command",
    [
        [],
        *(
            [name]
            for name in (
                "make-synthetic",
                "train",
                "evaluate",
                "search",
                "refine",
                "ensemble",
                "compare",
                "report",
                "nni-space",
                "nni-export",
                "videonas",
                "nastc",
            )
        ),
    ],
)
def test_help_on_every_command(command):
    result = subprocess.run(
        [sys.executable, "-m", "g2l_automl.cli._main", *command, "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "usage: g2l-optimize" in result.stdout


def test_every_command_is_in_the_help_test():
    from g2l_automl.cli._main import _COMMANDS

    assert set(_COMMANDS) == {
        "make-synthetic",
        "train",
        "evaluate",
        "search",
        "refine",
        "ensemble",
        "compare",
        "report",
        "nni-space",
        "nni-export",
        "videonas",
        "nastc",
    }
