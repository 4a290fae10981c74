"""G2LGeneticSampler: selection (Eq. 3), crossover and mutation maths, generations, elitism, seeds, workers."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections import Counter
from itertools import combinations

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from g2l_automl.samplers import (
    G2LGeneticSampler,
    Genome,
    roulette_probabilities,
    selection_probabilities,
    sort_best_first,
    two_anchor_crossover,
)
from g2l_automl.samplers._genome import mutate_value
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

# chi-square critical values at p = 0.001
_CHI2_001 = {5: 20.52, 9: 27.88}


def _chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def _space(stages: int = 1, layers: int = 6, T: int = 6) -> SearchSpace:  # noqa: N803
    return SearchSpace(StructureSpec.mstcn(num_stages=stages, num_layers=layers), [Dilations(k=2, T=T)])


def _target_objective(space: SearchSpace, seed: int = 123):
    target = np.random.RandomState(seed).randint(0, 11, len(space.genes))

    def objective(trial: optuna.Trial) -> float:
        spec = space.suggest(trial)
        exponents = np.array([math.log2(d) for stage in spec.dilations() for d in stage])
        return -float(np.abs(exponents - target[: len(exponents)]).sum())

    return objective


# -- maths -----------------------------------------------------------------------------------------------------
def test_roulette_is_eq3_for_non_negative_fitness():
    assert np.allclose(roulette_probabilities([10.0, 20.0, 30.0, 40.0]), [0.1, 0.2, 0.3, 0.4])
    assert np.allclose(roulette_probabilities([0.0, 0.0, 5.0]), [0.0, 0.0, 1.0])


def test_roulette_handles_zero_negative_and_minimise():
    assert np.allclose(roulette_probabilities([0.0, 0.0]), [0.5, 0.5])
    p = roulette_probabilities([-3.0, -1.0, -2.0])
    assert p.argmax() == 1 and p.argmin() == 0 and np.isclose(p.sum(), 1) and (p > 0).all()
    q = roulette_probabilities([1.0, 3.0, 2.0], maximize=False)
    assert q.argmax() == 0 and q.argmin() == 1 and (q > 0).all()
    assert np.allclose(roulette_probabilities([float("inf"), 1.0, 1.0]).sum(), 1)


def _study_with(values, genomes, direction="maximize"):
    dist = CategoricalDistribution(tuple(range(10)))
    study = optuna.create_study(direction=direction)
    for value, genome in zip(values, genomes, strict=False):
        params = {f"g{k}": v for k, v in enumerate(genome)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions={n: dist for n in params}, value=value))
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_parent_pairs_follow_eq3_statistically(direction):
    values = [10.0, 20.0, 30.0, 40.0]
    genomes = [[k] * 6 for k in range(4)]  # parent k's genes are all k: a child shows which parents it came from
    study = _study_with(values, genomes, direction)
    parents = sort_best_first(study, study.trials)
    sampler = G2LGeneticSampler(population_size=4, mutation_prob=0.0, seed=0, selection="roulette")
    genome = Genome({f"g{k}": CategoricalDistribution(tuple(range(10))) for k in range(6)})
    p_of = dict(zip((t.number for t in parents), selection_probabilities(study, parents), strict=False))
    p = np.array([p_of[k] for k in range(4)])
    if direction == "maximize":
        assert np.allclose(p, [0.1, 0.2, 0.3, 0.4])
    else:
        assert p.argmax() == 0
    n = 6000
    counts = Counter(frozenset(sampler._child(study, genome, parents)) for _ in range(n))
    pairs = [frozenset(pair) for pair in combinations(range(4), 2)]
    assert set(counts) == set(pairs)  # both parents always contribute: anchors never span the whole genome
    # first pick by roulette, second by roulette among the others
    expected = np.array([p[i] * p[j] / (1 - p[i]) + p[j] * p[i] / (1 - p[j]) for i, j in map(sorted, pairs)]) * n
    observed = np.array([counts[pair] for pair in pairs], dtype=float)
    assert _chi2(observed, expected) < _CHI2_001[5]


def test_two_anchor_crossover_exchanges_one_inner_segment():
    rng = np.random.RandomState(0)
    a, b = list("aaaaaaaa"), list("bbbbbbbb")
    segments = set()
    for _ in range(500):
        c1, c2 = two_anchor_crossover(a, b, rng)
        s1 = "".join(c1)
        assert "".join(c2) == s1.translate(str.maketrans("ab", "ba"))  # complementary children
        assert s1.count("b") not in (0, 8)  # never a pure copy
        inner = s1.strip("a") if s1[0] == "a" or s1[-1] == "a" else s1
        assert set(inner) == {"b"} or s1.startswith("b") or s1.endswith("b")
        segments.add(s1)
    # every contiguous segment except the whole genome: 8*9/2 - 1
    assert len(segments) == 35
    assert two_anchor_crossover([1], [2], rng) == ([1], [2])


def test_mutation_changes_one_gene_uniformly_over_other_candidates():
    rng = np.random.RandomState(0)
    dist = CategoricalDistribution(tuple(2**i for i in range(11)))
    draws = [mutate_value(dist, 16, rng) for _ in range(5000)]
    assert 16 not in draws
    observed = np.array([draws.count(c) for c in dist.choices if c != 16], dtype=float)
    assert _chi2(observed, np.full(10, 500.0)) < _CHI2_001[9]
    space = _space()
    genome = Genome(space.distributions(), space)
    parent = genome.from_params(space.to_params(space.base), rng)
    child = genome.mutate(parent, 3, rng)
    assert sum(x != y for x, y in zip(parent, child, strict=False)) == 1 and child[3] != parent[3]


def test_nondominated_ordering_for_multi_objective():
    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = {"x": CategoricalDistribution((0, 1))}
    for values in ([1.0, 1.0], [2.0, 2.0], [0.5, 3.0], [2.0, 1.0]):
        study.add_trial(optuna.trial.create_trial(params={"x": 0}, distributions=dist, values=values))
    order = [t.number for t in sort_best_first(study, study.trials)]
    assert order[0] == 3 and order[-1] == 2  # (2, 1) dominates all; (0.5, 3) is dominated by all


# -- generations, elitism, seeding -----------------------------------------------------------------------------
def _generations(study, sampler_cls=G2LGeneticSampler):
    key = sampler_cls._get_generation_key()
    out: dict[int, list] = {}
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        out.setdefault(t.system_attrs[key], []).append(t)
    return out


def _check_elitism(study, population_size):
    """The parents of every generation are the top M of the previous generation and its parents."""
    generations = _generations(study)
    sampler = G2LGeneticSampler(population_size=population_size)
    parents: list = []
    best_so_far = -math.inf
    for g in range(1, max(generations) + 1):
        pool = {t.number: t for t in parents + generations.get(g - 1, [])}
        expected = sorted(pool.values(), key=lambda t: (-t.value, t.number))[:population_size]
        parents = sampler.get_parent_population(study, g)
        assert {t.number for t in parents} == {t.number for t in expected}
        best = max(t.value for t in parents)
        assert best >= best_so_far  # the elite is never lost
        best_so_far = best


def test_generations_and_elitist_survival_in_one_process():
    space = _space()
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=6, seed=0))
    study.enqueue_trial(space.to_params(space.base))
    study.optimize(_target_objective(space), n_trials=60)
    generations = _generations(study)
    assert sorted(generations) == list(range(10))
    assert all(len(members) == 6 for members in generations.values())
    assert study.trials[0].params == space.to_params(space.base)  # the enqueued MS-TCN 2**i is in generation 0
    _check_elitism(study, 6)
    first = max(t.value for t in generations[0])
    assert study.best_value > first


def test_no_duplicate_genomes_within_a_generation():
    space = _space(layers=4, T=3)
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=8, seed=1))
    study.optimize(_target_objective(space), n_trials=64)
    for members in _generations(study).values():
        keys = [tuple(sorted(t.params.items())) for t in members]
        assert len(keys) == len(set(keys))


def test_pruned_and_failed_trials_belong_to_no_population():
    space = _space()
    objective = _target_objective(space)

    def flaky(trial):
        value = objective(trial)
        if trial.number % 5 == 1:
            raise optuna.TrialPruned()
        if trial.number % 5 == 2:
            raise RuntimeError("boom")
        return value

    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=4, seed=0))
    study.optimize(flaky, n_trials=40, catch=(RuntimeError,))
    states = Counter(t.state for t in study.trials)
    assert states[TrialState.PRUNED] == 8 and states[TrialState.FAIL] == 8
    generations = _generations(study)
    assert len(generations) >= 4 and all(len(m) == 4 for m in list(generations.values())[:-1])
    _check_elitism(study, 4)


def _param_sequence(seed: int) -> list[dict]:
    space = _space()
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=5, seed=seed))
    study.optimize(_target_objective(space), n_trials=30)
    return [t.params for t in study.trials]


def test_reproducible_with_a_seed():
    assert _param_sequence(3) == _param_sequence(3)
    assert _param_sequence(3) != _param_sequence(4)


def test_threads_reseed_and_multi_objective():
    space = _space()
    objective = _target_objective(space)
    study = optuna.create_study(direction="maximize", sampler=G2LGeneticSampler(space, population_size=4, seed=0))
    study.optimize(objective, n_trials=24, n_jobs=2)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 24
    mo = optuna.create_study(
        directions=["maximize", "minimize"], sampler=G2LGeneticSampler(space, population_size=4, seed=0)
    )
    mo.optimize(lambda t: (objective(t), sum(t.params.values())), n_trials=24)
    assert len(_generations(mo)) >= 5 and mo.best_trials


def test_beats_random_search_on_a_dilation_space():
    space = _space(stages=2, layers=10, T=10)
    objective = _target_objective(space)
    for seed in range(3):
        ours = optuna.create_study(
            direction="maximize", sampler=G2LGeneticSampler(space, population_size=20, seed=seed)
        )
        ours.optimize(objective, n_trials=200)
        rand = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
        rand.optimize(objective, n_trials=200)
        assert ours.best_value > rand.best_value + 5


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="population_size"):
        G2LGeneticSampler(population_size=1)
    with pytest.raises(ValueError, match="mutation_prob"):
        G2LGeneticSampler(mutation_prob=1.5)
    with pytest.raises(ValueError, match="max_retries"):
        G2LGeneticSampler(max_retries=-1)
    with pytest.raises(TypeError, match="space"):
        G2LGeneticSampler(space={"stage0.layer0.dilation": [1, 2]})


# -- workers ---------------------------------------------------------------------------------------------------
_WORKER = textwrap.dedent(
    """
    import math, sys, time
    import numpy as np, optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from g2l_automl.samplers import G2LGeneticSampler
    from g2l_automl.spaces import Dilations, SearchSpace
    from g2l_automl.structure import StructureSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path, seed = sys.argv[1], int(sys.argv[2])
    space = SearchSpace(StructureSpec.mstcn(num_stages=1, num_layers=6), [Dilations(k=2, T=6)])
    target = np.random.RandomState(123).randint(0, 7, len(space.genes))
    rng = np.random.RandomState(seed)

    def objective(trial):
        spec = space.suggest(trial)
        time.sleep(rng.uniform(0.0, 0.03))
        return -float(np.abs(np.log2(spec.dilations()[0]) - target).sum())

    storage = JournalStorage(JournalFileBackend(path))
    study = optuna.load_study(study_name="ga", storage=storage, sampler=G2LGeneticSampler(space, population_size=6,
                              seed=seed))
    study.optimize(objective, n_trials=30)
    """
)


def test_three_workers_share_one_journal_study(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = str(tmp_path / "journal.log")
    storage = JournalStorage(JournalFileBackend(path))
    optuna.create_study(study_name="ga", storage=storage, direction="maximize")
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), path, str(seed)]) for seed in range(3)]
    try:
        assert [p.wait(timeout=240) for p in procs] == [0, 0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    study = optuna.load_study(study_name="ga", storage=JournalStorage(JournalFileBackend(path)))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 90
    key = G2LGeneticSampler._get_generation_key()
    assert all(isinstance(t.system_attrs.get(key), int) for t in complete)  # exactly one generation each
    generations = _generations(study)
    assert len(generations) >= 8
    last = max(generations)
    for g, members in generations.items():
        if g < last:
            assert 6 <= len(members) <= 6 + 2  # a generation overshoots by at most (workers - 1)
    _check_elitism(study, 6)
    earlier_best = max(t.value for g, m in generations.items() if g < last for t in m)
    assert max(t.value for t in G2LGeneticSampler(population_size=6).get_parent_population(study, last)) == earlier_best


def test_parameters_outside_the_genome_go_to_the_independent_sampler():
    space = _space(layers=3, T=3)
    asked: list[str] = []

    class Spy(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):
            asked.append(name)
            return super().sample_independent(study, trial, name, distribution)

    sampler = G2LGeneticSampler(space, population_size=3, seed=0, independent_sampler=Spy(seed=0))
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial):
        spec = space.suggest(trial)
        lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        return -abs(spec.receptive_field(0) - 20) - abs(lr - 1e-3)

    study.optimize(objective, n_trials=12)
    assert asked == ["lr"] * 12
    assert len(_generations(study)) == 4
