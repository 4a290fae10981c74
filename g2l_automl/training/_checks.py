"""Validation of trainer settings at the boundary: a clear :class:`~g2l_automl.errors.TrainingError` naming the
setting."""

from __future__ import annotations

import math
from typing import Any

from g2l_automl.errors import TrainingError


def check_int(name: str, value: Any, minimum: int = 1) -> None:
    """``value`` must be an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TrainingError(f"{name}: must be an integer >= {minimum}, got {value!r}")


def check_rate(name: str, value: Any) -> None:
    """``value`` must be a positive finite number (a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise TrainingError(f"{name}: must be a positive number, got {value!r}")
