"""EvolutionSampler: EvaNet's steady-state tournament evolution (random start, annealed mutations, removal rules)."""

from __future__ import annotations

import math
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from g2l_automl.samplers import EvolutionSampler, mutation_count
from g2l_automl.spaces import Depths, Dilations, Ops, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _dilation_space(num_stages: int = 1, num_layers: int = 6, T: int = 6) -> SearchSpace:  # noqa: N803
    return SearchSpace(StructureSpec.mstcn(num_stages=num_stages, num_layers=num_layers), [Dilations(k=2, T=T)])


def _rf_objective(space: SearchSpace, target: int = 50):
    """Cheap, deterministic, and with many distinct values: distance of the receptive field to ``target``."""

    def objective(trial: optuna.Trial) -> float:
        structure = space.suggest(trial)
        dil = [layer.dilation for _, _, layer in structure.layers()]
        return -abs(structure.receptive_field(0) - target) - 0.001 * sum(d * (k + 1) for k, d in enumerate(dil))

    return objective


def _hamming(a: dict, b: dict) -> int:
    """Differences over the union of the two trials' params (a gene one of them did not use counts)."""
    return sum(a.get(n) != b.get(n) for n in set(a) | set(b))


# -- mutation_count ----------------------------------------------------------------------------------------------


def test_mutation_count_matches_the_formula():
    for d, r in ((7, 100), (3, 5), (1, 1), (4, 7)):
        for i in range(0, 1000, 3):
            assert mutation_count(i, d, r) == max(math.ceil(d - i / r), 1), (i, d, r)
    assert [mutation_count(i, 7, 100) for i in (0, 1, 99, 100, 101, 599, 600, 601, 10**6)] == [
        7,
        7,
        7,
        6,
        6,
        2,
        1,
        1,
        1,
    ]


# -- the initial random population ------------------------------------------------------------------------------


def test_first_population_is_random_and_enqueued_trials_are_kept():
    space = _dilation_space()
    sampler = EvolutionSampler(space, population_size=12, sample_size=4, max_mutations=2, seed=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    enqueued = space.to_params(space.base)  # MS-TCN's hand-designed 2**i
    study.enqueue_trial(enqueued)
    study.optimize(_rf_objective(space), n_trials=12)
    trials = study.get_trials(deepcopy=False)
    assert trials[0].params == enqueued
    keys = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(keys)) == len(keys), "the initial population repeats a genome"
    # Random genomes: every gene takes several values across the population (a mutated copy would not).
    for name in space.names:
        assert len({t.params[name] for t in trials[1:]}) >= 3, name


# -- children are near a population member ---------------------------------------------------------------------


class _Recorder(EvolutionSampler):
    """Records, at each sampling, the COMPLETE trials that existed (the possible parents), every mutation, and
    the draws of the duplicate rule: ``("propose", 0)`` for a tournament child, ``("vary", k)`` for a seen child
    varied by ``k`` more mutations, ``("random", 0)`` for a random genome."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before: dict[int, list[optuna.trial.FrozenTrial]] = {}
        self.calls: list[tuple[list, list]] = []
        self.draws: dict[int, list[tuple[str, int]]] = {}

    def sample_relative(self, study, trial, search_space):
        self.before[trial.number] = study.get_trials(deepcopy=True, states=(TrialState.COMPLETE,))
        self._number = trial.number
        return super().sample_relative(study, trial, search_space)

    def _unseen_child(self, genome, key, propose, vary):
        log = self.draws.setdefault(self._number, [])

        def logged_propose():
            log.append(("propose", 0))
            return propose()

        def logged_vary(child, k):
            log.append(("vary", k))
            return vary(child, k)

        return super()._unseen_child(genome, key, logged_propose, logged_vary)

    def mutations_drawn(self, P, d, r):
        """Mutations the draws imply: ``mutation_count`` per tournament child, ``k`` per variation."""
        return sum(
            mutation_count(n - P, d, r) if what == "propose" and n >= P else (k if what == "vary" else 0)
            for n, log in self.draws.items()
            for what, k in log
        )

    def _mutate(self, genome, child):
        out = super()._mutate(genome, child)
        self.calls.append((list(child), list(out)))
        return out


def test_children_are_within_mutation_count_of_a_complete_trial():
    space = _dilation_space(num_layers=6, T=6)
    P, d, r = 10, 4, 10
    sampler = _Recorder(space, population_size=P, sample_size=3, max_mutations=d, anneal_rounds=r, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_rf_objective(space), n_trials=60)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 60 and all(t.state == TrialState.COMPLETE for t in trials)
    distances = []
    for trial in trials[P:]:
        allowed = mutation_count(trial.number - P, d, r)
        parents = sampler.before[trial.number]
        assert len(parents) == trial.number
        nearest = min(_hamming(trial.params, p.params) for p in parents)
        assert nearest <= allowed, (trial.number, nearest, allowed)
        distances.append((allowed, nearest))
    # The annealing shows: early children move further than the single-mutation ones at the end.
    assert max(n for a, n in distances if a >= 3) >= 2
    # A single-mutation child is exactly one gene from the nearest trial: it repeats none (the duplicate rule).
    assert {n for a, n in distances if a == 1} == {1}
    # Exactly mutation_count(round) mutations were applied per tournament child after the initial population;
    # 3 of the 50 children repeated a trial and were redrawn by a new tournament (no heavier variation needed).
    assert [len(sampler.draws[n]) for n in range(60)].count(2) == 3
    assert {what for log in sampler.draws.values() for what, _ in log} == {"propose"}
    assert len(sampler.calls) == sampler.mutations_drawn(P, d, r) == sum(mutation_count(i, d, r) for i in range(50)) + 3
    # A value mutation of a categorical gene always changes exactly one gene.
    assert all(sum(x != y for x, y in zip(a, b, strict=True)) == 1 for a, b in sampler.calls)


def test_children_within_mutation_count_with_pruned_and_failed_trials():
    space = _dilation_space(num_layers=4, T=4)
    P = 6
    sampler = _Recorder(space, population_size=P, sample_size=2, max_mutations=2, anneal_rounds=5, seed=1)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    base = _rf_objective(space, target=20)

    def objective(trial):
        value = -base(trial)
        if trial.number % 5 == 3:
            raise optuna.TrialPruned()
        if trial.number % 7 == 4:
            raise RuntimeError("boom")
        return value

    study.optimize(objective, n_trials=40, catch=(RuntimeError,))
    states = {t.state for t in study.trials}
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= states
    for trial in study.trials[P:]:
        parents = sampler.before[trial.number]
        assert all(p.state == TrialState.COMPLETE for p in parents)
        nearest = min(_hamming(trial.params, p.params) for p in parents)
        assert nearest <= mutation_count(trial.number - P, 2, 5)


# -- population and removal ---------------------------------------------------------------------------------------


def _run_with_gaps(removal: str, direction: str):
    space = _dilation_space(num_layers=4, T=5)
    sampler = EvolutionSampler(space, population_size=8, sample_size=3, max_mutations=2, removal=removal, seed=5)
    study = optuna.create_study(direction=direction, sampler=sampler)
    base = _rf_objective(space, target=30)

    def objective(trial):
        value = base(trial) + 1e-6 * trial.number  # no ties
        if trial.number % 6 == 5:
            raise optuna.TrialPruned()
        return value if direction == "maximize" else -value

    study.optimize(objective, n_trials=40)
    return sampler, study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_population_worst_removal_keeps_the_fittest(direction):
    sampler, study = _run_with_gaps("worst", direction)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) > 8 and len(complete) < len(study.trials)
    expected = sorted(complete, key=lambda t: t.value, reverse=direction == "maximize")[:8]
    population = sampler.population(study)
    assert [t.number for t in population] == [t.number for t in expected]
    assert population[0].number == study.best_trial.number


def test_population_oldest_removal_keeps_the_newest():
    sampler, study = _run_with_gaps("oldest", "maximize")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    population = sampler.population(study)
    assert [t.number for t in population] == [t.number for t in complete[::-1][:8]]
    # Not the same as the fittest: regularised evolution drops good old trials.
    fittest = {t.number for t in sorted(complete, key=lambda t: t.value, reverse=True)[:8]}
    assert {t.number for t in population} != fittest


def test_population_before_any_complete_trial_is_empty():
    sampler = EvolutionSampler(_dilation_space(), population_size=4, sample_size=2, seed=0)
    study = optuna.create_study(sampler=sampler)
    assert sampler.population(study) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"population_size": 4, "sample_size": 5},
        {"removal": "x"},
        {"population_size": 0},
        {"population_size": 4, "sample_size": 0},
        {"max_mutations": 0},
        {"anneal_rounds": 0},
        {"population_size": 2.5},
        {"population_size": True},
        {"max_retries": -1},
        {"max_retries": 1.5},
    ],
)
def test_invalid_arguments(kwargs):
    args = {"population_size": 10, "sample_size": 3}
    args.update(kwargs)
    with pytest.raises(ValueError):
        EvolutionSampler(_dilation_space(), **args)


def test_space_must_be_a_search_space():
    with pytest.raises(TypeError):
        EvolutionSampler({"a": 1}, population_size=4, sample_size=2)  # type: ignore[arg-type]


# -- structural mutations (op and depth) ------------------------------------------------------------------------


def test_structural_mutations_step_depth_and_change_ops():
    space = SearchSpace(
        StructureSpec.mstcn(num_stages=1, num_layers=3),
        [Dilations(k=2, T=4), Ops(("conv", "dual_conv")), Depths((2, 3, 4))],
    )
    depths = (2, 3, 4)
    P = 10
    sampler = _Recorder(space, population_size=P, sample_size=3, max_mutations=1, anneal_rounds=10, seed=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial):
        structure = space.suggest(trial)
        dual = sum(layer.op == "dual_conv" for _, _, layer in structure.layers())
        return -abs(structure.receptive_field(0) - 40) + 0.5 * dual

    study.optimize(objective, n_trials=60)
    trials = study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    names = space.names

    # Internal trace: one mutation per child, each a single gene change; a depth change is one candidate step.
    # (one per tournament: 20 of the 50 children repeated a trial and were redrawn, 29 redraws in all, by new
    # tournaments only)
    assert {what for log in sampler.draws.values() for what, _ in log} == {"propose"}
    assert len(sampler.calls) == sampler.mutations_drawn(P, 1, 10) == sum(map(len, sampler.draws.values())) - P
    assert len(sampler.calls) == 60 - P + 29
    kinds = {"value": 0, "op": 0, "depth": 0}
    for before, after in sampler.calls:
        changed = [names[k] for k, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
        assert len(changed) <= 1
        if not changed:
            continue
        gene = space.gene(changed[0])
        if gene.field == "num_layers":
            kinds["depth"] += 1
            k = names.index(changed[0])
            assert abs(depths.index(before[k]) - depths.index(after[k])) == 1
        elif gene.field == "op":
            kinds["op"] += 1
        else:
            kinds["value"] += 1
    assert all(n > 0 for n in kinds.values()), kinds

    # External view: each child is one mutation away from some COMPLETE trial that existed before it.
    seen_ops = set()
    for trial in trials[P:]:
        structure = space.to_structure(trial.params)
        structure.validate()
        assert len(structure.stages[0].layers) == trial.params["stage0.num_layers"]
        ok = False
        for parent in sampler.before[trial.number]:
            a, b = parent.params, trial.params
            step = abs(depths.index(a["stage0.num_layers"]) - depths.index(b["stage0.num_layers"]))
            shared = [n for n in set(a) & set(b) if n != "stage0.num_layers"]
            diff = sum(a[n] != b[n] for n in shared)
            if (step == 0 and diff <= 1) or (step == 1 and diff == 0):
                ok = True
                break
        assert ok, f"trial {trial.number} {trial.params} is not one mutation from any earlier trial"
        seen_ops |= {v for n, v in trial.params.items() if n.endswith(".op")}
    assert seen_ops == {"conv", "dual_conv"}
    assert len({t.params["stage0.num_layers"] for t in trials[P:]}) >= 2
    # dilation2 is only asked for where the op is dual_conv, and a dual_conv layer always has one.
    for trial in trials:
        for i in range(trial.params["stage0.num_layers"]):
            has_d2 = f"stage0.layer{i}.dilation2" in trial.params
            assert has_d2 == (trial.params[f"stage0.layer{i}.op"] == "dual_conv")


# -- reproducibility, workers, multi-objective ------------------------------------------------------------------


def _params_sequence(seed: int) -> list[dict]:
    space = _dilation_space(num_layers=5, T=5)
    sampler = EvolutionSampler(space, population_size=6, sample_size=3, max_mutations=2, anneal_rounds=5, seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_rf_objective(space), n_trials=30)
    return [t.params for t in study.trials]


def test_same_seed_same_sequence():
    first = _params_sequence(4)
    assert first == _params_sequence(4)
    assert first != _params_sequence(5)


def test_two_workers():
    space = _dilation_space(num_layers=4, T=5)
    sampler = EvolutionSampler(space, population_size=6, sample_size=3, max_mutations=2, anneal_rounds=5, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    objective = _rf_objective(space)

    def slow(trial):
        time.sleep(0.002)
        return objective(trial)

    study.optimize(slow, n_trials=30, n_jobs=2)
    assert len(study.trials) == 30
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for trial in study.trials:
        assert set(trial.params) == set(space.names)
        space.to_structure(trial.params)


def test_multi_objective():
    space = _dilation_space(num_layers=4, T=5)
    sampler = EvolutionSampler(space, population_size=6, sample_size=3, max_mutations=2, anneal_rounds=5, seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial):
        structure = space.suggest(trial)
        return structure.receptive_field(0), float(sum(structure.dilations()[0]) + trial.number * 1e-3)

    study.optimize(objective, n_trials=30)
    assert len(study.trials) == 30 and all(t.state == TrialState.COMPLETE for t in study.trials)
    population = sampler.population(study)
    assert len(population) == 6
    front = {t.number for t in study.best_trials}
    # Population ranked by Pareto front first: the non-dominated trials (up to P) come first.
    assert {t.number for t in population[: min(len(front), 6)]} <= front


# -- search quality ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beats_random_search(seed):
    space = _dilation_space(num_stages=2, num_layers=10, T=10)
    target = np.random.RandomState(100 + seed).randint(0, 11, size=len(space.names))
    names = space.names

    def objective(trial):
        space.suggest(trial)
        return -float(sum(abs(math.log2(trial.params[n]) - t) for n, t in zip(names, target, strict=True)))

    def best(sampler):
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=200)
        return study.best_value

    evo = best(EvolutionSampler(space, population_size=20, sample_size=5, max_mutations=3, anneal_rounds=50, seed=seed))
    rnd = best(optuna.samplers.RandomSampler(seed=seed))
    assert evo > rnd, (evo, rnd)


def test_trials_without_parameters_are_not_parents():
    """Refined structures added by `g2l-optimize refine` (no params) never enter the population."""
    space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=3), [Dilations(k=2, T=3)])
    sampler = EvolutionSampler(space, population_size=3, sample_size=2, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(space.suggest(t).receptive_field(0)), n_trials=4)
    study.add_trial(optuna.trial.create_trial(value=1e9, params={}, distributions={}))
    assert all(t.params for t in sampler.population(study))
    study.optimize(lambda t: float(space.suggest(t).receptive_field(0)), n_trials=3)
    assert len(study.trials) == 8
