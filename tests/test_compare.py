"""``g2l-optimize compare``: searched structures vs the config's base structure, K paired seeds, on the test split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from _cli import cli_argv
from _tiny_study import BASE, CONFIG, frozen_trial, spec_with
from optuna.trial import TrialState, create_trial

from g2l_automl.cli import main
from g2l_automl.config import load_config
from g2l_automl.errors import G2LError
from g2l_automl.metrics import METRIC_NAMES
from g2l_automl.search import (
    INCONCLUSIVE,
    Arm,
    ArmResult,
    CompareResult,
    baseline_label,
    paired_difference,
    study_arms,
    verdict,
)
from g2l_automl.structure import StructureSpec, save_structure

optuna.logging.set_verbosity(optuna.logging.WARNING)
_spec, _trial = spec_with, frozen_trial


def _arm_result(label: str, spec: StructureSpec, per_seed: list[dict[str, float]], seeds=None) -> ArmResult:
    seeds = seeds or list(range(len(per_seed)))
    runs = tuple({"seed": s, "metrics": m, "train_seconds": 1.0} for s, m in zip(seeds, per_seed, strict=True))
    return ArmResult(Arm(label, spec, "test"), 100, runs)


def _metrics(**values: float) -> dict[str, float]:
    return {name: values.get(name.replace("@", ""), 50.0) for name in METRIC_NAMES}


# -- statistics and verdicts ------------------------------------------------------------------------------------


def test_verdict_is_two_standard_errors_of_the_paired_differences():
    # differences 2, 4, 6: mean 4, std 2, se 2/sqrt(3) = 1.15 -> 4 > 2.31: better
    baseline = _arm_result("baseline (2^i)", BASE, [_metrics(F110=40.0), _metrics(F110=41.0), _metrics(F110=42.0)])
    searched = _arm_result(
        "searched", _spec(1, 1, 2, 2), [_metrics(F110=42.0), _metrics(F110=45.0), _metrics(F110=48.0)]
    )
    d = paired_difference(searched, baseline)
    assert [s["metrics"]["F1@10"] for s in d["per_seed"]] == [2.0, 4.0, 6.0]
    assert d["mean"]["F1@10"] == 4.0 and d["std"]["F1@10"] == 2.0
    assert math.isclose(d["stderr"]["F1@10"], 2.0 / math.sqrt(3))
    assert d["verdict"]["F1@10"] == "better" and d["verdict"]["Acc"] == INCONCLUSIVE  # Acc: all 50, difference 0
    assert d["overall"] == "better"
    assert d["line"] == (
        "searched vs baseline (2^i): better on F1@10; within the seed spread on F1@25, F1@50, Edit, Acc"
    )
    # the rule at its edges: exactly 2 se is not enough; the sign decides better or worse
    assert verdict(2.0, math.sqrt(3), 3) == INCONCLUSIVE and verdict(2.01, math.sqrt(3), 3) == "better"
    assert verdict(-2.01, math.sqrt(3), 3) == "worse" and verdict(0.0, 0.0, 5) == INCONCLUSIVE
    # mixed and all-inconclusive lines
    worse = _arm_result("w", BASE.with_layer(0, 0, dilation=3), [_metrics(F110=50.0, Acc=40.0), _metrics(Acc=41.0)])
    two = _arm_result("b", BASE, [_metrics(F110=48.0), _metrics(F110=49.0)])
    d = paired_difference(worse, two)
    assert d["overall"] == "mixed" and d["line"].startswith("w vs b: better on F1@10; worse on Acc; within")
    same = paired_difference(_arm_result("s", BASE, [_metrics()] * 2), _arm_result("b", BASE, [_metrics()] * 2))
    assert same["line"] == f"s vs b: {INCONCLUSIVE} on every metric (same architecture as the baseline)"


def test_paired_difference_refuses_unpaired_seeds():
    a = _arm_result("a", BASE, [_metrics(), _metrics()], seeds=[0, 1])
    b = _arm_result("b", BASE, [_metrics(), _metrics()], seeds=[0, 2])
    with pytest.raises(G2LError, match="seed 1 paired with seed 2"):
        paired_difference(a, b)


def test_table_shows_mean_std_differences_and_verdicts():
    baseline = _arm_result("baseline (2^i)", BASE, [_metrics(F110=38.1), _metrics(F110=44.3)], seeds=[0, 1])
    searched = _arm_result("searched (trial 17)", _spec(1, 1, 2, 2), [_metrics(F110=46.0), _metrics(F110=50.0)], [0, 1])
    result = CompareResult(baseline, (searched,), (0, 1), split=1, test_videos=4, epochs=3)
    table = result.format().splitlines()
    assert table[2].split() == ["structure", *METRIC_NAMES]
    assert table[3].startswith("baseline (2^i)") and "41.2 +- 4.4" in table[3]
    assert table[4].startswith("searched (trial 17)") and "48.0 +- 2.8" in table[4]
    assert table[5].startswith("difference") and "+6.8 +- 1.6" in table[5] and "+0.0 +- 0.0" in table[5]
    assert "verdict: searched (trial 17) vs baseline (2^i): better on F1@10;" in result.format()


def test_baseline_label():
    assert baseline_label(BASE) == "baseline (2^i)"
    assert baseline_label(StructureSpec.mstcn_pp(3, 3, 1, channels=8)) == "baseline (mstcn++)"
    assert baseline_label(_spec(1, 1, 2, 2)) == "baseline (mstcn)"


# -- which trials of a study ------------------------------------------------------------------------------------


def test_study_arms_are_the_best_search_and_the_best_refined_trial_in_the_study_direction():
    a, b, c, r = _spec(1, 1, 2, 2), _spec(8, 4, 2, 1), _spec(2, 2, 2, 2), _spec(4, 4, 4, 4)
    for direction, searched, refined in (("maximize", 1, 4), ("minimize", 2, 3)):
        study = optuna.create_study(direction=direction)
        study.add_trial(_trial(60.0, a))  # 0
        study.add_trial(_trial(70.0, b))  # 1
        study.add_trial(_trial(10.0, c))  # 2
        study.add_trial(_trial(20.0, r, refined_from=2, method="egi"))  # 3
        study.add_trial(_trial(90.0, a.with_layer(0, 3, dilation=16), refined_from=1, method="egi"))  # 4
        study.add_trial(_trial(99.0, None))  # 5: no structure
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"structure": a.to_dict()}))  # 6
        arms = study_arms(study)
        assert [arm.label for arm in arms] == [f"searched (trial {searched})", f"refined (trial {refined})"]
        assert [arm.trial for arm in arms] == [searched, refined] and arms[0].source == f"trial {searched}"
    # no refined trial: only the search's best; a refined best repeating the search best's architecture: once
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(60.0, a))
    assert [arm.label for arm in study_arms(study)] == ["searched (trial 0)"]
    study.add_trial(_trial(65.0, StructureSpec(a.stages, name="refined"), refined_from=0, method="egi"))
    assert [arm.label for arm in study_arms(study)] == ["searched (trial 0)"]
    # only refined trials: the refined best
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(60.0, a, refined_from=0))
    assert [arm.label for arm in study_arms(study)] == ["refined (trial 0)"]


def test_study_arms_refuse_multi_objective_and_empty_studies():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(_trial((60.0, 100.0), BASE))
    with pytest.raises(G2LError, match="2 objectives, so no single best trial"):
        study_arms(study)
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(1.0, None))
    with pytest.raises(G2LError, match="no COMPLETE trial with a 'structure'"):
        study_arms(study)


# -- the command ------------------------------------------------------------------------------------------------


def _argv(tiny_data: Path, *extra: str) -> list[str]:
    return cli_argv("compare", *extra, config=CONFIG, data=tiny_data, device="cpu", epochs=2, seeds=2)


def test_compare_files_end_to_end(tmp_path, tiny_data, capsys, one_torch_thread):
    save_structure(BASE, tmp_path / "same.json")  # the base structure again: must pair exactly with the baseline
    save_structure(_spec(1, 1, 2, 2), tmp_path / "short.json", format="g2l")  # a G2L config
    out = tmp_path / "runs" / "compare.json"
    argv = _argv(tiny_data, "--structure", str(tmp_path / "same.json"), "--structure", str(tmp_path / "short.json"))
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(out.read_text())
    assert summary["seeds"] == [0, 1] and summary["epochs"] == 2 and summary["split"] == 1
    assert summary["metrics"] == list(METRIC_NAMES) and summary["test_videos"] > 0
    baseline, same, short = summary["structures"]
    # the baseline arm is the config's base structure
    assert baseline["role"] == "baseline" and baseline["label"] == "baseline (2^i)" and baseline["source"] == "config"
    assert StructureSpec.from_dict(baseline["structure"]) == load_config(CONFIG).structure
    assert [same["label"], short["label"]] == ["file same.json", "file short.json"]
    assert StructureSpec.from_dict(short["structure"]).dilations() == [[1, 1, 2, 2]]
    # mean and std are those of the per-seed metrics in the same JSON
    for arm in summary["structures"]:
        assert [run["seed"] for run in arm["runs"]] == [0, 1]
        for name in METRIC_NAMES:
            values = [run["metrics"][name] for run in arm["runs"]]
            assert math.isclose(arm["mean"][name], np.mean(values), abs_tol=1e-9)
            assert math.isclose(arm["std"][name], np.std(values, ddof=1), abs_tol=1e-9)
    # seeds pair: the same structure with the same seed gives identical metrics, so its difference is exactly 0
    assert [run["metrics"] for run in same["runs"]] == [run["metrics"] for run in baseline["runs"]]
    d_same, d_short = summary["differences"]
    assert d_same["label"] == "file same.json" and d_same["vs"] == "baseline (2^i)"
    for name in METRIC_NAMES:
        assert [s["metrics"][name] for s in d_same["per_seed"]] == [0.0, 0.0]
        assert d_same["mean"][name] == 0.0 and d_same["std"][name] == 0.0 and d_same["verdict"][name] == INCONCLUSIVE
        diffs = [a["metrics"][name] - b["metrics"][name] for a, b in zip(short["runs"], baseline["runs"], strict=True)]
        assert [s["metrics"][name] for s in d_short["per_seed"]] == diffs
        assert math.isclose(d_short["mean"][name], np.mean(diffs), abs_tol=1e-9)
        assert math.isclose(d_short["std"][name], np.std(diffs, ddof=1), abs_tol=1e-9)
        assert d_short["verdict"][name] == verdict(np.mean(diffs), np.std(diffs, ddof=1), 2)
    # the printed table and verdicts
    assert "baseline (2^i)" in printed and "file short.json - baseline" in printed
    assert f"{baseline['mean']['F1@10']:.1f} +- {baseline['std']['F1@10']:.1f}" in printed
    assert f"verdict: {d_same['line']}" in printed and f"verdict: {d_short['line']}" in printed
    assert "same architecture as the baseline" in d_same["line"]


def test_compare_a_study_stores_the_summary_and_the_report_shows_it(tmp_path, tiny_data, capsys, one_torch_thread):
    storage = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.add_trial(_trial(50.0, _spec(1, 1, 2, 2)))  # 0
    study.add_trial(_trial(40.0, _spec(8, 4, 2, 1)))  # 1
    study.add_trial(_trial(45.0, _spec(2, 2, 2, 2), refined_from=1, method="egi"))  # 2
    out = tmp_path / "compare.json"
    assert main([*_argv(tiny_data, "--storage", storage, "--study-name", "s"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(out.read_text())
    assert [s["label"] for s in summary["structures"]] == ["baseline (2^i)", "searched (trial 0)", "refined (trial 2)"]
    assert [s["trial"] for s in summary["structures"]] == [None, 0, 2] and summary["study"] == "s"
    assert "searched (trial 0) - baseline" in printed and "refined (trial 2) - baseline" in printed
    stored = optuna.load_study(study_name="s", storage=storage).user_attrs["compare"]
    assert "structure" not in stored["structures"][0]  # full structures stay in the trials and the JSON
    assert stored["differences"] == summary["differences"]
    assert stored["structures"][1]["runs"] == summary["structures"][1]["runs"]
    page = tmp_path / "report.html"
    assert main(["report", "--storage", storage, "--study-name", "s", "--out", str(page), "--no-dashboard"]) == 0
    assert "Searched vs baseline (test split)" in capsys.readouterr().out
    html = page.read_text()
    section = html.split("id='compare'", 1)[1]
    assert "Searched vs baseline (test split)" in section and "difference: refined (trial 2) - baseline" in section
    assert f"{summary['differences'][1]['mean']['Acc']:+.1f} &plusmn;" in section


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("seeds-zero", "--seeds: must be an integer >= 2"),
        ("seeds-one", "--seeds: must be an integer >= 2"),
        ("epochs-zero", "--epochs: must be an integer >= 1"),
        ("missing-structure", "--structure: {tmp}/missing.json: file not found"),
        ("structure-is-folder", "--structure: {tmp}: is a folder"),
        ("bad-structure", "--structure: {tmp}/bad.json: stages[0].layers[0].kernel_size: must be odd"),
        ("no-structure", "no structure to compare: give --structure FILE and/or --storage URL --study-name NAME"),
        ("storage-alone", "--storage and --study-name go together"),
        ("empty-study", "study 's' has no COMPLETE trial with a 'structure' user attr"),
        ("multi-objective", "study 'mo' has 2 objectives, so no single best trial"),
        ("no-study", "study 'missing' does not exist"),
        ("out-is-folder", "--out: "),
        ("no-data", "dataset folder not found"),
        ("bad-config", "unknown section(s) spaces"),
    ],
)
def test_bad_input_exits_2_naming_the_option_and_writes_nothing(tmp_path, tiny_data, capsys, case, message):
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    if case != "empty-study":
        study.add_trial(_trial(50.0, _spec(1, 1, 2, 2)))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"structure": BASE.to_dict()}))
    mo = optuna.create_study(storage=storage, study_name="mo", directions=["maximize", "minimize"])
    mo.add_trial(_trial((50.0, 10.0), BASE))
    out = tmp_path / "out.json"
    argv = [*_argv(tiny_data, "--storage", storage, "--study-name", "s"), "--out", str(out)]
    if case == "seeds-zero":
        argv[argv.index("--seeds") + 1] = "0"
    elif case == "seeds-one":
        argv[argv.index("--seeds") + 1] = "1"
    elif case == "epochs-zero":
        argv[argv.index("--epochs") + 1] = "0"
    elif case == "missing-structure":
        argv += ["--structure", str(tmp_path / "missing.json")]
    elif case == "structure-is-folder":
        argv += ["--structure", str(tmp_path)]
    elif case == "bad-structure":
        (tmp_path / "bad.json").write_text('{"stages": [{"layers": [{"kernel_size": 2}]}]}')
        argv += ["--structure", str(tmp_path / "bad.json")]
    elif case == "no-structure":
        argv = [a for a in argv if a not in ("--storage", storage, "--study-name", "s")]
    elif case == "storage-alone":
        argv = [a for a in argv if a not in ("--study-name", "s")]
    elif case == "multi-objective":
        argv[argv.index("--study-name") + 1] = "mo"
    elif case == "no-study":
        argv[argv.index("--study-name") + 1] = "missing"
    elif case == "out-is-folder":
        out.mkdir()
    elif case == "no-data":
        argv[argv.index("--data") + 1] = str(tmp_path / "nowhere")
    elif case == "bad-config":
        (tmp_path / "bad.yaml").write_text("spaces: {}\n")
        argv[argv.index("--config") + 1] = str(tmp_path / "bad.yaml")
    assert main(argv) == 2
    err = capsys.readouterr().err
    # one line (load_study's "does not exist" adds a second with the optuna create-study command to run)
    assert err.startswith("g2l-optimize compare: error: ") and err.count("\n") <= (2 if case == "no-study" else 1)
    assert message.format(tmp=tmp_path) in err
    assert case == "out-is-folder" or not out.exists()
    assert not list(tmp_path.glob(".out.json.*"))  # no temporary file left either
    for name in ("s", "mo"):
        assert "compare" not in optuna.load_study(study_name=name, storage=storage).user_attrs


def test_seeds_that_are_not_an_integer_are_rejected_by_the_parser(tmp_path, tiny_data, capsys):
    with pytest.raises(SystemExit) as exc:
        main(_argv(tiny_data, "--seeds", "three", "--structure", str(tmp_path / "x.json")))
    assert exc.value.code == 2 and "argument --seeds: invalid int value: 'three'" in capsys.readouterr().err
