"""EGIPruner: the genetic search's top-M selection applied early, at checkpoint epochs (multi-fidelity)."""

from __future__ import annotations

from collections.abc import Iterable

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


def cannot_make_top(value: float, others: Iterable[float], population_size: int, maximize: bool = True) -> bool:
    """Whether at least ``population_size`` of ``others`` are strictly better than ``value``: the genetic search's
    top-M survival rule, shared by :class:`EGIPruner` and the NNI ``EGIAssessor``.

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


class EGIPruner(BasePruner):
    """Prune a trial whose intermediate value at a checkpoint step cannot make the top ``population_size`` of the
    trials that reached that step (at least ``population_size`` of them are strictly better), the survival rule
    of G2L's genetic search applied before training ends.

    Args:
        population_size: M; set it to the sampler's population size.
        checkpoints: steps (epochs) at which to decide; None: every reported step.
        wrapped: another pruner asked first (its "prune" wins), e.g. ``MedianPruner``.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize", pruner=EGIPruner(population_size=2, checkpoints=[1]))
        >>> def objective(trial):
        ...     value = [50.0, 60.0, 70.0, 10.0][trial.number]
        ...     trial.report(value, 1)
        ...     if trial.should_prune():
        ...         raise optuna.TrialPruned()
        ...     return value
        >>> study.optimize(objective, n_trials=4)
        >>> [t.state.name for t in study.trials]
        ['COMPLETE', 'COMPLETE', 'COMPLETE', 'PRUNED']
    """

    def __init__(
        self,
        population_size: int = 50,
        checkpoints: Iterable[int] | None = None,
        wrapped: BasePruner | None = None,
    ) -> None:
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 1:
            raise ValueError(f"population_size: must be an integer >= 1, got {population_size!r}")
        self.population_size = population_size
        self.checkpoints = None if checkpoints is None else frozenset(int(c) for c in checkpoints)
        self.wrapped = wrapped

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            return True
        step = trial.last_step
        if step is None or (self.checkpoints is not None and step not in self.checkpoints):
            return False
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        others = (
            other.intermediate_values[step]
            for other in study.get_trials(deepcopy=False, states=states)
            if other.number != trial.number and step in other.intermediate_values
        )
        maximize = study.direction == StudyDirection.MAXIMIZE
        return cannot_make_top(trial.intermediate_values[step], others, self.population_size, maximize)
