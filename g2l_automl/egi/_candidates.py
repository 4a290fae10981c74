"""Candidate dilations around D (G2L's T_l) and the expectation update (Eq. 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Roundings of the expectation (Eq. 6): ``round`` to the nearest (the default, as the official code: unbiased, so a
#: PMF without signal keeps D on average) or ``floor`` (Eq. 6 as printed: drifts down by about 1/2 per update).
ROUNDINGS: tuple[str, ...] = ("round", "floor")


def candidate_dilations(
    dilation: int, num: int = 3, delta: float = 0.1, min_delta: int = 1, max_dilation: int | None = None
) -> tuple[int, ...]:
    """``num`` dilations evenly spaced over ``[D - dD, D + dD]`` with ``dD = max(delta * D, min_delta)`` (G2L:
    ``d_i = D - dD + (i - 1) * 2 dD / (S - 1)``, dD = 0.1 D), symmetric about D, within ``[1, max_dilation]``.

    The offsets ``d_i - D`` are rounded half away from zero, and dD shrinks to the distance to the nearer bound
    (never below ``min_delta``), so the candidates' mean is D and a uniform PMF expects D (no drift, Eq. 6). Only
    ``min_delta`` can reach past a bound; that candidate is clipped (``D = 1`` gives ``(1, 1, 2)``, whose uniform
    expectation 4/3 rounds to 1). ``min_delta`` lets small dilations move: the official code's
    ``[round(0.9 D), D, round(1.1 D)]`` is ``(D, D, D)`` for ``D <= 4``, so those layers never change.

    Example:
        >>> candidate_dilations(64), candidate_dilations(2), candidate_dilations(1), candidate_dilations(100, num=4)
        ((58, 64, 70), (1, 2, 3), (1, 1, 2), (90, 97, 103, 110))
        >>> candidate_dilations(15), candidate_dilations(2048, max_dilation=2048)
        ((13, 15, 17), (2047, 2048, 2048))
    """
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation: must be an integer >= 1, got {dilation!r}")
    if num < 1:
        raise ValueError(f"num: need at least one candidate, got {num}")
    if delta < 0 or min_delta < 0:
        raise ValueError(f"delta and min_delta must be >= 0, got {delta} and {min_delta}")
    top = max_dilation if max_dilation is not None else math.inf
    spread = max(min(delta * dilation, dilation - 1, top - dilation), float(min_delta))
    # (2i - (S - 1)) / (S - 1) is exact and antisymmetric, so mirrored offsets round to mirrored integers
    offsets = [(2 * i - (num - 1)) * spread / (num - 1) for i in range(num)] if num > 1 else [0.0]
    values = [dilation + math.copysign(math.floor(abs(o) + 0.5), o) for o in offsets]
    return tuple(int(min(max(v, 1), top)) for v in values)


def expected_dilation(pmf: Sequence[float], dilations: Sequence[int], rounding: str = "round") -> int:
    """Eq. 6: ``sum_i PMF_i * d_i`` rounded to the nearest (``round``) or down (``floor``, as printed), at least 1.

    Example:
        >>> expected_dilation([0.2, 0.3, 0.5], [58, 64, 70]), expected_dilation([0.2, 0.3, 0.5], [58, 64, 70], "floor")
        (66, 65)
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    value = sum(p * d for p, d in zip(pmf, dilations, strict=True))
    # a tiny tolerance keeps exact expectations (e.g. a uniform PMF over symmetric candidates) from flooring down
    out = math.floor(value + 1e-6) if rounding == "floor" else math.floor(value + 0.5)
    return max(int(out), 1)
