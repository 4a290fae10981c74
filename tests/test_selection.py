"""G2L parent selection modes (roulette, windowed roulette, linear ranking, tournament), distinct parents, options,
config plumbing, and the epistatic proxy landscape."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from g2l_automl.errors import G2LError
from g2l_automl.objective import EpistaticProxyObjective
from g2l_automl.samplers import (
    SELECTION_MODES,
    G2LGeneticSampler,
    Genome,
    make_sampler,
    rank_probabilities,
    roulette_probabilities,
    selection_probabilities,
    tournament_probabilities,
)
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

_DIST = CategoricalDistribution(tuple(range(10)))


def _study(values, direction="maximize", genomes=None):
    directions = [direction] if isinstance(direction, str) else list(direction)
    study = optuna.create_study(directions=directions)
    for k, value in enumerate(values):
        genome = genomes[k] if genomes is not None else [k % 10] * 3
        params = {f"g{i}": v for i, v in enumerate(genome)}
        values_ = list(value) if isinstance(value, (list, tuple)) else [value]
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions={n: _DIST for n in params}, values=values_)
        )
    return study


def _p(values, mode, direction="maximize", **kw):
    study = _study(values, direction)
    return selection_probabilities(study, study.trials, mode, **kw)


# -- pure functions ----------------------------------------------------------------------------------------------
def test_rank_probabilities_are_bakers_linear_ranking():
    assert np.allclose(rank_probabilities(4, 2.0), [0.5, 1 / 3, 1 / 6, 0.0])
    assert np.allclose(rank_probabilities(5, 1.5), [0.3, 0.25, 0.2, 0.15, 0.1])
    assert np.allclose(rank_probabilities(3, 1.0), [1 / 3] * 3)
    assert np.allclose(rank_probabilities(1, 1.7), [1.0])
    p = rank_probabilities(10, 1.8)
    assert np.isclose(p.sum(), 1.0) and np.isclose(p[0] * 10, 1.8) and np.isclose(p[-1] * 10, 0.2)
    with pytest.raises(ValueError, match="selection_pressure"):
        rank_probabilities(3, 2.5)


def test_tournament_probabilities_match_enumeration():
    for n, k in [(3, 2), (4, 3), (5, 1), (2, 4)]:
        wins = Counter(min(draw) for draw in itertools.product(range(n), repeat=k))  # position 0 is the best
        exact = np.array([wins[i] for i in range(n)], dtype=float) / n**k
        assert np.allclose(tournament_probabilities(n, k), exact)
    assert np.allclose(tournament_probabilities(3, 2), [5 / 9, 3 / 9, 1 / 9])
    with pytest.raises(ValueError, match="tournament_size"):
        tournament_probabilities(3, 0)


def test_windowed_roulette_is_shift_and_scale_free():
    p = roulette_probabilities([60.0, 70.0, 80.0], window=True)
    assert np.allclose(p, np.array([0.2, 10.2, 20.2]) / 30.6)
    assert np.allclose(roulette_probabilities([0.0, 10.0, 20.0], window=True), p)
    assert np.allclose(roulette_probabilities([-6.0, -5.0, -4.0], window=True), p)
    assert np.allclose(roulette_probabilities([8.0, 7.0, 6.0], maximize=False, window=True), p)
    assert np.allclose(roulette_probabilities([3.0, 3.0], window=True), [0.5, 0.5])
    # Eq. 3 as printed on the same fitness is nearly uniform: 60/210, 70/210, 80/210
    assert np.allclose(roulette_probabilities([60.0, 70.0, 80.0]), [60 / 210, 70 / 210, 80 / 210])


# -- selection_probabilities on hand-made fitness ----------------------------------------------------------------
def test_positive_fitness_every_mode():
    values = [10.0, 40.0, 20.0, 30.0]  # order best first: trial 1, 3, 2, 0
    assert np.allclose(_p(values, "roulette"), [0.1, 0.4, 0.2, 0.3])
    assert np.allclose(_p(values, "roulette-window"), np.array([0.3, 30.3, 10.3, 20.3]) / 61.2)
    assert np.allclose(_p(values, "rank", selection_pressure=2.0), [0.0, 0.5, 1 / 6, 1 / 3])
    assert np.allclose(_p(values, "tournament", tournament_size=2), [1 / 16, 7 / 16, 3 / 16, 5 / 16])


@pytest.mark.parametrize("mode", ["roulette-window", "rank", "tournament"])
def test_scale_free_modes_ignore_sign_and_direction(mode):
    base = _p([10.0, 40.0, 20.0, 30.0], mode)
    assert np.allclose(_p([-90.0, -60.0, -80.0, -70.0], mode), base)  # negative
    assert np.allclose(_p([4.0, 1.0, 3.0, 2.0], mode, "minimize"), base)  # minimised
    assert np.allclose(_p([-4.0, -1.0, -3.0, -2.0], mode, "maximize"), base)
    assert np.allclose(_p([1000.0, 1030.0, 1010.0, 1020.0], mode), base)  # shifted far from zero


def test_roulette_as_printed_depends_on_sign():
    # Eq. 3 on positive fitness: proportional; negative or minimised: the documented shift (w = s - min + spread/n)
    assert np.allclose(_p([10.0, 40.0, 20.0, 30.0], "roulette"), [0.1, 0.4, 0.2, 0.3])
    shifted = np.array([0.0, 30.0, 10.0, 20.0]) + 30.0 / 4
    assert np.allclose(_p([-40.0, -10.0, -30.0, -20.0], "roulette"), shifted / shifted.sum())
    assert np.allclose(_p([4.0, 1.0, 3.0, 2.0], "roulette", "minimize"), (np.array([0, 3, 1, 2]) + 0.75) / 9.0)


@pytest.mark.parametrize("mode", SELECTION_MODES)
def test_all_equal_fitness_is_uniform(mode):
    assert np.allclose(_p([5.0, 5.0, 5.0, 5.0], mode), [0.25] * 4)
    assert np.allclose(_p([-2.0, -2.0, -2.0], mode, "minimize"), [1 / 3] * 3)


def test_ties_share_their_positions():
    # best 9 once, then three tied at 5: rank positions 1..3 averaged
    r = rank_probabilities(4, 2.0)
    assert np.allclose(
        _p([5.0, 9.0, 5.0, 5.0], "rank", selection_pressure=2.0), [r[1:].mean(), r[0]] + [r[1:].mean()] * 2
    )
    t = tournament_probabilities(4, 3)
    assert np.allclose(_p([5.0, 5.0, 1.0, 9.0], "tournament", tournament_size=3), [t[1:3].mean()] * 2 + [t[3], t[0]])


def test_one_positive_fitness():
    values = [0.0, 0.0, 7.0, 0.0]
    assert np.allclose(_p(values, "roulette"), [0.0, 0.0, 1.0, 0.0])
    w = np.array([0.07, 0.07, 7.07, 0.07])
    assert np.allclose(_p(values, "roulette-window"), w / w.sum())
    r = rank_probabilities(4, 1.5)
    assert np.allclose(_p(values, "rank"), [r[1:].mean()] * 2 + [r[0], r[1:].mean()])
    t = tournament_probabilities(4, 2)
    assert np.allclose(_p(values, "tournament"), [t[1:].mean()] * 2 + [t[0], t[1:].mean()])


def test_multi_objective_uses_fronts_then_crowding():
    # maximise both: (4,4) front 0 alone; (3,1), (1,3), (2,2) front 1 (crowding: the ends inf, (2,2) finite);
    # (0,0) front 2
    values = [(3.0, 1.0), (4.0, 4.0), (0.0, 0.0), (1.0, 3.0), (2.0, 2.0)]
    study = _study(values, ["maximize", "maximize"])
    trials = study.trials
    t = tournament_probabilities(5, 2)
    p = selection_probabilities(study, trials, "tournament")
    assert np.allclose(p, [t[1:3].mean(), t[0], t[4], t[1:3].mean(), t[3]])
    r = rank_probabilities(5, 2.0)
    p = selection_probabilities(study, trials, "rank", selection_pressure=2.0)
    assert np.allclose(p, [r[1:3].mean(), r[0], r[4], r[1:3].mean(), r[3]])
    # roulette weighs fronts: fitness 3 - front = (2, 3, 1, 2, 2)
    assert np.allclose(selection_probabilities(study, trials, "roulette"), np.array([2, 3, 1, 2, 2]) / 10)
    w = np.array([1, 2, 0, 1, 1]) + 0.02
    assert np.allclose(selection_probabilities(study, trials, "roulette-window"), w / w.sum())


def test_unknown_mode_is_rejected():
    study = _study([1.0])
    with pytest.raises(ValueError, match="selection: must be one of"):
        selection_probabilities(study, study.trials, "boltzmann")


# -- the sampler -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", SELECTION_MODES)
def test_two_parents_are_distinct_trials(mode):
    # one positive fitness: Eq. 3 gives the others zero, yet the second parent is another trial
    genomes = [[k] * 6 for k in range(4)]
    study = _study([0.0, 0.0, 5.0, 0.0], genomes=genomes)
    sampler = G2LGeneticSampler(population_size=4, mutation_prob=0.0, seed=0, selection=mode)
    genome = Genome({f"g{k}": _DIST for k in range(6)})
    parents = study.trials
    n = 3000
    pairs = Counter(frozenset(sampler._child(study, genome, parents)) for _ in range(n))
    assert all(len(pair) == 2 for pair in pairs)  # both parents contribute, and they differ
    p = sampler.parent_probabilities(study, parents)
    expected = {}
    for i, j in itertools.combinations(range(4), 2):
        q_i = p[j] / (1 - p[i]) if p[i] < 1 else 1 / 3
        q_j = p[i] / (1 - p[j]) if p[j] < 1 else 1 / 3
        expected[frozenset((i, j))] = (p[i] * q_i + p[j] * q_j) * n
    observed = np.array([pairs[k] for k in expected], dtype=float)
    exp = np.array(list(expected.values()))
    keep = exp > 0
    assert observed[~keep].sum() == 0
    assert float(((observed[keep] - exp[keep]) ** 2 / exp[keep]).sum()) < 20.52  # chi2, 5 dof, p = 0.001


def test_pick_pair_with_one_member():
    sampler = G2LGeneticSampler(population_size=2, seed=0)
    assert sampler._pick_pair(np.array([1.0])) == (0, 0)


def _space(stages: int = 1, layers: int = 6, T: int = 6) -> SearchSpace:  # noqa: N803
    return SearchSpace(StructureSpec.mstcn(num_stages=stages, num_layers=layers), [Dilations(k=2, T=T)])


def _run(seed: int, **options) -> list[float]:
    space = _space()
    objective = EpistaticProxyObjective(space, seed=3)
    sampler = G2LGeneticSampler(space, population_size=5, seed=seed, **options)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=30)
    return [t.value for t in study.trials]


@pytest.mark.parametrize("mode", SELECTION_MODES)
def test_seeded_runs_are_reproducible(mode):
    a, b, c = _run(3, selection=mode), _run(3, selection=mode), _run(4, selection=mode)
    assert a == b and a != c
    assert max(a) > max(a[:5])  # the search improves on generation 0


def test_default_selection_and_options():
    sampler = G2LGeneticSampler()
    assert (sampler.selection, sampler.tournament_size, sampler.selection_pressure) == ("tournament", 8, 1.5)
    assert (sampler.mutation_prob, sampler.population_size) == (0.2, 50)
    # the options reach the sampler from a study config's ``samplers.g2l`` (and NNI's classArgs) by name
    built = make_sampler("g2l", None, {"selection": "rank", "selection_pressure": 1.8}, seed=0)
    assert (built.selection, built.selection_pressure) == ("rank", 1.8)
    with pytest.raises(G2LError, match="samplers.g2l: tournament_size"):
        make_sampler("g2l", None, {"tournament_size": 0})


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"selection": "boltzmann"}, "selection: must be one of"),
        ({"selection_pressure": 2.5}, "selection_pressure"),
        ({"selection_pressure": 0.5}, "selection_pressure"),
        ({"tournament_size": 0}, "tournament_size"),
        ({"tournament_size": 2.5}, "tournament_size"),
        ({"mutation_prob": "0.2"}, "mutation_prob"),
    ],
)
def test_rejects_bad_selection_options(options, match):
    with pytest.raises(ValueError, match=match):
        G2LGeneticSampler(**options)


# -- the second proxy landscape ---------------------------------------------------------------------------------
def test_epistatic_proxy_optimum_is_exact():
    space = _space(stages=2, layers=3, T=3)
    objective = EpistaticProxyObjective(space, seed=1)
    choices = (1, 2, 4, 8)
    scores = {
        (a, b): objective.score(space.base.with_dilations([list(a), list(b)]))
        for a in itertools.product(choices, repeat=3)
        for b in itertools.product(choices, repeat=3)
    }
    best = max(scores, key=scores.get)
    assert scores[best] == 100.0 and objective.score(objective.target) == 100.0
    assert [list(s) for s in best] == objective.target.dilations()
    assert min(scores.values()) > 0.0
    # adjacent layers interact: the best dilation of layer 0 depends on layer 1's
    best_first = {
        b: max(choices, key=lambda a: objective.score(space.base.with_dilations([[a, b, 1], [1, 1, 1]])))
        for b in choices
    }
    assert len(set(best_first.values())) > 1
    assert EpistaticProxyObjective(space, seed=1).score(space.base) == objective.score(space.base)
    assert EpistaticProxyObjective(space, seed=2).score(space.base) != objective.score(space.base)


def test_compare_samplers_runs_g2l_variants_on_the_second_landscape():
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "compare_samplers.py"
    args = ["--objective", "proxy2", "--trials", "12", "--seeds", "0", "--population", "4", "--samplers", "random"]
    args += [
        "--g2l-options",
        '{"mutation_prob": 0.5}',
        "--variants",
        'k2={"selection": "tournament", "tournament_size": 2}',
    ]
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(("random", "g2l"))}
    assert set(rows) == {"random", "g2l:k2"}
    # the same run in memory: the variant's options on top of --g2l-options and the benchmark's population
    space = SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=10), [Dilations(k=2, T=10)])
    sampler = G2LGeneticSampler(space, population_size=4, seed=0, mutation_prob=0.5, tournament_size=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(EpistaticProxyObjective(space, seed=0), n_trials=12)
    assert float(rows["g2l:k2"][5]) == round(study.best_value, 2)  # the "best @12" median cell


# -- pruned candidates in the population --------------------------------------------------------------------------
def _with_pruned(direction: str = "maximize") -> optuna.Study:
    """COMPLETE 50 and 70; PRUNED at step 3 (reported 40) and at step 9 (reported 20), both in the study's
    direction; one FAIL."""
    study = optuna.create_study(direction=direction)
    sign = 1.0 if direction == "maximize" else -1.0
    rows = [
        (optuna.trial.TrialState.COMPLETE, sign * 50.0, {}),
        (optuna.trial.TrialState.PRUNED, None, {3: sign * 40.0}),
        (optuna.trial.TrialState.COMPLETE, sign * 70.0, {}),
        (optuna.trial.TrialState.PRUNED, None, {3: sign * 60.0, 9: sign * 20.0}),
    ]
    for k, (state, value, steps) in enumerate(rows):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params={"g0": k},
                distributions={"g0": _DIST},
                intermediate_values=steps,
            )
        )
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_pruned_trials_rank_after_complete_ones_deeper_first(direction):
    from g2l_automl.samplers import sort_best_first

    study = _with_pruned(direction)
    assert [t.number for t in sort_best_first(study, study.trials)] == [2, 0, 3, 1]
    p = selection_probabilities(study, study.trials, "tournament", tournament_size=2)
    # positions 0..3 of 4 in a tournament of 2: 7/16, 5/16, 3/16, 1/16
    np.testing.assert_allclose(p, [5 / 16, 1 / 16, 7 / 16, 3 / 16])
    # the roulettes see a pruned trial at the worst COMPLETE value (its fidelity-discounted fitness)
    sign = 1.0 if direction == "maximize" else -1.0
    window = selection_probabilities(study, study.trials, "roulette-window")
    np.testing.assert_allclose(window, roulette_probabilities(sign * np.array([50, 50, 70, 50.0]), sign > 0, True))


def _prune_every_other(trial: optuna.Trial) -> float:
    x = trial.suggest_categorical("g0", list(range(10)))
    y = trial.suggest_categorical("g1", list(range(10)))
    trial.report(float(x), 1)
    if trial.number % 2:
        raise optuna.TrialPruned()
    return float(x + y)


@pytest.mark.parametrize("pruned", [True, False])
def test_pruned_trials_fill_generations_only_when_they_count(pruned):
    sampler = G2LGeneticSampler(population_size=4, seed=0, pruned_in_population=pruned)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_prune_every_other, n_trials=12)
    key = sampler._get_generation_key()
    generations = [t.system_attrs[key] for t in study.trials]
    if pruned:  # 4 tried candidates make a generation, pruned or not
        assert generations == [0] * 4 + [1] * 4 + [2] * 4
        parents = sampler.get_parent_population(study, 1)
        assert sorted(t.number for t in parents) == [0, 1, 2, 3]
        assert {t.state for t in parents[2:]} == {optuna.trial.TrialState.PRUNED}  # the two pruned ones last
    else:  # only COMPLETE trials count: generation 0 fills with the 4 complete among trials 0-6
        assert generations == [0] * 7 + [1] * 5
        assert {t.state for t in sampler.get_parent_population(study, 1)} == {optuna.trial.TrialState.COMPLETE}
