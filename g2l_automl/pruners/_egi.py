"""EGIPruner: rungs with promotion (successive halving, asynchronous) or the genetic search's top-M cut, applied at
checkpoint epochs (multi-fidelity). One rule, :func:`rung_prunes`, shared with NNI's ``EGIAssessor``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from g2l_automl._checks import check_choice, check_int
from g2l_automl.errors import ParameterError

#: Rules of :class:`EGIPruner` / :func:`rung_prunes`.
RULES: tuple[str, ...] = ("asha", "top-m")


def cannot_make_top(value: float, others: Iterable[float], population_size: int, maximize: bool = True) -> bool:
    """Whether at least ``population_size`` of ``others`` are strictly better than ``value``: the genetic search's
    top-M survival rule (:func:`rung_prunes` with ``rule="top-m"``).

    Example:
        >>> cannot_make_top(50.0, [60.0, 70.0, 40.0], population_size=2)
        True
        >>> cannot_make_top(50.0, [60.0, 50.0, 40.0], population_size=2)
        False
    """
    better = 0
    for theirs in others:
        if (theirs > value) if maximize else (theirs < value):
            better += 1
            if better >= population_size:
                return True
    return False


def rung_prunes(
    value: float,
    others: Iterable[float],
    *,
    rule: str = "asha",
    reduction_factor: int = 3,
    min_trials: int = 6,
    population_size: int = 50,
    maximize: bool = True,
) -> bool:
    """The decision at a rung: should a trial whose value there is ``value`` stop, given the values ``others``
    (other trials, finished or not) had at the same rung? The one implementation behind :class:`EGIPruner` and the
    NNI ``EGIAssessor``.

    - ``asha``: with ``n`` trials at the rung (this one included; NaN values are worst), the trial goes on only
      if it is in the top ``max(1, n // reduction_factor)``, ties kept (fewer than that many others strictly
      better). Fewer than ``min_trials`` trials at the rung: it goes on.
    - ``top-m``: it stops when at least ``population_size`` others are strictly better (:func:`cannot_make_top`).

    A NaN value stops under ``asha`` once ``min_trials`` trials reached the rung, never under ``top-m``.

    Example:
        >>> rung_prunes(50.0, [60.0, 40.0, 30.0, 20.0, 10.0], reduction_factor=3, min_trials=6)  # top 2 of 6
        False
        >>> rung_prunes(50.0, [60.0, 70.0, 80.0, 30.0, 20.0], reduction_factor=3, min_trials=6)
        True
        >>> rung_prunes(50.0, [60.0, 70.0, 80.0], reduction_factor=3, min_trials=6)  # 4 trials: too few
        False
    """
    if rule == "top-m":
        return cannot_make_top(value, others, population_size, maximize)
    check_choice(rule, "rule", RULES)  # else asha
    values = list(others)
    n = len(values) + 1
    if n < min_trials:
        return False
    if math.isnan(value):
        return True
    keep = max(1, n // reduction_factor)
    better = sum(1 for theirs in values if ((theirs > value) if maximize else (theirs < value)))
    return better >= keep


class RungRule:
    """Validated settings of :func:`rung_prunes` plus the rungs (steps at which it decides); shared by
    :class:`EGIPruner` and the NNI ``EGIAssessor`` so that both take and check the same options."""

    def __init__(
        self,
        population_size: int = 50,
        checkpoints: Iterable[int] | None = None,
        rule: str = "asha",
        reduction_factor: int = 3,
        min_resource: int = 3,
        min_trials: int | None = None,
    ) -> None:
        self.rule = check_choice(rule, "rule", RULES)
        self.population_size = check_int(population_size, "population_size")
        self.reduction_factor = check_int(reduction_factor, "reduction_factor", 2)
        self.min_resource = check_int(min_resource, "min_resource")
        self.min_trials = 2 * self.reduction_factor if min_trials is None else check_int(min_trials, "min_trials")
        if checkpoints is None:
            self.checkpoints: frozenset[int] | None = None
        else:
            if isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Iterable):
                raise ParameterError(f"checkpoints: must be a list of integers >= 1, got {checkpoints!r}")
            self.checkpoints = frozenset(check_int(step, f"checkpoints[{i}]") for i, step in enumerate(checkpoints))

    def is_rung(self, step: int) -> bool:
        """Whether ``step`` is a decision step: one of ``checkpoints``; without them, under ``asha``,
        ``min_resource * reduction_factor**k`` (k = 0, 1, ...), under ``top-m`` every step."""
        if self.checkpoints is not None:
            return step in self.checkpoints
        if self.rule == "top-m":
            return True
        if step < self.min_resource or step % self.min_resource:
            return False
        ratio = step // self.min_resource
        while ratio % self.reduction_factor == 0:
            ratio //= self.reduction_factor
        return ratio == 1

    def prunes(self, value: float, others: Iterable[float], maximize: bool) -> bool:
        """:func:`rung_prunes` with these settings."""
        return rung_prunes(
            value,
            others,
            rule=self.rule,
            reduction_factor=self.reduction_factor,
            min_trials=self.min_trials,
            population_size=self.population_size,
            maximize=maximize,
        )

    def describe(self) -> str:
        rungs = (
            sorted(self.checkpoints)
            if self.checkpoints is not None
            else ("every step" if self.rule == "top-m" else f"{self.min_resource}*{self.reduction_factor}^k")
        )
        if self.rule == "top-m":
            return f"rule='top-m', population_size={self.population_size}, rungs={rungs}"
        return f"rule='asha', reduction_factor={self.reduction_factor}, min_trials={self.min_trials}, rungs={rungs}"


class EGIPruner(BasePruner):
    """Stop a candidate early when it is unlikely to be among the best, at rungs (checkpoint epochs).

    Rule ``asha`` (default; successive halving, asynchronous as in ASHA): at each rung a trial is promoted (goes
    on training) only if its intermediate value is in the top ``1/reduction_factor`` of the trials that reached
    that rung so far (finished, pruned or running; ties kept), once at least ``min_trials`` trials did; with
    ``reduction_factor`` 3 about a third of the trials pass each rung. Rule ``top-m``: G2L's survival rule applied
    early, stop when at least ``population_size`` trials that reached the step are strictly better.

    Args:
        population_size: M of the ``top-m`` rule; set it to the sampler's population size.
        checkpoints: the rungs, steps (epochs) at which to decide; None: under ``asha``
            ``min_resource * reduction_factor**k`` (2, 6, 18, ... by default), under ``top-m`` every step.
        wrapped: another pruner asked first (its "prune" wins), e.g. ``MedianPruner``.
        rule: ``asha`` or ``top-m``.
        reduction_factor: eta of ``asha`` (>= 2), the share promoted at each rung is ``1/eta``.
        min_resource: the first rung of ``asha`` when no ``checkpoints`` are given.
        min_trials: ``asha`` decides at a rung only once this many trials reached it (default ``2 * eta``).

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize", pruner=EGIPruner(checkpoints=[1], min_trials=3))
        >>> def objective(trial):
        ...     value = [50.0, 60.0, 70.0, 10.0, 80.0, 55.0][trial.number]
        ...     trial.report(value, 1)
        ...     if trial.should_prune():
        ...         raise optuna.TrialPruned()
        ...     return value
        >>> study.optimize(objective, n_trials=6)
        >>> [t.state.name for t in study.trials]
        ['COMPLETE', 'COMPLETE', 'COMPLETE', 'PRUNED', 'COMPLETE', 'PRUNED']
    """

    def __init__(
        self,
        population_size: int = 50,
        checkpoints: Iterable[int] | None = None,
        wrapped: BasePruner | None = None,
        *,
        rule: str = "asha",
        reduction_factor: int = 3,
        min_resource: int = 3,
        min_trials: int | None = None,
    ) -> None:
        self._rule = RungRule(population_size, checkpoints, rule, reduction_factor, min_resource, min_trials)
        if wrapped is not None and not isinstance(wrapped, BasePruner):
            raise ParameterError(f"wrapped: must be an optuna pruner, got {wrapped!r}")
        self.wrapped = wrapped

    population_size = property(lambda self: self._rule.population_size)
    checkpoints = property(lambda self: self._rule.checkpoints)
    rule = property(lambda self: self._rule.rule)
    reduction_factor = property(lambda self: self._rule.reduction_factor)
    min_resource = property(lambda self: self._rule.min_resource)
    min_trials = property(lambda self: self._rule.min_trials)

    def __repr__(self) -> str:
        return f"EGIPruner({self._rule.describe()})"

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            return True
        step = trial.last_step
        if step is None or not self._rule.is_rung(step):
            return False
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        others = (
            other.intermediate_values[step]
            for other in study.get_trials(deepcopy=False, states=states)
            if other.number != trial.number and step in other.intermediate_values
        )
        maximize = study.direction == StudyDirection.MAXIMIZE
        return self._rule.prunes(trial.intermediate_values[step], others, maximize)
