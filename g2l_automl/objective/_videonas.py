"""Optuna objective over a Video-NAS space: train the discrete network of a trial, score mAP on validation videos."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
import torch

from g2l_automl import _attrs as attrs
from g2l_automl.data import ClassificationSet
from g2l_automl.errors import G2LError
from g2l_automl.metrics import count_flops, count_parameters
from g2l_automl.models import VideoNASArch, build_videonas
from g2l_automl.nas import VideoNASSpace
from g2l_automl.objective._trial import EpochCallback, Spent, TrialObjective
from g2l_automl.training import ClassifierTrainer

#: Objective values of :class:`VideoNASObjective` and the study direction each needs.
VIDEONAS_METRICS: dict[str, str] = {"mAP": "maximize", "flops": "minimize", "params": "minimize"}


def arch_cost(arch: VideoNASArch, input_dim: int, num_classes: int, steps: int) -> tuple[int, int]:
    """``(FLOPs, parameters)`` of the discrete network of ``arch`` on one video of ``steps`` steps."""
    model = build_videonas(arch, input_dim, num_classes, seed=None)
    return count_flops(model, torch.zeros(1, input_dim, steps)), count_parameters(model)


def train_and_score(
    arch: VideoNASArch,
    train: ClassificationSet,
    score_on: ClassificationSet,
    trainer: ClassifierTrainer,
    *,
    dropout: float = 0.5,
    seed: int = 0,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    init_state: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Train the discrete network of ``arch`` from scratch (weights drawn under ``seed``), or from ``init_state``
    (e.g. the searched weights, :attr:`~g2l_automl.nas.VideoNASResult.weights`), on ``train`` and score it on
    ``score_on``: ``{"metrics": {"mAP"}, "flops", "params", "train_seconds"}``."""
    steps = int(train.features.shape[2])
    flops, params = arch_cost(arch, train.input_dim, train.num_classes, steps)
    model = build_videonas(arch, train.input_dim, train.num_classes, dropout, seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    start = time.perf_counter()
    history = trainer.fit(model, train, score_on, callback=callback)
    return {
        "metrics": dict(history[-1]["val"]),
        "flops": flops,
        "params": params,
        "train_seconds": round(time.perf_counter() - start, 3),
    }


class VideoNASObjective(TrialObjective):
    """Optuna objective for a :class:`~g2l_automl.nas.VideoNASSpace`.

    Each call asks the space for an architecture, builds its discrete network, trains it from scratch with
    ``trainer`` on ``train`` and scores it on ``val``. It returns ``metric``: ``mAP`` (validation, percent),
    ``flops`` (one forward pass at the sets' number of steps) or ``params``, or a list of them for a
    multi-objective study (see :data:`VIDEONAS_METRICS` for the directions). A study whose one objective is mAP
    gets the validation mAP reported after every epoch, so pruners work (the trial skeleton is
    :class:`~g2l_automl.objective.TrialObjective`'s). User attrs: ``arch``, ``metrics``, ``flops``,
    ``params``, ``train_seconds``, ``epochs`` (the epochs trained, those before a prune included). A crash fails
    that trial alone: its message goes to the ``error`` user attr and the value is NaN. Every candidate trains
    from the same seeds (common random numbers), so an architecture a COMPLETE trial already scored is not
    trained again: the trial returns that trial's values and attrs, with ``duplicate_of``.

    Args:
        space: the search space.
        train, val: classification sets (see :func:`classification_splits`).
        trainer: how candidates are trained (default ``ClassifierTrainer(epochs=10)``).
        metric: one name or a list.
        dropout: dropout before the classifier.
        model_seed: seed of the initial weights.

    Example:
        >>> import optuna
        >>> from g2l_automl.data import ClassificationSet
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(8, 4, 16, generator=g), (torch.rand(8, 3, generator=g) > 0.5).float()
        >>> data = ClassificationSet(tuple("abcdefgh"), x, y, ("p", "q", "r"))
        >>> space = VideoNASSpace(widths=[[4, 8], [8, 12]], max_layers=[1, 1], stem_channels=4)
        >>> objective = VideoNASObjective(space, data, data, trainer=ClassifierTrainer(epochs=1, batch_size=4))
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=2)
        >>> sorted(study.best_trial.user_attrs)
        ['arch', 'epochs', 'flops', 'metrics', 'params', 'train_seconds']
    """

    def __init__(
        self,
        space: VideoNASSpace,
        train: ClassificationSet,
        val: ClassificationSet,
        *,
        trainer: ClassifierTrainer | None = None,
        metric: str | Sequence[str] = "mAP",
        dropout: float = 0.5,
        model_seed: int = 0,
    ) -> None:
        self.metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        if not self.metrics:
            raise G2LError("metric: at least one metric is needed")
        for name in self.metrics:
            if name not in VIDEONAS_METRICS:
                raise G2LError(f"metric: unknown metric {name!r}; choose from {', '.join(VIDEONAS_METRICS)}")
        if len(val) == 0:
            raise G2LError("val: candidates are scored on validation videos; none given")
        if train.input_dim != val.input_dim or train.features.shape[2] != val.features.shape[2]:
            raise G2LError("train / val: the sets differ in feature dimension or number of steps")
        self.space = space
        self.train = train
        self.val = val
        self.trainer = trainer or ClassifierTrainer(epochs=10, batch_size=16)
        self.dropout = dropout
        self.model_seed = model_seed

    candidate_attr = attrs.ARCH
    report = "mAP"

    @property
    def steps(self) -> int:
        return int(self.train.features.shape[2])

    def score(
        self, arch: VideoNASArch, callback: Callable[[int, dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Train ``arch`` from scratch on the train set and score it on the validation set (see
        :func:`train_and_score`)."""
        return train_and_score(
            arch, self.train, self.val, self.trainer, dropout=self.dropout, seed=self.model_seed, callback=callback
        )

    def values(self, scored: dict[str, Any]) -> float | tuple[float, ...]:
        """The objective value(s) of a :meth:`score` result."""
        values = tuple(float(scored[n]) if n != "mAP" else float(scored["metrics"]["mAP"]) for n in self.metrics)
        return values[0] if len(values) == 1 else values

    def suggest(self, trial: optuna.Trial) -> VideoNASArch:
        return self.space.suggest(trial)

    def score_candidate(
        self, trial: optuna.Trial, candidate: VideoNASArch, on_epoch: EpochCallback, spent: Spent
    ) -> dict:
        scored = self.score(candidate, on_epoch)  # the model seed is common: same arch, same score
        return {key: scored[key] for key in (attrs.METRICS, attrs.FLOPS, attrs.PARAMS, attrs.TRAIN_SECONDS)}

    def scored_values(self, scored: dict[str, Any]) -> float | tuple[float, ...]:
        return self.values(scored)
