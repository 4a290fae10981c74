"""NNI tuners and assessor driven through NNI's own API (generate / receive / trial_end / import_data)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from nni.assessor import AssessResult
from optuna.trial import TrialState

from g2l_automl.errors import SpaceError
from g2l_automl.nni import ID_KEY, EGIAssessor, EvolutionTuner, G2LGeneticTuner, default_value, distributions_from_nni
from g2l_automl.nni._protocol import ledger
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
STUDIES = Path(__file__).resolve().parents[1] / "studies"
SPACE = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=4), [Dilations(k=2, T=5)])
GEN = "G2LGeneticSampler:generation"


def _score(params: dict) -> float:
    """A deterministic fitness: how close the stage's receptive field is to 40 frames."""
    return 100.0 - abs(SPACE.to_structure(params).receptive_field(0) - 40)


class _Nni:
    """What NNI's dispatcher does: ask in batches, keep what st_callback sends, report results."""

    def __init__(self, tuner) -> None:  # noqa: ANN001
        self.tuner, self.next_id, self.sent = tuner, 0, {}

    def callback(self, parameter_id: int, params: dict) -> None:
        self.sent[parameter_id] = params

    def request(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        for pid, params in zip(
            ids, self.tuner.generate_multiple_parameters(ids, st_callback=self.callback), strict=False
        ):
            self.sent[pid] = params
        return ids

    def finish(self, pid: int, value=None) -> None:  # noqa: ANN001
        params = self.sent.pop(pid)
        metric = {"default": _score(params) if value is None else value, ID_KEY: params[ID_KEY]}
        self.tuner.receive_trial_result(pid, params, metric)
        self.tuner.trial_end(pid, True)


def _tuner(tmp_path: Path, cls=G2LGeneticTuner, **options):  # noqa: ANN001
    tuner = cls(state_dir=str(tmp_path / "state"), **options)
    tuner.update_search_space(SPACE.to_nni())
    return tuner


def test_distributions_from_nni_and_errors():
    d = distributions_from_nni(
        {
            "a": {"_type": "choice", "_value": [1, 2]},
            "b": {"_type": "randint", "_value": [0, 10]},
            "c": {"_type": "uniform", "_value": [0.1, 0.5]},
            "d": {"_type": "quniform", "_value": [0, 1, 0.25]},
        }
    )
    assert d["a"].choices == (1, 2) and (d["b"].low, d["b"].high) == (0, 9) and d["d"].step == 0.25
    for bad in ({}, {"x": {"_type": "normal", "_value": [0, 1]}}, {"x": {"_type": "choice", "_value": [{"a": 1}]}}):
        with pytest.raises(SpaceError):
            distributions_from_nni(bad)


def test_default_value():
    assert default_value({"default": 3}) == (3.0, "")
    assert default_value(2.5) == (2.5, "")
    for bad in ({"default": "x"}, {"a": 1}, math.nan, {"default": math.inf}, True, {"default": 1, "error": "boom"}):
        assert default_value(bad)[0] is None and default_value(bad)[1]


def test_g2l_tuner_defers_when_concurrency_exceeds_the_population(tmp_path):
    tuner = _tuner(tmp_path, population_size=3, seed=0)
    nni = _Nni(tuner)
    nni.request(8)  # NNI over-asks: 8 requests for a population of 3
    assert len(nni.sent) == 3 and tuner._deferred == [3, 4, 5, 6, 7]
    while nni.sent:
        nni.finish(min(nni.sent))
        if nni.next_id < 20 and len(nni.sent) + len(tuner._deferred) < 4:
            nni.request(2)
    trials = tuner.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == nni.next_id  # every request was served exactly once
    sizes = {}
    for t in trials:
        sizes[t.system_attrs[GEN]] = sizes.get(t.system_attrs[GEN], 0) + 1
    assert all(n == 3 for g, n in sizes.items() if g < max(sizes))  # no generation overshoots M
    numbers = [t.user_attrs["nni_parameter_id"] for t in tuner.study.trials]
    assert sorted(numbers) == list(range(nni.next_id))


def test_bad_metrics_fail_the_trial_and_free_its_place(tmp_path):
    tuner = _tuner(tmp_path, population_size=2, seed=0)
    nni = _Nni(tuner)
    nni.request(3)
    assert tuner._deferred == [2]
    nni.finish(0, value="not a number")  # never raises
    assert (
        tuner.study.trials[0].state == TrialState.FAIL and "not a number" in tuner.study.trials[0].user_attrs["error"]
    )
    assert 2 in nni.sent  # the failed trial's place went to the waiting request
    tuner.receive_trial_result(1, nni.sent[1], {"default": 0.0, "error": "RuntimeError: boom", ID_KEY: 1})
    assert tuner.study.trials[1].state == TrialState.FAIL
    tuner.receive_trial_result(99, {"unknown": 1}, {"default": 1.0})  # an unknown job: logged, ignored
    tuner.trial_end(12345, False)


def test_results_pair_by_the_echoed_id_not_nni_parameter_id(tmp_path):
    """NNI 3.0 pairs jobs and parameter ids first-come-first-served under concurrency (upstream issue 5726)."""
    tuner = _tuner(tmp_path, population_size=4, seed=0)
    nni = _Nni(tuner)
    nni.request(2)
    p0, p1 = nni.sent[0], nni.sent[1]
    # the job that ran p0 reports under NNI's id 1 and vice versa
    tuner.receive_trial_result(1, p1, {"default": 10.0, ID_KEY: p0[ID_KEY]})
    tuner.receive_trial_result(0, p0, {"default": 20.0, ID_KEY: p1[ID_KEY]})
    assert tuner.study.trials[p0[ID_KEY]].value == 10.0 and tuner.study.trials[p1[ID_KEY]].value == 20.0


def test_a_stopped_trials_end_under_the_wrong_parameter_id_closes_no_running_trial(tmp_path):
    """A job killed before its first epoch reports a final result marked stopped, then NNI ends it under another
    job's parameter id (issue 5726): the other trial, still running, must keep going and take its own result."""
    tuner = _tuner(tmp_path, population_size=4, seed=0)
    nni = _Nni(tuner)
    nni.request(2)
    p0, p1 = nni.sent[0], nni.sent[1]
    tuner.receive_trial_result(0, p0, {"default": 0.0, "stopped": "SIGINT", ID_KEY: p0[ID_KEY]})
    tuner.trial_end(1, False)  # the killed job's end, under the id of the job that ran p1
    assert tuner.study.trials[p0[ID_KEY]].state == TrialState.PRUNED
    assert tuner.study.trials[p1[ID_KEY]].state == TrialState.RUNNING
    tuner.receive_trial_result(1, p1, {"default": 30.0, ID_KEY: p1[ID_KEY]})
    tuner.trial_end(0, True)
    assert tuner.study.trials[p1[ID_KEY]].value == 30.0
    nni.request(1)  # a job that dies without any result is still failed by its parameter id
    tuner.trial_end(2, False)
    assert tuner.study.trials[nni.sent[2][ID_KEY]].state == TrialState.FAIL


def test_assessor_stops_and_tells_the_tuner_which_job_ended(tmp_path):
    tuner = _tuner(tmp_path, population_size=2, seed=0)
    assessor = EGIAssessor(population_size=1, checkpoints=[2], rule="top-m", state_dir=str(tmp_path / "state"))
    nni = _Nni(tuner)
    nni.request(2)
    a, b = nni.sent[0][ID_KEY], nni.sent[1][ID_KEY]
    assert assessor.assess_trial("jobA", [{"default": 50.0, ID_KEY: a}]) == AssessResult.Good
    assert assessor.assess_trial("jobB", [{"default": 10.0, ID_KEY: b}]) == AssessResult.Good  # not a checkpoint
    assert assessor.assess_trial("jobA", [{"default": 50.0, ID_KEY: a}, {"default": 60.0, ID_KEY: a}]) == (
        AssessResult.Good
    )
    history_b = [{"default": 10.0, ID_KEY: b}, {"default": 20.0, ID_KEY: b}]
    assert assessor.assess_trial("jobB", history_b) == AssessResult.Bad
    # NNI ends jobB but names the parameter id of the other job (the mix-up): the ledger knows better
    assessor.trial_end("jobB", False)
    tuner.trial_end(0, False)
    assert tuner.study.trials[b].state == TrialState.PRUNED
    assert tuner.study.trials[a].state == TrialState.RUNNING
    assert (tmp_path / "state" / "g2l_assessor.json").is_file()
    # a restarted assessor keeps the values it had seen
    again = EGIAssessor(population_size=1, checkpoints=[2], rule="top-m", state_dir=str(tmp_path / "state"))
    assert again.assess_trial("jobC", [{"default": 1.0}, {"default": 30.0}]) == AssessResult.Bad
    assert again.assess_trial("jobD", ["garbage"]) == AssessResult.Good  # never raises


def test_assessor_minimize_and_validation():
    a = EGIAssessor(population_size=1, optimize_mode="minimize", rule="top-m")
    assert a.assess_trial("x", [1.0]) == AssessResult.Good
    assert a.assess_trial("y", [5.0]) == AssessResult.Bad
    assert a.assess_trial("z", [0.5]) == AssessResult.Good
    with pytest.raises(ValueError):
        EGIAssessor(population_size=0)
    with pytest.raises(ValueError):
        EGIAssessor(optimize_mode="up")


def test_resume_rebuilds_state_from_storage_and_import_data(tmp_path):
    first = _tuner(tmp_path, population_size=2, seed=0)
    nni = _Nni(first)
    nni.request(2)
    lost = nni.sent[1]
    nni.finish(0)  # trial 1 is still running when the experiment stops
    # nnictl resume: a new tuner process on the same checkpoint directory
    second = _tuner(tmp_path, population_size=2, seed=1)
    assert second._by_parameter == {0: 0, 1: 1}
    foreign = {
        "stage0.layer0.dilation": 1,
        "stage0.layer1.dilation": 2,
        "stage0.layer2.dilation": 4,
        "stage0.layer3.dilation": 8,
    }
    second.import_data(
        [
            {"parameter": lost, "value": {"default": 77.0}},  # our trial's result, recorded by NNI
            {"parameter": foreign, "value": 55.0},  # e.g. `nnictl experiment import`
            {"parameter": {"nope": 1}, "value": 1.0},  # not in the space: skipped, no raise
        ]
    )
    trials = second.study.trials
    assert trials[1].state == TrialState.COMPLETE and trials[1].value == 77.0
    assert trials[2].state == TrialState.COMPLETE and trials[2].params == foreign and trials[2].user_attrs["imported"]
    assert trials[2].system_attrs[GEN] == 1  # generation 0 was full: the import joins generation 1
    again = _Nni(second)
    again.next_id = 2
    again.request(2)
    assert len(again.sent) == 1  # generation 1 has one member already
    assert second.study.trials[-1].system_attrs[GEN] == 1


def test_resume_fails_trials_left_running(tmp_path):
    first = _tuner(tmp_path, population_size=3, seed=0)
    _Nni(first).request(2)
    second = _tuner(tmp_path, population_size=3, seed=0)
    _Nni(second).request(1)
    states = [t.state for t in second.study.trials]
    assert states[:2] == [TrialState.FAIL, TrialState.FAIL] and states[2] == TrialState.RUNNING


def test_evolution_tuner_never_waits(tmp_path):
    tuner = _tuner(tmp_path, EvolutionTuner, population_size=2, sample_size=2, max_mutations=1, seed=0)
    nni = _Nni(tuner)
    nni.request(5)
    assert len(nni.sent) == 5 and not tuner._deferred
    for pid in list(nni.sent):
        nni.finish(pid)
    nni.request(10)
    for pid in list(nni.sent):
        nni.finish(pid)
    best = max(t.value for t in tuner.study.get_trials(states=(TrialState.COMPLETE,)))
    assert best >= max(t.value for t in tuner.study.trials[:5])


def test_tuner_with_a_config_checks_the_search_space(tmp_path):
    config = str(STUDIES / "synthetic-tiny.yaml")
    tuner = G2LGeneticTuner(config=config, population_size=2, seed=0, state_dir=str(tmp_path / "s"))
    tuner.update_search_space(tuner.space.to_nni())
    params = tuner.generate_parameters(0)
    assert set(params) == set(tuner.space.names) | {ID_KEY}
    with pytest.raises(SpaceError, match="does not match"):
        tuner.update_search_space({"other": {"_type": "choice", "_value": [1]}})


def test_tuner_without_config_takes_any_nni_space(tmp_path):
    tuner = G2LGeneticTuner(population_size=2, seed=0)  # in memory
    tuner.update_search_space(
        {"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}, "depth": {"_type": "randint", "_value": [2, 6]}}
    )
    nni = _Nni(tuner)
    nni.request(4)
    for pid in sorted(nni.sent):
        p = nni.sent[pid]
        assert 1e-4 <= p["lr"] <= 1e-1 and 2 <= p["depth"] <= 5
    while nni.sent:
        nni.finish(min(nni.sent), value=1.0)
    assert len(tuner.study.get_trials(states=(TrialState.COMPLETE,))) == 4


def test_ledgers_are_per_experiment():
    assert ledger("/a") is ledger("/a") and ledger("/a") is not ledger("/b")
