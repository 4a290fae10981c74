"""EGIPruner: the genetic search's top-M survival rule at checkpoint epochs; make_pruner."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from g2l_automl.errors import G2LError
from g2l_automl.pruners import PRUNERS, EGIPruner, make_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _Always(optuna.pruners.BasePruner):
    def __init__(self, answer: bool) -> None:
        self.answer, self.calls = answer, 0

    def prune(self, study, trial) -> bool:  # noqa: ANN001
        self.calls += 1
        return self.answer


def _study(curves, direction="maximize", states=None):
    """A study holding finished trials with the given intermediate values ({step: value} each)."""
    study = optuna.create_study(direction=direction)
    for i, curve in enumerate(curves):
        state = TrialState.COMPLETE if states is None else states[i]
        value = list(curve.values())[-1] if curve and state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and value is None:
            value = 0.0
        study.add_trial(create_trial(state=state, value=value, intermediate_values=dict(curve)))
    return study


def _decide(pruner, study, reports):
    """Ask a trial, report ``{step: value}`` in order and ask the pruner about the (frozen) trial."""
    trial = study.ask()
    for step, value in reports.items():
        trial.report(value, step)
    frozen = study._storage.get_trial(trial._trial_id)
    answer = pruner.prune(study, frozen)
    study.tell(trial, state=TrialState.PRUNED)
    return answer


def test_prunes_only_when_population_size_others_are_strictly_better():
    curves = [{1: 10.0}, {1: 20.0}, {1: 30.0}, {1: 40.0}]
    pruner = EGIPruner(population_size=2)
    for value, expected in [(5.0, True), (25.0, True), (29.9, True), (30.0, False), (35.0, False), (50.0, False)]:
        assert _decide(pruner, _study(curves), {1: value}) is expected, value
    # M = 4: only a trial below all four others goes
    pruner = EGIPruner(population_size=4)
    assert _decide(pruner, _study(curves), {1: 9.0}) is True
    assert _decide(pruner, _study(curves), {1: 10.0}) is False


def test_ties_are_not_better():
    curves = [{1: 20.0}, {1: 20.0}, {1: 20.0}]
    pruner = EGIPruner(population_size=1)
    assert _decide(pruner, _study(curves), {1: 20.0}) is False
    assert _decide(pruner, _study(curves), {1: 19.999}) is True
    assert _decide(pruner, _study(curves, direction="minimize"), {1: 20.0}) is False
    assert _decide(pruner, _study(curves, direction="minimize"), {1: 20.001}) is True


def test_minimize_direction():
    curves = [{2: 1.0}, {2: 2.0}, {2: 3.0}]
    pruner = EGIPruner(population_size=2)
    assert _decide(pruner, _study(curves, "minimize"), {2: 2.5}) is True  # 1.0 and 2.0 are lower
    assert _decide(pruner, _study(curves, "minimize"), {2: 2.0}) is False
    assert _decide(pruner, _study(curves, "minimize"), {2: 0.5}) is False
    # the same values in a maximize study go the other way
    assert _decide(pruner, _study(curves, "maximize"), {2: 2.5}) is False
    assert _decide(pruner, _study(curves, "maximize"), {2: 1.5}) is True


def test_not_enough_trials_never_prunes():
    pruner = EGIPruner(population_size=3)
    assert _decide(pruner, _study([]), {1: -100.0}) is False
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}]), {1: -100.0}) is False
    # trials that never reached the step do not count
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}, {2: 70.0}, {}]), {1: -100.0}) is False
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}, {1: 70.0}]), {1: -100.0}) is True


def test_no_report_no_decision():
    pruner = EGIPruner(population_size=1)
    assert _decide(pruner, _study([{1: 50.0}]), {}) is False


def test_checkpoints_only():
    curves = [{e: 10.0 * e for e in range(1, 6)}, {e: 10.0 * e + 1 for e in range(1, 6)}]
    pruner = EGIPruner(population_size=2, checkpoints=[2, 4])
    assert pruner.checkpoints == frozenset({2, 4})
    low = {e: 0.0 for e in range(1, 6)}
    for last in range(1, 6):
        reports = {e: v for e, v in low.items() if e <= last}
        assert _decide(pruner, _study(curves), reports) is (last in (2, 4)), last
    # every reported step when no checkpoints are given
    every = EGIPruner(population_size=2)
    for last in range(1, 6):
        assert _decide(every, _study(curves), {e: 0.0 for e in range(1, last + 1)}) is True


def test_compares_at_the_trial_s_last_step():
    # a trial that is bad at step 1 but good at step 2 survives step 2
    curves = [{1: 50.0, 2: 50.0}, {1: 60.0, 2: 40.0}]
    pruner = EGIPruner(population_size=2)
    assert _decide(pruner, _study(curves), {1: 0.0, 2: 45.0}) is False
    assert _decide(pruner, _study(curves), {1: 100.0, 2: 30.0}) is True


def test_pruned_and_running_trials_count_but_failed_do_not():
    curves = [{1: 50.0}, {1: 60.0}, {1: 70.0}]
    states = [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    pruner = EGIPruner(population_size=3)
    assert _decide(pruner, _study(curves, states=states), {1: 10.0}) is False  # the FAIL one is ignored
    states = [TrialState.PRUNED, TrialState.PRUNED, TrialState.COMPLETE]
    assert _decide(pruner, _study(curves, states=states), {1: 10.0}) is True
    # a running trial that already reported counts too
    study = _study([{1: 50.0}])
    running = study.ask()
    running.report(60.0, 1)
    assert _decide(EGIPruner(population_size=2), study, {1: 10.0}) is True


def test_finished_trials_count_for_later_ones():
    study = _study([{1: 50.0}])
    pruner = EGIPruner(population_size=1)
    trial = study.ask()
    trial.report(40.0, 1)
    assert pruner.prune(study, study._storage.get_trial(trial._trial_id)) is True
    study.tell(trial, 40.0)
    # now the trial at 40 is COMPLETE; a new trial at 45 has one better (50): pruned with M=1, kept with M=2
    assert _decide(pruner, study, {1: 45.0}) is True
    assert _decide(EGIPruner(population_size=2), study, {1: 45.0}) is False


def test_wrapped_pruner_wins():
    curves = [{1: 10.0}, {1: 20.0}]
    yes, no = _Always(True), _Always(False)
    # the wrapped pruner says prune: pruned although the trial is the best and off the checkpoints
    assert _decide(EGIPruner(population_size=1, checkpoints=[5], wrapped=yes), _study(curves), {1: 99.0}) is True
    assert yes.calls == 1
    # the wrapped pruner says keep: EGI still decides
    assert _decide(EGIPruner(population_size=1, wrapped=no), _study(curves), {1: 15.0}) is True
    assert _decide(EGIPruner(population_size=1, wrapped=no), _study(curves), {1: 25.0}) is False
    assert no.calls == 2


def test_wrapped_median_pruner():
    curves = [{1: 10.0, 2: 10.0}, {1: 20.0, 2: 20.0}, {1: 30.0, 2: 30.0}]
    median = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0)
    pruner = EGIPruner(population_size=3, wrapped=median)  # EGI alone: needs 3 better, never prunes here
    assert _decide(pruner, _study(curves), {1: 15.0}) is True  # below the median (20)
    assert _decide(pruner, _study(curves), {1: 25.0}) is False


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3", None])
def test_bad_population_size(bad):
    with pytest.raises(ValueError, match="population_size"):
        EGIPruner(population_size=bad)


def test_make_pruner_names():
    assert PRUNERS == ("none", "egi", "median", "hyperband")
    assert isinstance(make_pruner({}), optuna.pruners.NopPruner)
    assert isinstance(make_pruner({"name": "none"}), optuna.pruners.NopPruner)
    egi = make_pruner({"name": "egi", "checkpoints": [2, 4]}, population_size=7)
    assert isinstance(egi, EGIPruner) and egi.population_size == 7 and egi.checkpoints == frozenset({2, 4})
    egi = make_pruner({"name": "egi", "population_size": 3, "checkpoints": None}, population_size=7)
    assert egi.population_size == 3 and egi.checkpoints is None
    median = make_pruner({"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1})
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert median._n_startup_trials == 2 and median._n_warmup_steps == 1
    assert isinstance(make_pruner({"name": "median"}), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner({"name": "hyperband"}), optuna.pruners.HyperbandPruner)
    with pytest.raises(G2LError, match="unknown pruner 'asha'"):
        make_pruner({"name": "asha"})


def test_end_to_end_study_prunes_the_expected_trials():
    # trial i has a known learning curve; steps 1..4, checkpoints at 2 and 4, M = 2
    curves = [
        [10, 20, 30, 40],  # 0 complete
        [15, 25, 35, 45],  # 1 complete
        [5, 8, 50, 60],  # 2: two better at step 2 -> pruned there (its late rise is never seen)
        [1, 30, 32, 33],  # 3: best at step 2, two better at step 4 (40, 45) -> pruned at 4
        [0, 26, 41, 46],  # 4: at step 2 only 3 (30) is better; at step 4 it beats all -> complete
        [50, 1, 1, 1],  # 5: best at step 1 (not a checkpoint), worst at step 2 -> pruned at 2
        [0, 26, 0, 45],  # 6: one better and a tie (26) at step 2, one better and a tie (45) at 4 -> complete
    ]
    study = optuna.create_study(direction="maximize", pruner=EGIPruner(population_size=2, checkpoints=[2, 4]))
    pruned_at = {}

    def objective(trial):
        trial.suggest_float("x", 0.0, 1.0)
        for step, value in enumerate(curves[trial.number], start=1):
            trial.report(float(value), step)
            if trial.should_prune():
                pruned_at[trial.number] = step
                raise optuna.TrialPruned()
        return float(curves[trial.number][-1])

    study.optimize(objective, n_trials=len(curves))
    states = [t.state for t in study.trials]
    assert pruned_at == {2: 2, 3: 4, 5: 2}
    assert [s.name for s in states] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED", "COMPLETE", "PRUNED", "COMPLETE"]
    assert study.best_trial.number == 4


def test_end_to_end_with_a_fixed_distribution_enqueued():
    # add_trial + create_trial with params: a pruned trial's curve still counts for later trials
    study = optuna.create_study(direction="maximize", pruner=EGIPruner(population_size=1, checkpoints=[1]))
    dist = {"x": FloatDistribution(0.0, 1.0)}
    study.add_trial(
        create_trial(state=TrialState.PRUNED, params={"x": 0.5}, distributions=dist, intermediate_values={1: 80.0})
    )

    def objective(trial):
        value = [70.0, 90.0][trial.number - 1]
        trial.report(value, 1)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=2)
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED", "COMPLETE"]


def test_the_trial_itself_is_not_counted():
    # the stored copy of the trial (40 at step 1) must not count against the frozen one being judged (30)
    study = _study([{1: 50.0}])
    trial = study.ask()
    trial.report(40.0, 1)
    frozen = study._storage.get_trial(trial._trial_id)
    frozen.intermediate_values = {1: 30.0}
    assert EGIPruner(population_size=2).prune(study, frozen) is False
    assert EGIPruner(population_size=1).prune(study, frozen) is True
