"""SegmentationObjective: trains candidates on the tiny synthetic dataset and records what a search needs."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from g2l_automl.data import ActionSegmentationDataset
from g2l_automl.errors import G2LError
from g2l_automl.metrics import METRIC_NAMES
from g2l_automl.objective import SegmentationObjective
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer

optuna.logging.set_verbosity(optuna.logging.WARNING)

METRICS = ("F1@10", "F1@25", "F1@50", "Edit", "Acc")


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3)])


@pytest.fixture
def objective(tiny_data, space) -> SegmentationObjective:
    return SegmentationObjective(
        ActionSegmentationDataset(tiny_data), space, trainer=Trainer(epochs=2, progress=False, device="cpu")
    )


def _study(**kwargs) -> optuna.Study:
    kwargs.setdefault("direction", "maximize")
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), **kwargs)


def test_metric_names_cover_the_expected_ones():
    assert set(METRICS) <= set(METRIC_NAMES)


def test_completed_trial_records_structure_metrics_params_and_time(objective, space):
    study = _study()
    study.optimize(objective, n_trials=2)
    assert len(study.trials) == 2
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("error")
        attrs = trial.user_attrs
        assert {"structure", "metrics", "params", "train_seconds"} <= set(attrs)
        assert "error" not in attrs
        structure = StructureSpec.from_dict(attrs["structure"])
        assert structure == space.to_structure(trial.params)
        assert [layer.dilation for _, _, layer in structure.layers()] == [
            trial.params[f"stage0.layer{i}.dilation"] for i in range(3)
        ]
        assert set(METRICS) <= set(attrs["metrics"])
        for name in METRICS:
            assert math.isfinite(attrs["metrics"][name]) and 0.0 <= attrs["metrics"][name] <= 100.0
        assert isinstance(attrs["params"], int) and not isinstance(attrs["params"], bool) and attrs["params"] > 0
        assert isinstance(attrs["train_seconds"], float) and attrs["train_seconds"] >= 0.0
        assert trial.value == attrs["metrics"]["F1@10"]
        if "duplicate_of" in attrs:  # the random sampler repeated a structure: scored once, not trained again
            assert attrs["train_seconds"] == 0.0 and trial.intermediate_values == {}
            assert trial.value == study.trials[attrs["duplicate_of"]].value
            continue
        assert sorted(trial.intermediate_values) == [1, 2]
        assert trial.intermediate_values[2] == attrs["metrics"]["F1@10"]


def test_same_structure_same_value(objective, space):
    """The training is seeded: the same candidate scores the same twice."""
    study = _study()
    params = space.to_params(space.base)
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    study.optimize(objective, n_trials=2)
    a, b = study.trials
    assert a.params == b.params == params
    assert a.value == b.value
    assert a.user_attrs["metrics"] == b.user_attrs["metrics"]
    assert a.user_attrs["params"] == b.user_attrs["params"]


def test_report_metric_goes_to_intermediate_values(tiny_data, space):
    objective = SegmentationObjective(
        ActionSegmentationDataset(tiny_data),
        space,
        trainer=Trainer(epochs=2, progress=False, device="cpu"),
        metric="Acc",
        report="Edit",
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.value == trial.user_attrs["metrics"]["Acc"]
    assert trial.intermediate_values[2] == trial.user_attrs["metrics"]["Edit"]


class _AlwaysPrune(optuna.pruners.BasePruner):
    def __init__(self) -> None:
        self.calls = 0

    def prune(self, study, trial) -> bool:
        self.calls += 1
        return True


def test_pruner_prunes_after_the_first_epoch(objective):
    pruner = _AlwaysPrune()
    study = _study(pruner=pruner)
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert pruner.calls == 2
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [1]
        assert "metrics" not in trial.user_attrs
        assert "structure" in trial.user_attrs


@pytest.mark.parametrize("metric", ["flops", "params"])
def test_a_minimised_cost_study_never_reports_f1_to_its_pruner(tiny_data, space, metric):
    # a pruner that sees F1 while the study minimises FLOPs would cut the trials of lowest cost
    objective = SegmentationObjective(
        ActionSegmentationDataset(tiny_data), space, trainer=Trainer(epochs=2, progress=False, device="cpu"),
        metric=metric,
    )  # fmt: skip
    assert objective.directions == ["minimize"]
    pruner = _AlwaysPrune()
    study = _study(direction="minimize", pruner=pruner)
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert pruner.calls == 0 and all(t.intermediate_values == {} for t in study.trials)
    assert all(t.value == t.user_attrs[metric] for t in study.trials) and study.trials[0].user_attrs["epochs"] == 2
    # the same objective with F1 maximised reports (and is pruned) after the first epoch
    objective = SegmentationObjective(
        ActionSegmentationDataset(tiny_data), space, trainer=Trainer(epochs=2, progress=False, device="cpu")
    )
    study = _study(pruner=_AlwaysPrune())
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED and sorted(study.trials[0].intermediate_values) == [1]


def test_a_crash_fails_that_trial_only(objective, monkeypatch):
    original = Trainer.epochs_of
    calls = []

    def flaky_epochs(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        yield from original(*args, **kwargs)

    monkeypatch.setattr(Trainer, "epochs_of", flaky_epochs)
    study = _study()
    study.optimize(objective, n_trials=2)
    failed, done = study.trials
    assert failed.state == TrialState.FAIL
    assert "RuntimeError" in failed.user_attrs["error"] and "simulated" in failed.user_attrs["error"]
    assert "metrics" not in failed.user_attrs
    assert done.state == TrialState.COMPLETE
    assert "error" not in done.user_attrs
    assert done.value == done.user_attrs["metrics"]["F1@10"]
    assert len(calls) == 2


def test_multi_objective_returns_metric_and_param_count(tiny_data, space):
    objective = SegmentationObjective(
        ActionSegmentationDataset(tiny_data),
        space,
        trainer=Trainer(epochs=2, progress=False, device="cpu"),
        metric=["F1@10", "params"],
    )
    study = _study(direction=None, directions=["maximize", "minimize"])
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert len(trial.values) == 2
    assert trial.values[0] == trial.user_attrs["metrics"]["F1@10"]
    assert trial.values[1] == float(trial.user_attrs["params"])
    assert trial.intermediate_values == {}  # no report() in multi-objective studies


def test_multi_objective_crash_fails_with_all_values(tiny_data, space, monkeypatch):
    objective = SegmentationObjective(
        ActionSegmentationDataset(tiny_data),
        space,
        trainer=Trainer(epochs=1, progress=False, device="cpu"),
        metric=["F1@10", "Edit"],
    )

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Trainer, "epochs_of", broken)
    study = _study(direction=None, directions=["maximize", "maximize"])
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs["error"] == "RuntimeError: boom"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metric": "nope"},
        {"metric": ["F1@10", "nope"]},
        {"metric": []},
        {"report": "params"},
        {"report": "nope"},
        {"val_fraction": 0},
        {"val_fraction": 1.0},
        {"val_fraction": -0.1},
    ],
)
def test_bad_arguments(tiny_data, space, kwargs):
    with pytest.raises(G2LError):
        SegmentationObjective(ActionSegmentationDataset(tiny_data), space, **kwargs)


def test_validation_videos_come_from_the_train_list(tiny_data, objective):
    dataset = ActionSegmentationDataset(tiny_data)
    train, val = objective.videos()
    assert train and val
    train_names = {v.name for v in train}
    val_names = {v.name for v in val}
    assert not train_names & val_names
    assert objective.videos()[0] is train  # read once
    names_train, names_val = dataset.train_val_split(1, 0.25, 0)
    assert [v.name for v in train] == names_train and [v.name for v in val] == names_val
    assert val_names <= set(dataset.split("train", 1))
    assert not val_names & set(dataset.split("test", 1))
