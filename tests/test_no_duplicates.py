"""The duplicate rule of both genetic samplers: a child never repeats a genome the study has evaluated (COMPLETE,
PRUNED) or is evaluating (RUNNING, WAITING) until the space is (nearly) exhausted, and then it is accepted."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from g2l_automl.samplers import EvolutionSampler, G2LGeneticSampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

SAMPLERS = {
    "g2l": lambda space, population, seed: G2LGeneticSampler(space, population_size=population, seed=seed),
    "evolution": lambda space, population, seed: EvolutionSampler(
        space, population_size=population, sample_size=min(3, population), max_mutations=2, anneal_rounds=10, seed=seed
    ),
}


def _space(layers: int, T: int) -> SearchSpace:  # noqa: N803
    return SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=layers), [Dilations(k=2, T=T)])


def _objective(space: SearchSpace):
    """Cheap and deterministic: L1 distance of the log2 dilations to a fixed target, so the population converges
    on it (and, before the rule, kept redrawing it)."""
    target = np.random.RandomState(123).randint(0, 4, len(space.names))

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        return -float(np.abs(np.log2(spec.dilations()[0]) - target).sum())

    return objective


def _keys(study: optuna.Study, space: SearchSpace) -> list[tuple]:
    return [tuple(t.params[n] for n in space.names) for t in study.trials]


def _repeats(keys: list[tuple]) -> int:
    """Trials whose genome an earlier trial already had."""
    return len(keys) - len(set(keys))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("n_trials", [60, 80])
def test_no_repeated_genome_on_a_small_space(name, n_trials):
    space = _space(layers=6, T=3)  # 6 genes x 4 candidates: 4096 genomes
    assert len(space.names) == 6 and all(len(d.choices) == 4 for d in space.distributions().values())
    for seed in range(3):
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 8, seed))
        study.optimize(_objective(space), n_trials=n_trials)
        keys = _keys(study, space)
        assert len(keys) == n_trials and _repeats(keys) == 0, (seed, Counter(keys).most_common(3))
        # the search still converges: within 2 of the optimum (0) on every seed
        assert study.best_value >= -2.0, (seed, study.best_value)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_enqueued_genome_is_not_drawn_again(name):
    space = _space(layers=4, T=3)  # 256 genomes; MS-TCN's 2**i = (1, 2, 4, 8) is one of them
    baseline = space.to_params(space.base)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 6, 0))
    study.enqueue_trial(baseline)

    def objective(trial):
        spec = space.suggest(trial)
        return -abs(spec.receptive_field(0) - space.base.receptive_field(0))  # the baseline is optimal

    study.optimize(objective, n_trials=60)
    keys = _keys(study, space)
    assert keys[0] == tuple(baseline[n] for n in space.names)
    assert _repeats(keys) == 0


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_exhausted_space_accepts_duplicates(name):
    space = _space(layers=2, T=1)  # 2 genes x 2 candidates: 4 genomes
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 2, 0))
    start = time.perf_counter()
    study.optimize(_objective(space), n_trials=10)
    assert time.perf_counter() - start < 10  # returns: no endless search for a new genome
    keys = _keys(study, space)
    assert len(keys) == 10 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len(set(keys[:4])) == 4  # the whole space first
    assert _repeats(keys) == 6  # then only repeats remain


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_running_and_drawn_genomes_count_as_seen(name):
    """Asked trials (RUNNING, as parallel workers leave them) are not repeated, nor are genomes this process has
    drawn for a trial whose objective has not suggested them yet; once all 4 are taken, repeats are accepted."""
    space = _space(layers=2, T=1)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 4, 0))
    trials = [study.ask() for _ in range(4)]
    drawn = [tuple(t.relative_params[n] for n in space.names) for t in trials]  # sampled, nothing in storage yet
    assert all(not t.params for t in study.trials)
    assert len(set(drawn)) == 4
    assert [tuple(space.suggest(t) and t.params[n] for n in space.names) for t in trials] == drawn
    fifth = study.ask()
    space.suggest(fifth)
    assert tuple(fifth.params[n] for n in space.names) in drawn


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_waiting_and_fixed_params_count(name):
    """A WAITING (enqueued) genome is seen; genes a trial has enqueued itself take part in its key."""
    space = _space(layers=2, T=1)
    a, b = space.names
    for seed in range(5):
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 4, seed))
        study.enqueue_trial({a: 1})  # partly fixed: the sampler draws b
        study.enqueue_trial({a: 1, b: 2})  # WAITING while the first one samples
        first = study.ask()
        space.suggest(first)
        assert first.params == {a: 1, b: 1}, seed


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_pruned_counts_failed_does_not(name):
    """PRUNED genomes were trained (partly) and judged: not redrawn. FAIL ones may be drawn again."""
    space = _space(layers=2, T=1)
    a, b = space.names
    dists = space.distributions()
    for seed in range(3):
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 4, seed))
        for state, genome, value in (
            (TrialState.COMPLETE, (1, 1), 1.0),
            (TrialState.PRUNED, (1, 2), None),
            (TrialState.FAIL, (2, 1), None),
        ):
            study.add_trial(
                optuna.trial.create_trial(
                    state=state, params=dict(zip((a, b), genome, strict=True)), distributions=dists, value=value
                )
            )
        asked = [study.ask() for _ in range(2)]
        for t in asked:
            space.suggest(t)
        assert {(t.params[a], t.params[b]) for t in asked} == {(2, 1), (2, 2)}, seed


def test_genome_keys_ignore_parameters_outside_the_genome():
    """Two trials with one genome and another learning rate are one genome: the second is not drawn."""
    space = _space(layers=2, T=1)
    a, b = space.names
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=4, seed=0))
    dists = {**space.distributions(), "lr": CategoricalDistribution((0.1, 0.01))}
    for genome in ((1, 1), (1, 2), (2, 1)):
        params = {a: genome[0], b: genome[1], "lr": 0.1}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=1.0))
    t = study.ask()
    space.suggest(t)
    assert (t.params[a], t.params[b]) == (2, 2)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_max_retries_zero_turns_the_rule_off(name):
    space = _space(layers=6, T=3)
    sampler = SAMPLERS[name](space, 8, 0)
    sampler.max_retries = 0
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective(space), n_trials=80)
    assert _repeats(_keys(study, space)) > 10


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_no_repeats_among_threads(name):
    """Two threads of one process (``n_jobs=2``) share the seen set: a genome drawn for a running trial is not
    drawn again, even before that trial's objective has suggested it."""
    space = _space(layers=6, T=3)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](space, 8, 0))
    base = _objective(space)

    def objective(trial):
        trial.relative_params  # noqa: B018  (the sampler draws the genome now...)
        time.sleep(0.002)  # (...the other thread samples meanwhile...)
        return base(trial)  # (...and only now is it suggested, i.e. in storage)

    study.optimize(objective, n_trials=80, n_jobs=2)
    keys = _keys(study, space)
    assert len(keys) == 80 and _repeats(keys) == 0


def test_g2l_varies_a_repeated_child_by_one_gene_first():
    """Parents that are one genome and no mutation: crossover can only repeat it, so after ``max_retries``
    redraws the child gets one mutated gene (the heavier variation), not a random genome."""
    space = _space(layers=6, T=3)
    key = G2LGeneticSampler._get_generation_key()
    parent = {n: 2 for n in space.names}
    for seed in range(5):
        sampler = G2LGeneticSampler(space, population_size=2, mutation_prob=0.0, seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for value in (1.0, 2.0):
            study.add_trial(
                optuna.trial.create_trial(
                    params=parent, distributions=space.distributions(), value=value, system_attrs={key: 0}
                )
            )
        trial = study.ask()
        space.suggest(trial)
        assert study.trials[-1].system_attrs[key] == 1
        assert sum(trial.params[n] != parent[n] for n in space.names) == 1, seed
