"""The one trial skeleton of the training objectives: suggest -> reuse a candidate scored before -> train, reporting
per epoch (so pruners work) -> a crash becomes NaN + ``error`` -> user attrs -> objective values. And the check
that a study's directions fit an objective's metrics."""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from g2l_automl import _attrs as attrs
from g2l_automl.errors import G2LError
from g2l_automl.objective._reuse import reuse, scored_before

_LOG = logging.getLogger(__name__)

#: ``callback(epoch, logs)`` of a training: ``logs["val"]`` holds the epoch's validation values when scored.
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class Spent:
    """Training epochs a trial spent so far, every repeat and refinement counted: its ``epochs`` user attr."""

    epochs: int = 0


class HasDirections(Protocol):
    """What :func:`check_study_directions` needs of an objective."""

    metrics: tuple[str, ...]

    @property
    def directions(self) -> list[str]: ...


def check_study_directions(
    study: optuna.Study, objective: HasDirections, where: str = "metric", storage: str | None = None
) -> None:
    """Raise :class:`~g2l_automl.errors.G2LError` unless ``study`` has one direction per metric of ``objective``,
    each the one the metric needs (``objective.directions``). ``where`` names the metric setting in the message
    (e.g. ``"studies/x.yaml: optuna.metric"``); ``storage`` (already masked for display) adds the
    ``optuna create-study`` command that makes a fitting study.

    Example:
        >>> class Objective:
        ...     metrics, directions = ("F1@10", "flops"), ["maximize", "minimize"]
        >>> check_study_directions(optuna.create_study(directions=["maximize", "minimize"]), Objective())
        >>> check_study_directions(optuna.create_study(study_name="s"), Objective())
        Traceback (most recent call last):
            ...
        g2l_automl.errors.G2LError: study 's' has direction(s) minimize but metric gives 2 metric(s) (F1@10, \
flops), which need maximize, minimize; create the study with --directions maximize minimize
    """
    wanted, metrics = list(objective.directions), list(objective.metrics)
    have = [d.name.lower() for d in study.directions]
    if have == wanted:
        return
    flag = "--directions" if len(wanted) > 1 else "--direction"
    if storage is None:
        hint = f"create the study with {flag} {' '.join(wanted)}"
    else:
        hint = (
            f"create a study with: optuna create-study --storage {storage} --study-name NEW_NAME "
            f"{flag} {' '.join(wanted)}"
        )
    if len(have) != len(wanted):
        raise G2LError(
            f"study {study.study_name!r} has direction(s) {', '.join(have)} but {where} gives {len(metrics)} "
            f"metric(s) ({', '.join(metrics)}), which need {', '.join(wanted)}; {hint}"
        )
    i = next(i for i, (h, w) in enumerate(zip(have, wanted, strict=True)) if h != w)
    raise G2LError(
        f"study {study.study_name!r} has direction {have[i]} but metric {metrics[i]} should be {wanted[i]}d "
        f"({where}); {hint}"
    )


def nan_values(n: int) -> float | tuple[float, ...]:
    """The value(s) of a failed trial of an ``n``-objective study."""
    return math.nan if n == 1 else tuple(math.nan for _ in range(n))


class TrialObjective(ABC):
    """The skeleton shared by the training objectives; a subclass gives the candidate, its training and values.

    Each call: :meth:`prepare` (read the data: its errors stop the worker, not the trial), :meth:`suggest` a
    candidate (user attr :attr:`candidate_attr`), return the values of a COMPLETE trial that already scored the
    same candidate under the common seeds (:meth:`reusable`), else :meth:`score_candidate` trains it. While it
    trains, the validation :attr:`report` value goes to ``trial.report`` after every epoch and a pruner may stop
    it, but only when the study's one objective is maximised: with a cost (``flops``, ``params``) minimised, a
    pruner seeing the validation score would cut the best trials. A loss is reported in the study's direction
    (negated when it maximises). Any crash fails that trial alone: NaN value(s) and the ``error`` user attr. The
    user attrs :meth:`score_candidate` returns are set, with ``epochs`` (:class:`Spent`), and
    :meth:`scored_values` gives the trial's values.
    """

    #: the objective's metrics (one per study direction)
    metrics: tuple[str, ...]
    #: the validation value reported after every epoch
    report: str
    #: user attr holding the candidate's JSON
    candidate_attr: ClassVar[str] = attrs.STRUCTURE
    #: metrics to minimise (every other one is maximised)
    costs: ClassVar[frozenset[str]] = frozenset({"params", "flops"})
    #: reported values that are losses (lower is better)
    losses: ClassVar[frozenset[str]] = frozenset({"val_loss"})

    @property
    def directions(self) -> list[str]:
        """The study directions the metrics need."""
        return ["minimize" if name in self.costs else "maximize" for name in self.metrics]

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Work before the first suggestion (e.g. read the data)."""

    @abstractmethod
    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's candidate (with ``to_dict()``)."""

    def reusable(self, trial: optuna.Trial) -> Callable[[FrozenTrial], bool] | None:
        """Which earlier trials' scores ``trial`` may reuse (None: none, e.g. without common seeds)."""
        return lambda t: True

    @abstractmethod
    def score_candidate(
        self, trial: optuna.Trial, candidate: Any, on_epoch: EpochCallback, spent: Spent
    ) -> dict[str, Any]:
        """Train and score ``candidate``, calling ``on_epoch`` after every epoch (it counts ``spent``); returns the
        user attrs to set (those :meth:`scored_values` reads among them)."""

    @abstractmethod
    def scored_values(self, scored: dict[str, Any]) -> float | tuple[float, ...]:
        """The objective value(s) of :meth:`score_candidate`'s attrs."""

    def epoch_weight(self) -> int:
        """Trainings per reported epoch (repeats in lockstep), for ``epochs``."""
        return 1

    def failed(self, trial: optuna.Trial, exc: Exception) -> float | tuple[float, ...]:
        """Fail ``trial`` alone: its error in the ``error`` user attr, NaN as its value(s)."""
        _LOG.warning("trial %d failed: %s", trial.number, exc, exc_info=not isinstance(exc, G2LError))
        trial.set_user_attr(attrs.ERROR, f"{type(exc).__name__}: {exc}")
        return nan_values(len(self.metrics))

    def reports(self, trial: optuna.Trial) -> bool:
        """Whether ``trial`` reports per epoch: one objective, maximised by this objective."""
        return len(trial.study.directions) == 1 and self.directions == ["maximize"]

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        self.prepare()
        try:  # a candidate that cannot be built fails this trial alone, as a failed training does
            candidate = self.suggest(trial)
        except Exception as exc:
            return self.failed(trial, exc)
        trial.set_user_attr(self.candidate_attr, candidate.to_dict())
        match = self.reusable(trial)
        earlier = None if match is None else scored_before(trial, self.candidate_attr, candidate.to_dict(), match)
        if earlier is not None:
            return reuse(trial, earlier)
        reports = self.reports(trial)
        negate = self.report in self.losses and reports and trial.study.direction == StudyDirection.MAXIMIZE
        spent, weight = Spent(), self.epoch_weight()

        def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
            spent.epochs = epoch * weight
            if reports and "val" in logs:
                value = logs["val"][self.report]
                trial.report(-value if negate else value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.report}={value:.4g}")

        try:
            scored = self.score_candidate(trial, candidate, on_epoch, spent)
        except optuna.TrialPruned:
            trial.set_user_attr(attrs.EPOCHS, spent.epochs)
            raise
        except Exception as exc:  # one bad candidate (NaN loss, out of memory, ...) must not stop the search
            trial.set_user_attr(attrs.EPOCHS, spent.epochs)
            return self.failed(trial, exc)
        trial.set_user_attr(attrs.EPOCHS, spent.epochs)
        for key, value in scored.items():
            trial.set_user_attr(key, value)
        return self.scored_values(scored)
