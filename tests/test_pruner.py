"""EGIPruner: rungs with promotion (asha) and the top-M cut (top-m) on hand-made learning curves; make_pruner;
EGIAssessor parity."""

from __future__ import annotations

import functools
import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from g2l_automl.errors import G2LError
from g2l_automl.pruners import PRUNERS, EGIPruner, RungRule, make_pruner, rung_prunes

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: the old one-cut rule, kept by name
TopM = functools.partial(EGIPruner, rule="top-m")


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
    pruner = TopM(population_size=2)
    for value, expected in [(5.0, True), (25.0, True), (29.9, True), (30.0, False), (35.0, False), (50.0, False)]:
        assert _decide(pruner, _study(curves), {1: value}) is expected, value
    # M = 4: only a trial below all four others goes
    pruner = TopM(population_size=4)
    assert _decide(pruner, _study(curves), {1: 9.0}) is True
    assert _decide(pruner, _study(curves), {1: 10.0}) is False


def test_ties_are_not_better():
    curves = [{1: 20.0}, {1: 20.0}, {1: 20.0}]
    pruner = TopM(population_size=1)
    assert _decide(pruner, _study(curves), {1: 20.0}) is False
    assert _decide(pruner, _study(curves), {1: 19.999}) is True
    assert _decide(pruner, _study(curves, direction="minimize"), {1: 20.0}) is False
    assert _decide(pruner, _study(curves, direction="minimize"), {1: 20.001}) is True


def test_minimize_direction():
    curves = [{2: 1.0}, {2: 2.0}, {2: 3.0}]
    pruner = TopM(population_size=2)
    assert _decide(pruner, _study(curves, "minimize"), {2: 2.5}) is True  # 1.0 and 2.0 are lower
    assert _decide(pruner, _study(curves, "minimize"), {2: 2.0}) is False
    assert _decide(pruner, _study(curves, "minimize"), {2: 0.5}) is False
    # the same values in a maximize study go the other way
    assert _decide(pruner, _study(curves, "maximize"), {2: 2.5}) is False
    assert _decide(pruner, _study(curves, "maximize"), {2: 1.5}) is True


def test_not_enough_trials_never_prunes():
    pruner = TopM(population_size=3)
    assert _decide(pruner, _study([]), {1: -100.0}) is False
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}]), {1: -100.0}) is False
    # trials that never reached the step do not count
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}, {2: 70.0}, {}]), {1: -100.0}) is False
    assert _decide(pruner, _study([{1: 50.0}, {1: 60.0}, {1: 70.0}]), {1: -100.0}) is True


def test_no_report_no_decision():
    pruner = TopM(population_size=1)
    assert _decide(pruner, _study([{1: 50.0}]), {}) is False


def test_checkpoints_only():
    curves = [{e: 10.0 * e for e in range(1, 6)}, {e: 10.0 * e + 1 for e in range(1, 6)}]
    pruner = TopM(population_size=2, checkpoints=[2, 4])
    assert pruner.checkpoints == frozenset({2, 4})
    low = {e: 0.0 for e in range(1, 6)}
    for last in range(1, 6):
        reports = {e: v for e, v in low.items() if e <= last}
        assert _decide(pruner, _study(curves), reports) is (last in (2, 4)), last
    # every reported step when no checkpoints are given
    every = TopM(population_size=2)
    for last in range(1, 6):
        assert _decide(every, _study(curves), {e: 0.0 for e in range(1, last + 1)}) is True


def test_compares_at_the_trial_s_last_step():
    # a trial that is bad at step 1 but good at step 2 survives step 2
    curves = [{1: 50.0, 2: 50.0}, {1: 60.0, 2: 40.0}]
    pruner = TopM(population_size=2)
    assert _decide(pruner, _study(curves), {1: 0.0, 2: 45.0}) is False
    assert _decide(pruner, _study(curves), {1: 100.0, 2: 30.0}) is True


def test_pruned_and_running_trials_count_but_failed_do_not():
    curves = [{1: 50.0}, {1: 60.0}, {1: 70.0}]
    states = [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    pruner = TopM(population_size=3)
    assert _decide(pruner, _study(curves, states=states), {1: 10.0}) is False  # the FAIL one is ignored
    states = [TrialState.PRUNED, TrialState.PRUNED, TrialState.COMPLETE]
    assert _decide(pruner, _study(curves, states=states), {1: 10.0}) is True
    # a running trial that already reported counts too
    study = _study([{1: 50.0}])
    running = study.ask()
    running.report(60.0, 1)
    assert _decide(TopM(population_size=2), study, {1: 10.0}) is True


def test_finished_trials_count_for_later_ones():
    study = _study([{1: 50.0}])
    pruner = TopM(population_size=1)
    trial = study.ask()
    trial.report(40.0, 1)
    assert pruner.prune(study, study._storage.get_trial(trial._trial_id)) is True
    study.tell(trial, 40.0)
    # now the trial at 40 is COMPLETE; a new trial at 45 has one better (50): pruned with M=1, kept with M=2
    assert _decide(pruner, study, {1: 45.0}) is True
    assert _decide(TopM(population_size=2), study, {1: 45.0}) is False


def test_wrapped_pruner_wins():
    curves = [{1: 10.0}, {1: 20.0}]
    yes, no = _Always(True), _Always(False)
    # the wrapped pruner says prune: pruned although the trial is the best and off the checkpoints
    assert _decide(TopM(population_size=1, checkpoints=[5], wrapped=yes), _study(curves), {1: 99.0}) is True
    assert yes.calls == 1
    # the wrapped pruner says keep: EGI still decides
    assert _decide(TopM(population_size=1, wrapped=no), _study(curves), {1: 15.0}) is True
    assert _decide(TopM(population_size=1, wrapped=no), _study(curves), {1: 25.0}) is False
    assert no.calls == 2


def test_wrapped_median_pruner():
    curves = [{1: 10.0, 2: 10.0}, {1: 20.0, 2: 20.0}, {1: 30.0, 2: 30.0}]
    median = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0)
    pruner = TopM(population_size=3, wrapped=median)  # EGI alone: needs 3 better, never prunes here
    assert _decide(pruner, _study(curves), {1: 15.0}) is True  # below the median (20)
    assert _decide(pruner, _study(curves), {1: 25.0}) is False


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3", None])
def test_bad_population_size(bad):
    with pytest.raises(ValueError, match="population_size"):
        TopM(population_size=bad)


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
    # pruned at: trial 2 at step 2, 3 at step 4, 5 at step 2; the others complete
    assert _run_curves(TopM(population_size=2, checkpoints=[2, 4]), curves) == [None, None, 2, 4, None, 2, None]


def test_end_to_end_with_a_fixed_distribution_enqueued():
    # add_trial + create_trial with params: a pruned trial's curve still counts for later trials
    study = optuna.create_study(direction="maximize", pruner=TopM(population_size=1, checkpoints=[1]))
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
    assert TopM(population_size=2).prune(study, frozen) is False
    assert TopM(population_size=1).prune(study, frozen) is True


# -- asha: rungs with promotion ----------------------------------------------------------------------------------


def test_rung_prunes_keeps_the_top_n_over_eta():
    others = [10.0, 20.0, 30.0, 40.0, 50.0]  # n = 6 with the trial: top 6 // 3 = 2 go on
    assert rung_prunes(45.0, others, reduction_factor=3, min_trials=1) is False  # second
    assert rung_prunes(40.0, others, reduction_factor=3, min_trials=1) is False  # tie for second: kept
    assert rung_prunes(39.0, others, reduction_factor=3, min_trials=1) is True  # third
    assert rung_prunes(39.0, others, reduction_factor=2, min_trials=1) is False  # top 3 of 6
    assert rung_prunes(29.0, others, reduction_factor=2, min_trials=1) is True
    # at least one always goes on
    assert rung_prunes(10.0, [5.0], reduction_factor=3, min_trials=1) is False
    assert rung_prunes(4.0, [5.0], reduction_factor=3, min_trials=1) is True


def test_rung_prunes_minimize_and_too_few_trials_and_nan():
    others = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert rung_prunes(1.5, others, reduction_factor=3, min_trials=1, maximize=False) is False
    assert rung_prunes(2.5, others, reduction_factor=3, min_trials=1, maximize=False) is True
    assert rung_prunes(4.5, others, reduction_factor=3, min_trials=1, maximize=True) is False
    # fewer than min_trials at the rung (this trial included): no decision
    assert rung_prunes(-100.0, others, reduction_factor=3, min_trials=7) is False
    assert rung_prunes(-100.0, others, reduction_factor=3, min_trials=6) is True
    # a NaN value is worst; NaN others are never better
    assert rung_prunes(math.nan, others, reduction_factor=3, min_trials=6) is True
    assert rung_prunes(math.nan, others, reduction_factor=3, min_trials=7) is False
    assert rung_prunes(0.0, [math.nan] * 5, reduction_factor=3, min_trials=1) is False
    # top-m ignores reduction_factor and min_trials
    assert rung_prunes(0.0, [1.0, 2.0], rule="top-m", population_size=2, min_trials=99) is True
    with pytest.raises(ValueError, match="rule"):
        rung_prunes(0.0, [], rule="median")


def test_default_rungs():
    assert [s for s in range(1, 60) if RungRule().is_rung(s)] == [3, 9, 27]
    assert [s for s in range(1, 20) if RungRule(min_resource=2, reduction_factor=2).is_rung(s)] == [2, 4, 8, 16]
    assert [s for s in range(1, 20) if RungRule(min_resource=1, reduction_factor=4).is_rung(s)] == [1, 4, 16]
    assert [s for s in range(1, 20) if RungRule(checkpoints=[4, 6]).is_rung(s)] == [4, 6]
    assert [s for s in range(1, 5) if RungRule(rule="top-m").is_rung(s)] == [1, 2, 3, 4]
    pruner = EGIPruner()
    assert (pruner.rule, pruner.reduction_factor, pruner.min_resource, pruner.min_trials) == ("asha", 3, 3, 6)
    assert pruner.checkpoints is None and "asha" in repr(pruner)


#: 12 learning curves of 6 steps (one per trial, run in this order); rungs at 2 and 4, eta 2, decisions from 4
#: trials on: the expected step at which each is pruned (None: it completes).
CURVES = [
    ([10, 20, 30, 40, 50, 60], None),
    ([12, 22, 32, 42, 52, 62], None),
    ([5, 15, 25, 35, 45, 55], None),  # third at rung 2: only 3 trials there, no decision
    ([1, 2, 3, 4, 5, 6], 2),  # 4 at rung 2, top 2 go on: 2 is last -> pruned
    ([30, 35, 36, 37, 38, 39], 4),  # best at rung 2 (promoted), 5th of 5 at rung 4: pruned
    ([0, 21, 50, 70, 71, 72], None),  # 21 at rung 2: second of 6 (22 is better) -> on; best at rung 4
    ([0, 20, 0, 0, 0, 0], 2),  # 20 at rung 2: ties 20, but 22, 35, 21 are better: 4th of 7, top 3 -> pruned
    ([0, 40, 0, 42, 0, 0], None),  # second at rung 2, at rung 4 in the top 2 of 4 (70 better)
    ([9, 9, 9, 9, 9, 9], 2),
    ([0, 36, 0, 71, 0, 99], None),
    ([0, 19, 0, 0, 0, 0], 2),
    ([0, 50, 0, 10, 0, 0], 4),
]


def _run_curves(pruner, curves, direction="maximize"):
    study = optuna.create_study(direction=direction, pruner=pruner)
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
    return [pruned_at.get(i) for i in range(len(curves))]


def _expected(curves, rungs, eta, min_trials, maximize=True):
    """The rule by hand, trial after trial: the values at each rung of the trials that reached it so far."""
    at_rung = {r: [] for r in rungs}
    out = []
    for curve in curves:
        pruned = None
        for step in range(1, len(curve) + 1):
            if step not in rungs:
                continue
            value, others = curve[step - 1], at_rung[step]
            n = len(others) + 1
            better = sum((o > value) if maximize else (o < value) for o in others)
            at_rung[step].append(value)
            if n >= min_trials and better >= max(1, n // eta):
                pruned = step
                break
        out.append(pruned)
    return out


def test_asha_on_hand_made_curves():
    curves = [c for c, _ in CURVES]
    pruner = EGIPruner(checkpoints=[2, 4], reduction_factor=2, min_trials=4)
    got = _run_curves(pruner, curves)
    assert got == _expected(curves, (2, 4), eta=2, min_trials=4)
    # spot checks of the hand-written expectations (promotion at rung 2, pruned at rung 4; too few at first)
    for i in (0, 1, 2, 3, 4, 5, 6, 8):
        assert got[i] == CURVES[i][1], (i, got[i])
    assert got[7] is None and got[9] is None and got[11] == 4


def test_asha_minimize_mirrors_maximize():
    curves = [[-v for v in c] for c, _ in CURVES]
    pruner = EGIPruner(checkpoints=[2, 4], reduction_factor=2, min_trials=4)
    maximized = _run_curves(EGIPruner(checkpoints=[2, 4], reduction_factor=2, min_trials=4), [c for c, _ in CURVES])
    assert _run_curves(pruner, curves, "minimize") == maximized
    assert _expected(curves, (2, 4), 2, 4, maximize=False) == maximized


def test_asha_too_few_trials_never_prunes():
    curves = [[100.0 - 10 * i] * 6 for i in range(5)]  # each worse than all before it
    assert _run_curves(EGIPruner(checkpoints=[2, 4], reduction_factor=2, min_trials=6), curves) == [None] * 5
    assert _run_curves(EGIPruner(checkpoints=[2, 4], reduction_factor=2, min_trials=5), curves)[-1] == 2


def test_asha_default_rungs_in_a_study():
    # 12 steps: decisions at 3 and 9 only, from the 6th trial at a rung on; 7 trials, each worse than the ones
    # before from step 3 on: the 6th and 7th are not in the top 2 at rung 3
    curves = [[0.0, 0.0] + [100.0 - 10 * i] * 10 for i in range(7)]
    curves.append([0.0, 0.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 0.0, 0.0, 0.0, 0.0])  # drops before rung 9
    got = _run_curves(EGIPruner(), curves)
    assert got == [None] * 5 + [3, 3, 9]  # the last: top at rung 3, last of the 6 at rung 9


def test_pruned_trials_count_at_the_rungs_they_reached():
    # trials pruned at rung 2 still fill rung 2 for later ones, never rung 4
    curves = [[50, 50, 50, 50], [10, 10, 10, 10], [60, 60, 60, 60], [9, 9, 9, 9], [55, 55, 55, 55]]
    got = _run_curves(EGIPruner(checkpoints=[1, 3], reduction_factor=2, min_trials=2), curves)
    assert got == [None, 1, None, 1, 3]  # 55 at rung 3: second of 3 (50, 60) -> top 1 of 3 is 60 -> pruned


# -- the NNI assessor: the same decisions -------------------------------------------------------------------------


def _assessor_stops(assessor, curves):
    from nni.assessor import AssessResult

    out = []
    for i, curve in enumerate(curves):
        history, stopped = [], None
        for step, value in enumerate(curve, start=1):
            history.append({"default": float(value)})
            if assessor.assess_trial(f"job{i}", list(history)) == AssessResult.Bad:
                stopped = step
                break
        out.append(stopped)
    return out


@pytest.mark.parametrize(
    "options",
    [
        {"checkpoints": [2, 4], "reduction_factor": 2, "min_trials": 4},
        {"checkpoints": [2, 4], "reduction_factor": 3, "min_trials": 2},
        {"min_resource": 1, "reduction_factor": 2, "min_trials": 3},
        {"rule": "top-m", "population_size": 3, "checkpoints": [2, 4]},
        {"rule": "top-m", "population_size": 2},
    ],
)
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_nni_assessor_parity(options, direction):
    from g2l_automl.nni import EGIAssessor

    sign = 1.0 if direction == "maximize" else -1.0
    curves = [[sign * v for v in c] for c, _ in CURVES]
    optuna_says = _run_curves(EGIPruner(**options), curves, direction)
    nni_says = _assessor_stops(EGIAssessor(optimize_mode=direction, **options), curves)
    assert nni_says == optuna_says
    assert any(s is not None for s in optuna_says)


def test_nni_assessor_bad_options():
    from g2l_automl.nni import EGIAssessor

    for bad, name in [
        ({"rule": "median"}, "rule"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"min_resource": 0}, "min_resource"),
        ({"min_trials": 0}, "min_trials"),
        ({"checkpoints": [0]}, "checkpoints"),
        ({"population_size": 0}, "population_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            EGIAssessor(**bad)


# -- options -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "name"),
    [
        ({"rule": "median"}, "rule"),
        ({"rule": None}, "rule"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"reduction_factor": 2.5}, "reduction_factor"),
        ({"reduction_factor": True}, "reduction_factor"),
        ({"min_resource": 0}, "min_resource"),
        ({"min_resource": "3"}, "min_resource"),
        ({"min_trials": 0}, "min_trials"),
        ({"checkpoints": [0, 3]}, "checkpoints"),
        ({"checkpoints": [2.5]}, "checkpoints"),
        ({"checkpoints": "3"}, "checkpoints"),
        ({"checkpoints": 3}, "checkpoints"),
        ({"wrapped": "median"}, "wrapped"),
    ],
)
def test_bad_options(bad, name):
    with pytest.raises(ValueError, match=name):
        EGIPruner(**bad)


def test_make_pruner_egi_options():
    egi = make_pruner(
        {"name": "egi", "rule": "asha", "reduction_factor": 2, "min_resource": 1, "min_trials": 4}, population_size=7
    )
    assert (egi.rule, egi.reduction_factor, egi.min_resource, egi.min_trials) == ("asha", 2, 1, 4)
    # None (the config's default) means the pruner's default
    egi = make_pruner({"name": "egi", "rule": None, "reduction_factor": None, "min_trials": None, "checkpoints": None})
    assert (egi.rule, egi.reduction_factor, egi.min_resource, egi.min_trials) == ("asha", 3, 3, 6)
    topm = make_pruner({"name": "egi", "rule": "top-m", "checkpoints": [4]}, population_size=5)
    assert topm.rule == "top-m" and topm.population_size == 5 and topm.checkpoints == frozenset({4})
    with pytest.raises(ValueError, match="reduction_factor"):
        make_pruner({"name": "egi", "reduction_factor": 1})
    with pytest.raises(ValueError, match="rule"):
        make_pruner({"name": "egi", "rule": "halving"})


def test_config_pruner_section(tmp_path):
    from g2l_automl.config import load_config
    from g2l_automl.errors import ConfigError

    def write(pruner: str) -> str:
        path = tmp_path / "study.yaml"
        path.write_text(f"data: {{root: {tmp_path}}}\nspace: {{dilations: {{k: 2, T: 4}}}}\npruner: {pruner}\n")
        return str(path)

    config = load_config(write("{name: egi, rule: asha, reduction_factor: 2, checkpoints: [3, 6]}"))
    egi = make_pruner(config.pruner, 10)
    assert egi.reduction_factor == 2 and egi.checkpoints == frozenset({3, 6})
    with pytest.raises(ConfigError, match="pruner.reduction_factor"):
        load_config(write("{name: egi, reduction_factor: 0}"))
    with pytest.raises(ConfigError, match="pruner.rule"):
        load_config(write("{name: egi, rule: fast}"))


# -- the objective's per-epoch value for the pruner ----------------------------------------------------------------


def test_objective_reports_val_loss_in_the_study_direction(tmp_path):
    from g2l_automl.data import ActionSegmentationDataset, generate
    from g2l_automl.objective import SegmentationObjective
    from g2l_automl.spaces import Dilations, SearchSpace
    from g2l_automl.structure import StructureSpec
    from g2l_automl.training import Trainer

    root = generate(tmp_path / "d", "tiny", seed=0, num_videos=6)
    space = SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3)])
    data = ActionSegmentationDataset(root)
    values = {}
    for report in ("F1@10", "val_loss"):
        objective = SegmentationObjective(
            data, space, trainer=Trainer(epochs=2, progress=False), val_fraction=0.34, report=report
        )
        for direction in ("maximize", "minimize"):
            study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(0))
            study.optimize(objective, n_trials=1)
            trial = study.trials[0]
            values[report, direction] = (trial.intermediate_values, trial.values[0], trial.user_attrs["metrics"])
    maximized, minimized = values["val_loss", "maximize"], values["val_loss", "minimize"]
    assert sorted(maximized[0]) == [1, 2] and all(v < 0 for v in maximized[0].values())  # negated loss
    assert minimized[0] == {k: -v for k, v in maximized[0].items()}
    # the training and the value are the same whatever is reported
    assert maximized[1] == values["F1@10", "maximize"][1] and "val_loss" not in maximized[2]
    with pytest.raises(G2LError, match="report"):
        SegmentationObjective(data, space, report="loss")
