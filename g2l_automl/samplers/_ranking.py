"""Fitness of finished trials: ordering (single and multi-objective) and parent selection probabilities (G2L's
roulette, Eq. 3; windowed roulette; linear ranking; tournaments)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from g2l_automl._checks import check_choice, check_int, check_real


def _signs(study: Study) -> np.ndarray:
    return np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions])


def _losses(study: Study, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Objective values as an ``(n, m)`` array to minimise (maximised objectives negated, inf kept finite).

    A trial without values (a PRUNED one, judged at a lower fidelity) gets the fidelity-discounted fitness: the
    worst loss of the trials with values in ``trials`` (0 when none has values); :func:`_fidelity` then orders it
    after them."""
    signs = _signs(study)
    m = len(signs)
    has = np.array([t.values is not None and t.state != TrialState.PRUNED for t in trials], dtype=bool)
    losses = np.zeros((len(trials), m))
    if has.any():
        losses[has] = np.array([trials[i].values for i in np.flatnonzero(has)], dtype=float).reshape(-1, m) * signs
        finite = losses[has][np.isfinite(losses[has])]
        if finite.size:
            losses[has] = np.nan_to_num(losses[has], nan=finite.max(), posinf=finite.max(), neginf=finite.min())
        losses[~has] = losses[has].max(axis=0)
    return losses


def _fidelity(study: Study, trial: FrozenTrial) -> tuple[int, int, float]:
    """Tie-breaker after the loss: a trial with values first; pruned ones by the step they reached (deeper is
    better), then by their intermediate value there (reported in the study's direction, as pruners assume)."""
    if trial.values is not None and trial.state != TrialState.PRUNED:
        return (0, 0, 0.0)
    step = trial.last_step
    if step is None:
        return (1, 0, 0.0)
    value = float(trial.intermediate_values[step])
    loss = value if study.directions[0] == StudyDirection.MINIMIZE else -value
    return (1, -step, loss if np.isfinite(loss) else np.inf)


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
    """Trials from fittest to least fit: by value, or by Pareto front then crowding distance (multi-objective);
    PRUNED trials (when a population holds them) after those with values, deeper-pruned first. Ties keep the
    older trial first, so the order is deterministic."""
    if not trials:
        return []
    order, _ = _order_keys(study, trials)
    return [trials[i] for i in order]


#: Selection modes of :func:`selection_probabilities` (and ``G2LGeneticSampler(selection=...)``).
SELECTION_MODES: tuple[str, ...] = ("roulette", "roulette-window", "rank", "tournament")

#: Windowed roulette: the worst member's weight as a fraction of the fitness spread (it keeps a small chance).
WINDOW_EPSILON = 0.01


def _finite(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("no values")
    finite = v[np.isfinite(v)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    return np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo)


def roulette_probabilities(values: Sequence[float], maximize: bool = True, window: bool = False) -> np.ndarray:
    """Selection probabilities of G2L's fitness-proportional roulette (Eq. 3: ``p_i = E_i / sum_j E_j``).

    Eq. 3 holds as written when maximising non-negative fitness (F1, accuracy). Otherwise (a minimised objective,
    negative values, or all zeros) the oriented fitness is shifted so the worst gets a small positive share:
    ``w_i = s_i - min(s) + (max(s) - min(s)) / n``; equal values give equal probabilities.

    ``window=True`` is windowed roulette for every sign and direction: ``w_i = s_i - min(s) + eps`` with
    ``eps = WINDOW_EPSILON * (max(s) - min(s))``, so the probabilities do not change when the fitness is shifted or
    scaled (F1 in 55..90 selects as strongly as F1 in 0..35 or a loss in -90..-55).

    Example:
        >>> roulette_probabilities([10.0, 30.0]).tolist()
        [0.25, 0.75]
        >>> roulette_probabilities([1.0, 3.0], maximize=False).round(3).tolist()
        [0.75, 0.25]
        >>> roulette_probabilities([60.0, 70.0, 80.0], window=True).round(4).tolist()
        [0.0065, 0.3333, 0.6601]
        >>> roulette_probabilities([-80.0, -70.0, -60.0], maximize=False, window=True).round(4).tolist()
        [0.6601, 0.3333, 0.0065]
    """
    try:
        v = _finite(values)
    except ValueError:
        raise ValueError("roulette_probabilities: no values") from None
    if not window and maximize and np.all(v >= 0) and v.sum() > 0:
        return v / v.sum()
    s = v if maximize else -v
    spread = s.max() - s.min()
    if spread == 0:
        return np.full(v.size, 1.0 / v.size)
    w = s - s.min() + (WINDOW_EPSILON * spread if window else spread / v.size)
    return w / w.sum()


def rank_probabilities(n: int, selection_pressure: float = 1.5) -> np.ndarray:
    """Linear ranking (Baker 1985): the probability of the ``i``-th best of ``n`` (``i = 0`` best),
    ``p_i = (s - (2 s - 2) i / (n - 1)) / n`` for a selection pressure ``s`` in [1, 2]: the best is picked ``s``
    times as often as the median member, the worst ``2 - s`` times (``s = 1`` is uniform).

    Example:
        >>> rank_probabilities(4, 2.0).round(4).tolist()
        [0.5, 0.3333, 0.1667, 0.0]
        >>> rank_probabilities(3, 1.5).round(4).tolist()
        [0.5, 0.3333, 0.1667]
        >>> rank_probabilities(2, 1.0).tolist()
        [0.5, 0.5]
    """
    if n < 1:
        raise ValueError(f"rank_probabilities: n must be >= 1, got {n}")
    check_real(selection_pressure, "selection_pressure", 1.0, 2.0)
    if n == 1:
        return np.ones(1)
    i = np.arange(n)
    return (selection_pressure - (2.0 * selection_pressure - 2.0) * i / (n - 1)) / n


def tournament_probabilities(n: int, k: int = 2) -> np.ndarray:
    """Tournament selection, exactly: ``k`` members drawn uniformly with replacement from ``n`` ranked ones, the
    best of them wins. The ``i``-th best (``i = 0`` best) wins when all ``k`` are among the ``n - i`` members it
    is not worse than and not all among the ``n - i - 1`` it beats: ``p_i = ((n - i)^k - (n - i - 1)^k) / n^k``.

    Example:
        >>> (tournament_probabilities(3, 2) * 9).round(6).tolist()
        [5.0, 3.0, 1.0]
        >>> tournament_probabilities(4, 1).tolist()
        [0.25, 0.25, 0.25, 0.25]
    """
    if n < 1:
        raise ValueError(f"tournament_probabilities: n must be >= 1, got {n}")
    check_int(k, "tournament_size")
    above = np.arange(n, 0, -1, dtype=float)  # n - i
    return (above**k - (above - 1.0) ** k) / float(n) ** k


def _tie_average(p: np.ndarray, keys: list[tuple]) -> np.ndarray:
    """``p`` (by position, best first) averaged over runs of equal ``keys``: tied members are equally likely
    (ties broken uniformly at random, which is exact for tournaments and ranking alike)."""
    out = p.copy()
    start = 0
    for end in range(1, len(keys) + 1):
        if end == len(keys) or keys[end] != keys[start]:
            out[start:end] = p[start:end].mean()
            start = end
    return out


def _order_keys(study: Study, trials: Sequence[FrozenTrial]) -> tuple[np.ndarray, list[tuple]]:
    """The best-first order of ``trials`` (indices into it), and each position's key (equal keys are ties): the
    loss for one objective, (front, -crowding) for several, then :func:`_fidelity` (PRUNED trials last)."""
    losses = _losses(study, trials)
    numbers = np.array([t.number for t in trials])
    fidelity = [_fidelity(study, t) for t in trials]
    if losses.shape[1] == 1:
        keys = [(float(x), *f) for x, f in zip(losses[:, 0], fidelity, strict=True)]
    else:
        ranks = nondominated_ranks(losses)
        crowd = np.zeros(len(trials))
        for front in np.unique(ranks):
            members = np.flatnonzero(ranks == front)
            crowd[members] = crowding_distance(losses[members])
        keys = [(int(r), -float(c), *f) for r, c, f in zip(ranks, crowd, fidelity, strict=True)]
    order = np.array(sorted(range(len(trials)), key=lambda i: (keys[i], numbers[i])), dtype=int)
    return order, [keys[i] for i in order]


def selection_probabilities(
    study: Study,
    trials: Sequence[FrozenTrial],
    mode: str = "roulette",
    *,
    selection_pressure: float = 1.5,
    tournament_size: int = 2,
) -> np.ndarray:
    """The probability that each of ``trials`` (in the given order) is picked as a parent.

    Modes (:data:`SELECTION_MODES`):

    - ``roulette``: Eq. 3 as printed (:func:`roulette_probabilities`), with its shift for negative or minimised
      fitness. Several objectives: the fitness is ``(number of fronts - front index)``.
    - ``roulette-window``: windowed roulette, ``fitness - worst + eps``, for every sign and direction (several
      objectives: the same front fitness, windowed).
    - ``rank``: linear ranking (:func:`rank_probabilities`, ``selection_pressure``) of the best-first order.
    - ``tournament``: tournaments of ``tournament_size`` (:func:`tournament_probabilities`) on that order.

    ``rank`` and ``tournament`` use :func:`sort_best_first`'s order (Pareto front, then crowding distance, for
    several objectives); tied members share their positions' probabilities equally. Both depend only on the
    order, hence not on the fitness's sign, scale or direction.
    """
    check_choice(mode, "selection", SELECTION_MODES)
    if not trials:
        raise ValueError("selection_probabilities: no trials")
    if mode in ("roulette", "roulette-window"):
        window = mode == "roulette-window"
        if len(study.directions) == 1:  # natural units (PRUNED trials at the worst value, see _losses)
            values = _losses(study, trials)[:, 0] * _signs(study)[0]
            return roulette_probabilities(values, study.direction == StudyDirection.MAXIMIZE, window)
        ranks = nondominated_ranks(_losses(study, trials))
        return roulette_probabilities((ranks.max() + 1 - ranks).astype(float), window=window)
    order, keys = _order_keys(study, trials)
    n = len(trials)
    if mode == "rank":
        by_position = rank_probabilities(n, selection_pressure)
    else:
        by_position = tournament_probabilities(n, tournament_size)
    p = np.empty(n)
    p[order] = _tie_average(by_position, keys)
    return p
