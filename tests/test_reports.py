"""``g2l-optimize report`` on a real small search (global + EGI refine), its figures, and optuna-dashboard."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from g2l_automl.cli import main
from g2l_automl.reports import SECTIONS, best_so_far, comparison_figure, figure_has_data, report_figures

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "studies" / "synthetic-tiny.yaml")


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_data):
    """Two studies in one SQLite file: G2L (with one EGI-refined trial) and random search, 1 epoch a trial."""
    tmp = tmp_path_factory.mktemp("report")
    storage = f"sqlite:///{tmp / 'r.db'}"
    for name, sampler in (("g2l", "g2l"), ("rand", "random")):
        optuna.create_study(storage=storage, study_name=name, direction="maximize")
        argv = [
            "search",
            "--storage",
            storage,
            "--study-name",
            name,
            "--config",
            CONFIG,
            "--data",
            str(tiny_data),
            "--sampler",
            sampler,
            "--n-trials",
            "5",
            "--seed",
            "0",
            "--device",
            "cpu",
        ]
        assert main(argv) == 0
    argv = [
        "refine",
        "--storage",
        storage,
        "--study-name",
        "g2l",
        "--config",
        CONFIG,
        "--data",
        str(tiny_data),
        "--top",
        "1",
        "--epochs",
        "2",
        "--interval",
        "1",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    return tmp, storage


def test_report_has_every_figure_with_data_and_loads_offline(searched, capsys):
    tmp, storage = searched
    out = tmp / "report.html"
    assert main(["report", "--storage", storage, "--study-name", "g2l", "--study-name", "rand", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text()
    for key, title, _ in SECTIONS:
        if key in ("pareto", "compare"):
            assert f"id='{key}'" not in page  # single objective; no 'compare' user attr (see the test below)
            continue
        assert f"id='{key}'" in page and title in page, key
        div = page.split(f"id='{key}'", 1)[1].split("<h2", 1)[0]
        assert re.search(r'"(x|y|z)":(\[[^\]]|\{"dtype")', div), f"{key}: no data in the figure"
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inlined: no network needed
    assert "Plotly.newPlot" in page
    study = optuna.load_study(study_name="g2l", storage=storage)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    for key in ("g2l-dilations", "g2l-mean_dilation", "g2l-trajectories", "g2l-comparison"):
        assert any(k.startswith(f"dashboard:plot_data:{key}:") for k in attrs), key


def test_figures_hold_the_study_data(searched):
    _, storage = searched
    study = optuna.load_study(study_name="g2l", storage=storage)
    figures = report_figures([study], top_k=3)
    heat = figures["dilations"].data[0]
    assert len(heat.y) == 3 and len(heat.x) == 4  # top 3 structures x 4 layers
    best = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: -t.value)[0]
    first_row = [2**v for v in heat.z[0]]
    assert first_row == [layer["dilation"] for layer in best.user_attrs["structure"]["stages"][0]["layers"]]
    refined = [t for t in study.trials if "trajectory" in t.user_attrs]
    assert refined and len(figures["trajectories"].data) == 4  # one line per layer of the refined trial
    assert "comparison" not in figures


def test_report_of_a_multi_objective_study_has_a_pareto_front(tmp_path):
    study = optuna.create_study(
        directions=["maximize", "minimize"], storage=f"sqlite:///{tmp_path / 'm.db'}", study_name="mo"
    )
    dist = optuna.distributions.CategoricalDistribution((1, 2, 4))
    for i, (f1, params) in enumerate([(50.0, 1000), (60.0, 2000), (55.0, 500), (40.0, 3000)]):
        study.add_trial(create_trial(values=[f1, params], params={"d": [1, 2, 4, 1][i]}, distributions={"d": dist}))
    figures = report_figures([study])
    assert "pareto" in figures and figure_has_data(figures["pareto"])


def _compare_summary() -> dict:
    """A ``g2l-optimize compare`` summary, as stored on a study: the baseline and two searched structures."""
    from g2l_automl.metrics import METRIC_NAMES
    from g2l_automl.search import Arm, ArmResult, CompareResult
    from g2l_automl.structure import StructureSpec

    base = StructureSpec.mstcn(1, 4, channels=16)

    def arm(label, spec, scores):
        runs = tuple(
            {"seed": s, "metrics": {n: v + 2 * k for k, n in enumerate(METRIC_NAMES)}, "train_seconds": 1.0}
            for s, v in enumerate(scores)
        )
        return ArmResult(Arm(label, spec, "test"), 1000, runs)

    result = CompareResult(
        arm("baseline (2^i)", base, [40.0, 42.0, 44.0]),
        (
            arm("searched (trial 3)", base.with_layer(0, 0, dilation=4), [47.0, 48.0, 52.0]),
            arm("refined (trial 9)", base.with_layer(0, 1, dilation=8), [41.0, 42.0, 43.0]),
        ),
        seeds=(0, 1, 2),
        split=1,
        test_videos=4,
        epochs=3,
    )
    return result.to_dict(structures=False)


def test_report_shows_the_compare_section_when_the_study_has_one(tmp_path):
    from g2l_automl.reports import compare_figure

    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'c.db'}", study_name="c")
    study.add_trial(create_trial(value=1.0))
    assert "compare" not in report_figures([study])
    summary = _compare_summary()
    study.set_user_attr("compare", summary)
    figures = report_figures([study])
    bars = figures["compare"].data
    assert [b.name for b in bars] == ["baseline (2^i)", "searched (trial 3)", "refined (trial 9)"]
    assert list(bars[0].x) == ["F1@10", "F1@25", "F1@50", "Edit", "Acc"]
    assert list(bars[1].y) == pytest.approx([49.0, 51.0, 53.0, 55.0, 57.0])  # means of 47, 48, 52 (+ 2k)
    assert list(bars[1].error_y.array) == pytest.approx([np.std([47.0, 48.0, 52.0], ddof=1)] * 5)
    assert compare_figure(summary).layout.barmode == "group"
    out = tmp_path / "r.html"
    assert main(["report", "--storage", f"sqlite:///{tmp_path / 'c.db'}", "--study-name", "c", "--out", str(out)]) == 0
    page = out.read_text()
    title = dict((k, t) for k, t, _ in SECTIONS)["compare"]
    assert title == "Searched vs baseline (test split)" and title in page
    section = page.split("id='compare'", 1)[1]
    assert re.search(r'"(x|y)":(\[[^\]]|\{"dtype")', section)  # the bars hold data
    # the difference table: searched - baseline, paired: +7.0 +- 1.0 (better), +0.0 +- 1.0 (inconclusive)
    assert "difference: searched (trial 3) - baseline" in section and "+7.0 &plusmn; 1.0 (better)" in section
    assert "difference: refined (trial 9) - baseline" in section and "+0.0 &plusmn; 1.0 (inconclusive)" in section
    assert "searched (trial 3) vs baseline (2^i): better on F1@10, F1@25, F1@50, Edit, Acc" in section
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert any(k.startswith("dashboard:plot_data:g2l-compare:") for k in attrs)
    # a damaged attr leaves the rest of the report intact
    study.set_user_attr("compare", {"structures": "?"})
    assert main(["report", "--storage", f"sqlite:///{tmp_path / 'c.db'}", "--study-name", "c", "--out", str(out)]) == 0
    assert "id='history'" in out.read_text()


def test_best_so_far_and_comparison_bands():
    study = optuna.create_study(direction="maximize")
    dist = optuna.distributions.FloatDistribution(0, 1)
    for v in (0.2, 0.1, 0.5, 0.4):
        study.add_trial(create_trial(value=v, params={"x": v}, distributions={"x": dist}))
    study.add_trial(create_trial(state=TrialState.FAIL, params={"x": 0.0}, distributions={"x": dist}))
    assert best_so_far(study).tolist() == [0.2, 0.2, 0.5, 0.5, 0.5]
    assert best_so_far(study, 7).tolist()[-1] == 0.5 and len(best_so_far(study, 3)) == 3
    runs = [np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 4.0]), np.array([0.0, 1.0, 5.0]), np.array([1.0, 3, 3])]
    fig = comparison_figure({"a": runs})
    band, median = fig.data
    assert list(median.y) == [1.0, 2.0, 3.5]
    assert max(band.y) <= 5.0 and min(band.y) >= 0.0


def test_report_of_a_missing_study_is_a_clear_error(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'e.db'}"
    optuna.create_study(storage=storage, study_name="there")
    assert main(["report", "--storage", storage, "--study-name", "nope", "--out", str(tmp_path / "r.html")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("script", ["compare_samplers.py", "sampler_overhead.py"])
def test_comparison_and_overhead_benchmarks_run_tiny(script, tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), "--quick"]
    if script == "compare_samplers.py":
        cmd += ["--storage", str(tmp_path / "c.log"), "--figure", str(tmp_path / "c.html")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for sampler in ("g2l", "evolution", "tpe", "random", "nsga2", "cmaes", "gp"):
        assert re.search(rf"^{sampler}\s", result.stdout, re.M), (sampler, result.stdout)
    if script == "compare_samplers.py":
        assert "trials to random best" in result.stdout and (tmp_path / "c.html").stat().st_size > 1e5
        names = optuna.study.get_all_study_names(
            optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "c.log")))
        )
        assert len(names) == 7 * 2  # one study per sampler and seed
    else:
        assert "cheaper than TPE" in result.stdout


def _epoch_study(name: str, rows: list[tuple[TrialState, float | None, int | None]]) -> optuna.Study:
    study = optuna.create_study(study_name=name, direction="maximize")
    for state, value, epochs in rows:
        attrs = {} if epochs is None else {"epochs": epochs}
        study.add_trial(create_trial(state=state, value=value, user_attrs=attrs, intermediate_values={1: 0.0}))
    return study


def test_best_so_far_by_epochs_counts_pruned_and_reused_trials():
    study = _epoch_study(
        "a",
        [
            (TrialState.COMPLETE, 50.0, 12),
            (TrialState.PRUNED, None, 3),  # cost 3 epochs, no value
            (TrialState.COMPLETE, 70.0, 12),
            (TrialState.COMPLETE, 70.0, 0),  # a structure scored before: free
            (TrialState.COMPLETE, 60.0, 12),
        ],
    )
    from g2l_automl.reports import best_so_far_by_epochs, study_epochs, trial_epochs

    assert study_epochs(study) == 39
    assert [trial_epochs(t) for t in study.trials] == [12, 3, 12, 0, 12]
    curve = best_so_far_by_epochs(study, [5, 12, 14, 26, 27, 39, 50])
    np.testing.assert_array_equal(curve, [np.nan, 50.0, 50.0, 50.0, 70.0, 70.0, 70.0])
    old = _epoch_study("b", [(TrialState.COMPLETE, 50.0, None)])  # recorded nothing
    assert best_so_far_by_epochs(old, [1]) is None and study_epochs(old) is None


def test_report_compares_studies_against_training_epochs_when_they_record_them():
    cheap = _epoch_study("pruned", [(TrialState.PRUNED, None, 2)] * 5 + [(TrialState.COMPLETE, 80.0, 12)])
    dear = _epoch_study("full", [(TrialState.COMPLETE, 60.0, 12), (TrialState.COMPLETE, 75.0, 12)])
    fig = report_figures([cheap, dear])["comparison"]
    assert fig.layout.xaxis.title.text == "training epochs"
    medians = {t.name.split(" ")[0]: (np.asarray(t.x), np.asarray(t.y)) for t in fig.data if t.mode == "lines"}
    x, y = medians["pruned"]
    assert x[-1] == 24 and y[x == 22][0] == 80.0 and np.isnan(y[x == 21][0])
    x, y = medians["full"]
    assert y[x == 12][0] == 60.0 and y[x == 24][0] == 75.0
    # a study without recorded epochs: the comparison falls back to trials
    fig = report_figures([cheap, _epoch_study("old", [(TrialState.COMPLETE, 50.0, None)])])["comparison"]
    assert fig.layout.xaxis.title.text == "trials"
