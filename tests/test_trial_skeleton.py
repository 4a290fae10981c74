"""The trial skeleton's pieces: the study-direction check and the trial user-attr schema."""

from __future__ import annotations

import optuna
import pytest

from g2l_automl import _attrs as attrs
from g2l_automl.errors import G2LError
from g2l_automl.objective import (
    ProxyObjective,
    SegmentationObjective,
    TrialObjective,
    VideoNASObjective,
    check_study_directions,
)
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _Metrics:
    def __init__(self, *metrics: str) -> None:
        self.metrics = metrics

    @property
    def directions(self) -> list[str]:
        return ["minimize" if m in ("flops", "params") else "maximize" for m in self.metrics]


def _study(*directions: str, name: str = "s") -> optuna.Study:
    return optuna.create_study(study_name=name, directions=list(directions))


def test_matching_directions_pass():
    check_study_directions(_study("maximize"), _Metrics("F1@10"))
    check_study_directions(_study("maximize", "minimize"), _Metrics("mAP", "flops"))
    check_study_directions(_study("minimize", "minimize"), _Metrics("params", "flops"))


def test_a_wrong_direction_names_the_metric_and_the_fix():
    with pytest.raises(G2LError) as info:
        check_study_directions(_study("minimize"), _Metrics("F1@10"), "c.yaml: objective.metric")
    assert str(info.value) == (
        "study 's' has direction minimize but metric F1@10 should be maximized (c.yaml: objective.metric); "
        "create the study with --direction maximize"
    )


def test_a_wrong_count_names_the_metrics_and_the_create_study_command():
    with pytest.raises(G2LError) as info:
        check_study_directions(_study("maximize"), _Metrics("mAP", "flops"), "v.yaml: optuna.metric", "sqlite:///x.db")
    assert str(info.value) == (
        "study 's' has direction(s) maximize but v.yaml: optuna.metric gives 2 metric(s) (mAP, flops), which need "
        "maximize, minimize; create a study with: optuna create-study --storage sqlite:///x.db --study-name NEW_NAME "
        "--directions maximize minimize"
    )


def test_every_objective_says_the_directions_its_metrics_need():
    assert ProxyObjective(SearchSpace(StructureSpec.mstcn(1, 3), [Dilations(k=2, T=3)])).directions == ["maximize"]
    assert issubclass(SegmentationObjective, TrialObjective) and issubclass(VideoNASObjective, TrialObjective)
    for objective in (SegmentationObjective, VideoNASObjective):
        stub = object.__new__(objective)
        stub.metrics = ("params", "flops")
        assert stub.directions == ["minimize", "minimize"]


# -- the user-attr schema ------------------------------------------------------------------------------------------

SEARCHED = StructureSpec.mstcn(1, 3)
REFINED = SEARCHED.with_dilations([[1, 1, 1]])


def _trial(**user_attrs) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=1.0, user_attrs=user_attrs)


def test_the_keys_are_distinct_strings():
    keys = [v for k, v in vars(attrs).items() if k.isupper() and isinstance(v, str)]
    assert len(keys) == len(set(keys)) >= 24
    assert set(attrs.OWN) <= set(keys)


def test_trial_structure_is_what_the_trial_trained_and_scored():
    searched = _trial(**{attrs.STRUCTURE: SEARCHED.to_dict()})
    refined = _trial(**{attrs.STRUCTURE: SEARCHED.to_dict(), attrs.REFINED_STRUCTURE: REFINED.to_dict()})
    assert attrs.trial_structure(searched) == SEARCHED and attrs.searched_structure(searched) == SEARCHED
    assert attrs.trial_structure(refined) == REFINED and attrs.searched_structure(refined) == SEARCHED
    assert attrs.has_structure(refined) and not attrs.has_structure(_trial())
    assert attrs.trial_structure(_trial()) is None and attrs.searched_structure(_trial()) is None


@pytest.mark.parametrize("bad", [{"stages": "x"}, "mstcn", 3])
def test_an_invalid_structure_names_the_trial(bad):
    with pytest.raises(G2LError, match=r"trial -1: user attr 'structure' is not a valid structure"):
        attrs.trial_structure(_trial(**{attrs.STRUCTURE: bad}))


def test_metrics_error_and_refined_accessors():
    trial = _trial(**{attrs.METRICS: {"F1@10": 50.0}, attrs.REFINED_FROM: 3})
    assert attrs.trial_metrics(trial) == {"F1@10": 50.0} and attrs.trial_metrics(_trial()) == {}
    assert attrs.is_refined(trial) and not attrs.is_refined(_trial())
    failed = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={attrs.ERROR: "E: x"})
    assert attrs.trial_error(failed) == "E: x" and attrs.trial_error(_trial()) is None


def test_the_objectives_write_the_schema_keys():
    space = SearchSpace(StructureSpec.mstcn(1, 3), [Dilations(k=2, T=3)])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(ProxyObjective(space), n_trials=1)
    assert attrs.trial_structure(study.trials[0]) is not None
