"""``g2l-optimize refine`` end to end: EGI/DARTS refinement of a study's best trials, written back as trials;
refinement of one structure file; in-trial refinement from the search objective."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest
from _cli import cli_argv, create_study
from optuna.trial import TrialState, create_trial

from g2l_automl.cli import main
from g2l_automl.structure import StructureSpec

STUDIES = Path(__file__).resolve().parents[1] / "studies"
CONFIG = STUDIES / "synthetic-tiny.yaml"


def _search_argv(storage: str, name: str, data: Path, config: Path = CONFIG, n_trials: int = 4) -> list[str]:
    return cli_argv(
        "search", storage=storage, study_name=name, config=config, data=data, n_trials=n_trials, seed=0, device="cpu"
    )


def _refine_argv(storage: str, data: Path, *extra: str) -> list[str]:
    opts = {"storage": storage, "study_name": "s", "config": CONFIG, "data": data, "epochs": 2, "interval": 1}
    return cli_argv("refine", *extra, **opts, device="cpu")


@pytest.fixture(scope="module")
def searched_db(tmp_path_factory, tiny_data) -> Path:
    """A sqlite study 's' made by ``optuna create-study`` with 4 COMPLETE search trials (copied per test)."""
    db = tmp_path_factory.mktemp("searched") / "g2l.db"
    storage = f"sqlite:///{db}"
    create_study(storage, "s", "--direction", "maximize")
    assert main(_search_argv(storage, "s", tiny_data)) == 0
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    return db


@pytest.fixture
def storage(searched_db, tmp_path) -> str:
    db = tmp_path / "study.db"
    shutil.copy(searched_db, db)
    return f"sqlite:///{db}"


def _load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=storage)


def _best_two(study: optuna.Study) -> list[int]:
    search = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if "refined_from" not in t.user_attrs]
    return [t.number for t in sorted(search, key=lambda t: (-t.value, t.number))[:2]]


def _check_refined(trial, method: str, source) -> None:  # noqa: ANN001
    attrs = trial.user_attrs
    assert trial.state == TrialState.COMPLETE
    assert attrs["method"] == method
    assert attrs["refined_from"] == source.number
    trajectory = attrs["trajectory"]
    assert trajectory[0] == {
        "epoch": 0,
        "dilations": StructureSpec.from_dict(source.user_attrs["structure"]).dilations(),
    }
    assert [step["epoch"] for step in trajectory] == list(range(len(trajectory)))
    assert 2 <= len(trajectory) <= 3  # 2 epochs, one update per epoch, or converged after the first
    assert all(set(step) == {"epoch", "dilations"} for step in trajectory)
    spec = StructureSpec.from_dict(attrs["structure"])
    assert spec.dilations() == trajectory[-1]["dilations"]
    assert attrs["metrics"]["F1@10"] == pytest.approx(trial.value)
    assert attrs["epochs"] == attrs["search_epochs"] + 3  # the supernet's epochs, then 3 to score the result
    assert attrs["params"] > 0
    assert attrs["search_epochs"] == trajectory[-1]["epoch"]
    assert attrs["converged"] == (trajectory[-1]["dilations"] == trajectory[-2]["dilations"])
    assert trial.params == {}


def test_refine_top_trials_of_a_study(storage, tiny_data, tmp_path, capsys):
    before = _load(storage).trials
    best = _best_two(_load(storage))
    out = tmp_path / "r"
    assert main([*_refine_argv(storage, tiny_data, "--top", "2", "--out", str(out))]) == 0
    printed = capsys.readouterr().out
    assert "best refined: trial" in printed

    study = _load(storage)
    assert len(study.trials) == 6
    new = study.trials[4:]
    assert [t.user_attrs["refined_from"] for t in new] == best
    for trial in new:
        _check_refined(trial, "egi", study.trials[trial.user_attrs["refined_from"]])
    # the search trials are untouched
    for old, now in zip(before, study.trials[:4], strict=True):
        assert (old.state, old.value, old.user_attrs) == (now.state, now.value, now.user_attrs)

    best_refined = max(new, key=lambda t: (t.value, -t.number))
    saved = json.loads((out / "refined_best.json").read_text())
    assert StructureSpec.from_dict(saved) == StructureSpec.from_dict(best_refined.user_attrs["structure"])
    for trial in new:
        assert json.loads((out / f"refined_trial{trial.number}.json").read_text()) == trial.user_attrs["structure"]
    assert "model" in json.loads((out / "refined_best_g2l_config.json").read_text())
    # the refined structure trains
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_data),
                "--structure",
                str(out / "refined_best.json"),
                "--epochs",
                "1",
                "--no-progress",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "trained"),
            ]
        )
        == 0
    )
    trained = StructureSpec.from_dict(json.loads((tmp_path / "trained" / "structure.json").read_text()))
    assert trained == StructureSpec.from_dict(saved)

    # a second run skips the trials it already refined
    capsys.readouterr()
    assert main([*_refine_argv(storage, tiny_data, "--top", "2")]) == 0
    assert "already refined with egi" in capsys.readouterr().out
    assert len(_load(storage).trials) == 6

    # DARTS refines an already EGI-refined trial again, as a new trial (--trial picks it by number)
    assert main([*_refine_argv(storage, tiny_data, "--trial", str(best[1]), "--method", "darts")]) == 0
    study = _load(storage)
    assert len(study.trials) == 7
    _check_refined(study.trials[6], "darts", study.trials[best[1]])
    assert [t.user_attrs.get("method") for t in study.trials[4:]] == ["egi", "egi", "darts"]


def test_refine_rejects_a_failed_trial(storage, tiny_data, capsys):
    study = _load(storage)
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"error": "RuntimeError: boom"}))
    assert len(study.trials) == 5
    assert main([*_refine_argv(storage, tiny_data, "--trial", "4")]) == 2
    err = capsys.readouterr().err
    assert "FAIL" in err and "only COMPLETE" in err and "trial 4" in err
    assert "boom" in err
    assert len(_load(storage).trials) == 5


@pytest.mark.parametrize("number", ["99", "-1"])
def test_refine_rejects_a_missing_trial(storage, tiny_data, capsys, number):
    assert main([*_refine_argv(storage, tiny_data, f"--trial={number}")]) == 2
    err = capsys.readouterr().err
    assert f"trial {number}" in err and "no such trial" in err
    assert len(_load(storage).trials) == 4


def test_refine_a_failed_and_a_good_trial_adds_nothing(storage, tiny_data):
    study = _load(storage)
    study.add_trial(create_trial(state=TrialState.FAIL))
    assert main([*_refine_argv(storage, tiny_data, "--trial", "0", "--trial", "4")]) == 2
    assert len(_load(storage).trials) == 5  # checked before any work


def _fast_config(tmp_path: Path, objective_refine: bool = False) -> Path:
    """The tiny config with 1 training epoch (scoring) and, if asked, in-trial refinement: YAML text edits."""
    text = CONFIG.read_text()
    for old, new in [
        ("training: {epochs: 3,", "training: {epochs: 1,"),
        ("objective: {metric: F1@10, report: F1@10}", "objective: {metric: F1@10, report: F1@10, refine: true}"),
    ]:
        assert old in text
        if new.startswith("objective") and not objective_refine:
            continue
        text = text.replace(old, new)
    path = tmp_path / "fast.yaml"
    path.write_text(text)
    return path


def test_refine_a_structure_file(tiny_data, tmp_path, capsys):
    start = StructureSpec.mstcn(1, 4, channels=16, dilations=[1, 3, 9, 27])
    path = tmp_path / "start.json"
    path.write_text(json.dumps(start.to_dict()))
    out = tmp_path / "out"
    argv = [
        "refine",
        "--structure",
        str(path),
        "--config",
        str(_fast_config(tmp_path)),
        "--data",
        str(tiny_data),
        "--epochs",
        "2",
        "--interval",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "epoch   0: 1 3 9 27" in capsys.readouterr().out
    refined = StructureSpec.from_dict(json.loads((out / "refined.json").read_text()))
    report = json.loads((out / "refine.json").read_text())
    assert report["method"] == "egi"
    assert report["trajectory"][0] == {"epoch": 0, "dilations": [[1, 3, 9, 27]]}
    assert [s["epoch"] for s in report["trajectory"]] == list(range(len(report["trajectory"])))
    assert refined.dilations() == report["trajectory"][-1]["dilations"]
    assert "F1@10" in report["metrics"] and report["params"] > 0
    assert "model" in json.loads((out / "refined_g2l_config.json").read_text())
    # --structure without --out is an error
    assert main(argv[:-2]) == 2
    assert "--out" in capsys.readouterr().err


def test_search_with_in_trial_refinement(tiny_data, tmp_path):
    config = _fast_config(tmp_path, objective_refine=True)
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    create_study(storage, "r", "--direction", "maximize")
    assert main(_search_argv(storage, "r", tiny_data, config=config, n_trials=2)) == 0
    study = optuna.load_study(study_name="r", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2
    for trial in complete:
        attrs = trial.user_attrs
        assert {"refined_structure", "trajectory", "unrefined_metrics", "metrics", "structure"} <= set(attrs)
        assert attrs["method"] == "egi"
        start = StructureSpec.from_dict(attrs["structure"])
        refined = StructureSpec.from_dict(attrs["refined_structure"])
        assert attrs["trajectory"][0] == {"epoch": 0, "dilations": start.dilations()}
        assert attrs["trajectory"][-1]["dilations"] == refined.dilations()
        assert [s["epoch"] for s in attrs["trajectory"]] == list(range(len(attrs["trajectory"])))
        assert attrs["metrics"]["F1@10"] == pytest.approx(trial.value)
        # 1 epoch to score the start, the supernet's epochs (2, or 1 when converged at once), 1 to score the result
        assert attrs["epochs"] in (1 + 2 + 1, 1 + 1 + 1)
