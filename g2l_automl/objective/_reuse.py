"""The objectives' duplicate rule: a candidate the study already scored is not trained again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from g2l_automl import _attrs as attrs


def scored_before(
    trial: optuna.Trial, key: str, value: Any, match: Callable[[FrozenTrial], bool] = lambda t: True
) -> FrozenTrial | None:
    """The first COMPLETE trial of ``trial``'s study whose user attr ``key`` equals ``value`` (and that ``match``
    accepts): the same candidate, already trained and scored under the same (common) seeds."""
    for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(key) == value and attrs.METRICS in t.user_attrs and match(t):
            return t
    return None


def reuse(trial: optuna.Trial, earlier: FrozenTrial) -> float | tuple[float, ...]:
    """``earlier``'s values for ``trial``, with its user attrs, ``duplicate_of`` (the first trial that trained the
    candidate) and ``train_seconds`` 0: the candidate is not trained again."""
    trial.set_user_attr(attrs.DUPLICATE_OF, earlier.user_attrs.get(attrs.DUPLICATE_OF, earlier.number))
    for name, value in earlier.user_attrs.items():
        if name not in attrs.OWN and name not in trial.user_attrs:
            trial.set_user_attr(name, value)
    trial.set_user_attr(attrs.TRAIN_SECONDS, 0.0)
    trial.set_user_attr(attrs.EPOCHS, 0)
    values = tuple(earlier.values)
    return values[0] if len(values) == 1 else values
