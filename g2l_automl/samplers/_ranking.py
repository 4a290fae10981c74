"""Fitness of finished trials: ordering (single and multi-objective) and roulette probabilities (G2L Eq. 3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial


def _losses(study: Study, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Objective values as an ``(n, m)`` array to minimise (maximised objectives negated, inf kept finite)."""
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions])
    values = np.array([t.values for t in trials], dtype=float).reshape(len(trials), len(signs)) * signs
    finite = values[np.isfinite(values)]
    if finite.size:
        values = np.nan_to_num(values, nan=finite.max(), posinf=finite.max(), neginf=finite.min())
    return values


def nondominated_ranks(losses: np.ndarray) -> np.ndarray:
    """Pareto front index of each row (0 = not dominated), everything minimised."""
    n = len(losses)
    ranks = np.full(n, -1)
    remaining = np.arange(n)
    front = 0
    while remaining.size:
        sub = losses[remaining]
        dominated = np.array(
            [np.any(np.all(sub <= row, axis=1) & np.any(sub < row, axis=1)) for row in sub], dtype=bool
        )
        ranks[remaining[~dominated]] = front
        remaining = remaining[dominated]
        front += 1
    return ranks


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front (boundary points get infinity)."""
    n, m = losses.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(losses[:, k], kind="stable")
        spread = losses[order[-1], k] - losses[order[0], k]
        distance[order[0]] = distance[order[-1]] = np.inf
        if spread > 0:
            distance[order[1:-1]] += (losses[order[2:], k] - losses[order[:-2], k]) / spread
    return distance


def sort_best_first(study: Study, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials from fittest to least fit: by value, or by Pareto front then crowding distance (multi-objective).
    Ties keep the older trial first, so the order is deterministic."""
    trials = sorted(trials, key=lambda t: t.number)
    if not trials:
        return []
    losses = _losses(study, trials)
    if losses.shape[1] == 1:
        order = np.argsort(losses[:, 0], kind="stable")
        return [trials[i] for i in order]
    ranks = nondominated_ranks(losses)
    crowd = np.zeros(len(trials))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        crowd[members] = crowding_distance(losses[members])
    order = sorted(range(len(trials)), key=lambda i: (ranks[i], -crowd[i]))
    return [trials[i] for i in order]


def roulette_probabilities(values: Sequence[float], maximize: bool = True) -> np.ndarray:
    """Selection probabilities of G2L's fitness-proportional roulette (Eq. 3: ``p_i = E_i / sum_j E_j``).

    Eq. 3 holds as written when maximising non-negative fitness (F1, accuracy). Otherwise (a minimised objective,
    negative values, or all zeros) the oriented fitness is shifted so the worst gets a small positive share:
    ``w_i = s_i - min(s) + (max(s) - min(s)) / n``; equal values give equal probabilities.

    Example:
        >>> roulette_probabilities([10.0, 30.0]).tolist()
        [0.25, 0.75]
        >>> roulette_probabilities([1.0, 3.0], maximize=False).round(3).tolist()
        [0.75, 0.25]
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("roulette_probabilities: no values")
    finite = v[np.isfinite(v)]
    v = np.nan_to_num(
        v,
        nan=finite.min() if finite.size else 0.0,
        posinf=finite.max() if finite.size else 0.0,
        neginf=finite.min() if finite.size else 0.0,
    )
    if maximize and np.all(v >= 0) and v.sum() > 0:
        return v / v.sum()
    s = v if maximize else -v
    spread = s.max() - s.min()
    if spread == 0:
        return np.full(v.size, 1.0 / v.size)
    w = s - s.min() + spread / v.size
    return w / w.sum()


def selection_probabilities(study: Study, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Roulette probabilities of ``trials`` (in the given order): Eq. 3 for one objective; for several, the
    fitness is ``(number of fronts - front index)`` so that better Pareto fronts are picked more often."""
    if len(study.directions) == 1:
        return roulette_probabilities([t.values[0] for t in trials], study.direction == StudyDirection.MAXIMIZE)
    ranks = nondominated_ranks(_losses(study, trials))
    return roulette_probabilities((ranks.max() + 1 - ranks).astype(float))
