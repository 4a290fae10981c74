import itertools

import numpy as np
import pytest

from g2l_automl.errors import SpaceError
from g2l_automl.nas import viterbi


def _brute_force(weights, initial):
    sizes = [w.shape[0] for w in weights] + [weights[-1].shape[1]]
    best = None
    for path in itertools.product(*(range(n) for n in sizes)):
        score = initial[path[0]] + sum(w[path[k], path[k + 1]] for k, w in enumerate(weights))
        if best is None or score > best[1]:
            best = (list(path), score)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sizes", [(1, 3, 3, 4), (1, 1), (3, 1, 2), (2, 4, 1, 3, 2), (1, 2, 2, 2, 2, 2)])
def test_viterbi_equals_brute_force(seed, sizes):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(a, b)) for a, b in itertools.pairwise(sizes)]
    initial = rng.normal(size=sizes[0]) if seed % 2 else np.zeros(sizes[0])
    path, score = viterbi(weights, initial if seed % 2 else None)
    expected_path, expected_score = _brute_force(weights, initial)
    assert path == expected_path
    assert score == pytest.approx(expected_score)
    assert len(path) == len(sizes) and all(0 <= j < n for j, n in zip(path, sizes, strict=True))


def test_viterbi_beats_greedy_when_the_best_first_edge_leads_nowhere():
    # greedy takes 0 -> 0 (weight 1) and then at most 0; the best path pays 0 first and then 10
    weights = [np.array([[1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 10.0]])]
    assert viterbi(weights) == ([0, 1, 1], 10.0)


def test_viterbi_with_log_probabilities_is_the_most_probable_path():
    rng = np.random.default_rng(0)
    probs = [rng.dirichlet(np.ones(3), size=n) for n in (1, 3, 3)]
    path, score = viterbi([np.log(p) for p in probs])
    best = max(
        itertools.product(range(3), repeat=3),
        key=lambda p: probs[0][0, p[0]] * probs[1][p[0], p[1]] * probs[2][p[1], p[2]],
    )
    assert path == [0, *best]
    assert np.exp(score) == pytest.approx(
        probs[0][0, best[0]] * probs[1][best[0], best[1]] * probs[2][best[1], best[2]]
    )


@pytest.mark.parametrize(
    "weights, initial, message",
    [
        ([], None, "at least one"),
        ([np.zeros((2, 3)), np.zeros((2, 2))], None, r"weights\[1\] has 2 rows but weights\[0\] has 3 columns"),
        ([np.zeros(3)], None, "2-D"),
        ([np.array([[np.nan]])], None, "NaN"),
        ([np.zeros((2, 2))], [0.0], "initial"),
    ],
)
def test_viterbi_rejects_bad_lattices(weights, initial, message):
    with pytest.raises(SpaceError, match=message):
        viterbi(weights, initial)
