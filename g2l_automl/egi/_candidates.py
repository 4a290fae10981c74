"""Candidate dilations around D (G2L's T_l) and the expectation update (Eq. 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence

ROUNDINGS: tuple[str, ...] = ("floor", "round")


def candidate_dilations(
    dilation: int, num: int = 3, delta: float = 0.1, min_delta: int = 1, max_dilation: int | None = None
) -> tuple[int, ...]:
    """``num`` dilations evenly spaced over ``[D - dD, D + dD]`` with ``dD = max(delta * D, min_delta)``, rounded
    and clipped to ``[1, max_dilation]`` (G2L: ``d_i = D - dD + (i - 1) * 2 dD / (S - 1)``, dD = 0.1 D).

    ``min_delta`` lets small dilations move: the official code's ``[round(0.9 D), D, round(1.1 D)]`` is
    ``(D, D, D)`` for ``D <= 4``, so those layers never change.

    Example:
        >>> candidate_dilations(64), candidate_dilations(2), candidate_dilations(1), candidate_dilations(100, num=4)
        ((58, 64, 70), (1, 2, 3), (1, 1, 2), (90, 97, 103, 110))
    """
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation: must be an integer >= 1, got {dilation!r}")
    if num < 1:
        raise ValueError(f"num: need at least one candidate, got {num}")
    if delta < 0 or min_delta < 0:
        raise ValueError(f"delta and min_delta must be >= 0, got {delta} and {min_delta}")
    spread = max(delta * dilation, float(min_delta))
    if num == 1:
        values = [float(dilation)]
    else:
        values = [dilation - spread + i * 2 * spread / (num - 1) for i in range(num)]
    top = max_dilation if max_dilation is not None else math.inf
    return tuple(int(min(max(math.floor(v + 0.5), 1), top)) for v in values)


def expected_dilation(pmf: Sequence[float], dilations: Sequence[int], rounding: str = "floor") -> int:
    """Eq. 6: ``floor(sum_i PMF_i * d_i)`` (or rounded to the nearest), at least 1.

    Example:
        >>> expected_dilation([0.2, 0.3, 0.5], [58, 64, 70]), expected_dilation([0.2, 0.3, 0.5], [58, 64, 70], "round")
        (65, 66)
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    value = sum(p * d for p, d in zip(pmf, dilations, strict=True))
    # a tiny tolerance keeps exact expectations (e.g. a uniform PMF over symmetric candidates) from flooring down
    out = math.floor(value + 1e-6) if rounding == "floor" else math.floor(value + 0.5)
    return max(int(out), 1)
