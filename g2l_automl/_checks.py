"""The one family of value checks used at every boundary (constructors, config loaders, CLI options).

Each ``check_*`` takes the value, then ``where`` (the name shown in the message: a parameter, or a config loader's
``"file: section.field"``), then the bounds, and returns the value normalised (``int`` / ``float``). It raises
``error`` (a :class:`~g2l_automl.errors.G2LError` subclass; :class:`~g2l_automl.errors.ParameterError` unless the
caller's package has its own), so a message is one line naming the field and the value.

Example:
    >>> check_int(3, "population_size", 2)
    3
    >>> check_int(True, "population_size", 2)
    Traceback (most recent call last):
        ...
    g2l_automl.errors.ParameterError: population_size: must be an integer >= 2, got True
    >>> check_real(0.5, "mutation_rate", 0.0, 1.0)
    0.5
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from g2l_automl.errors import G2LError, ParameterError


def check_int(
    value: Any, where: str, minimum: int = 1, maximum: int | None = None, error: type[G2LError] = ParameterError
) -> int:
    """``value`` as an ``int``: an integer (numpy integers too, not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise error(f"{where}: must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{where}: must be an integer <= {maximum}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    where: str,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    error: type[G2LError] = ParameterError,
) -> float:
    """``value`` as a finite ``float`` (not a bool) in the interval from ``low`` to ``high`` (closed unless
    ``open_low`` / ``open_high``; None: unbounded on that side)."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if open_low or low is None else '['}{lo}, {hi}{')' if open_high or high is None else ']'}"
        raise error(f"{where}: must be a finite number in {interval}, got {value!r}")
    return float(value)


def check_choice(value: Any, where: str, choices: tuple[Any, ...], error: type[G2LError] = ParameterError) -> Any:
    """``value`` if it is one of ``choices``."""
    if isinstance(value, bool) or value not in choices:
        raise error(f"{where}: must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value
