"""The search objective: train a candidate structure briefly on the train part, score it on the validation split."""

from __future__ import annotations

import heapq
import math
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from g2l_automl import _attrs as attrs
from g2l_automl._checks import check_int, check_real
from g2l_automl.data import ActionSegmentationDataset, Video, iterate_batches
from g2l_automl.egi import EGILocalSearch, LocalSearchResult
from g2l_automl.errors import G2LError
from g2l_automl.metrics import METRIC_NAMES, count_flops
from g2l_automl.models import build_model
from g2l_automl.objective._trial import EpochCallback, Spent, TrialObjective
from g2l_automl.spaces import SearchSpace, check_encoding
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, replace_trainer, segmentation_loss

#: Objective values besides the segmentation metrics: ``params`` is the model's parameter count, ``flops`` the
#: FLOPs of one forward pass over :data:`FLOPS_FRAMES` frames (PyTorch's flop counter; linear in the length).
EXTRA_METRICS: tuple[str, ...] = ("params", "flops")
FLOPS_FRAMES = 1000
#: Per-epoch values a :class:`SegmentationObjective` can report for pruning: the validation metrics, or
#: ``val_loss``, the training loss on the validation videos (reported negated in a maximised study, so that larger
#: is better as pruners assume; on rf-planted it ranks candidates early better than F1@10, benchmarks/RESULTS.md).
REPORT_METRICS: tuple[str, ...] = (*METRIC_NAMES, "val_loss")


@dataclass
class Score:
    """A candidate's validation score: the mean over repeats of each metric, their standard deviation (0 for one
    repeat), each repeat's metrics, the parameter count, the training seconds of all repeats and, for a score that
    ``rescore_top`` trained again, the metrics before it did (``first``)."""

    metrics: dict[str, float]
    std: dict[str, float]
    repeats: list[dict[str, float]]
    n_params: int
    seconds: float
    first: dict[str, float] | None = None


def check_rescore_top(rescore_top: int, metrics: Sequence[str]) -> int:
    """``rescore_top`` checked against the objective's ``metrics``: an integer >= 0, and when set, one maximised
    validation metric (a cost such as ``params`` is not noisy). Raises :class:`~g2l_automl.errors.G2LError`."""
    check_int(rescore_top, "rescore_top", 0)
    if rescore_top and (len(metrics) != 1 or metrics[0] in EXTRA_METRICS):
        raise G2LError(f"rescore_top: needs one maximised validation metric, not {', '.join(metrics)}")
    return rescore_top


def _mean(dicts: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.fmean(d[k] for d in dicts) for k in dicts[0]}


def _std(dicts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Sample standard deviation (n - 1) per metric; 0 for a single repeat."""
    return {k: statistics.stdev(d[k] for d in dicts) if len(dicts) > 1 else 0.0 for k in dicts[0]}


class SegmentationObjective(TrialObjective):
    """Optuna objective for structure search (G2L Eq. 2: ``E(C) = f(V | C, theta_n)``).

    Each call asks ``space`` for a structure, trains it for ``trainer.epochs`` epochs (G2L: 5) on the train part
    of ``split`` and scores it on a validation part carved from the train list (never the test list). When the
    study's one objective is a validation metric, it reports the validation ``report`` metric after every epoch
    (``trial.report``, so pruners work; never with ``params`` / ``flops`` minimised, where a pruner would cut the
    best trials) and returns ``metric`` (one name, or several for a multi-objective study); the trial skeleton is
    :class:`~g2l_automl.objective.TrialObjective`'s. The structure JSON, all validation metrics, the
    parameter count, the training time and the training epochs spent (``epochs``: every repeat, the epochs before
    a prune, the refinement's, 0 for a structure scored before) go to the trial's user attrs. A crash or a NaN
    loss fails that trial alone (its message is kept in the ``error`` user attr); the study and the worker go on.

    Args:
        dataset: the dataset (MS-TCN layout).
        space: the search space.
        trainer: how candidates are trained (default: ``Trainer(epochs=5, batch_size=8, progress=False)``,
            the G2L global-search setting).
        split: split (fold) number.
        val_fraction: fraction of the train list held out for validation.
        split_seed: seed of that hold-out draw.
        metric: ``F1@10`` (G2L's fitness), ``F1@25``, ``F1@50``, ``Edit``, ``Acc``, ``params`` or ``flops``; or a
            list, e.g. ``["F1@10", "flops"]`` for a study with directions maximize, minimize.
        report: validation value reported each epoch for pruning: a metric name, or ``val_loss`` (the training
            loss on the validation videos, negated in a maximised study; see :data:`REPORT_METRICS`).
        model_seed: seed of the initial weights.
        refine: an :class:`~g2l_automl.egi.EGILocalSearch`: trials that survive pruning are refined in the trial;
            the value is then the refined structure's (user attrs ``refined_structure``, ``trajectory``,
            ``unrefined_metrics``).
        encoding: how genes are asked for, ``categorical`` or ``index`` (integers, e.g. for CMA-ES).
        repeats: N, trainings per candidate: repeat ``r`` uses model seed ``model_seed + r`` and trainer seed
            ``trainer.seed + r``; the value is the mean, user attrs ``repeats`` (each repeat's metrics) and
            ``metrics_std`` keep the spread, and a pruner sees the per-epoch mean (the repeats train in lockstep).
        rotate_val: repeat ``r`` also holds out validation fold ``r`` of the train list (K-fold style, see
            :meth:`~g2l_automl.data.ActionSegmentationDataset.train_val_split`) instead of the same part.
        common_seeds: common random numbers: every candidate trains from the same seeds (initial weights, batch
            order, dropout), so candidates differ only by structure. ``False`` offsets the seeds by the trial number.
        val_fold: the validation fold of the first repeat (0: the plain split); later repeats rotate from it.
        rescore_top: K >= 0, re-scoring on promotion (0: off): a candidate whose value would rank among the
            study's best K COMPLETE values so far (or any candidate while fewer than K are complete) is trained
            :attr:`repeats` more times as repeats ``repeats .. 2 * repeats - 1`` (fresh seeds; with
            ``rotate_val`` also the next validation folds) and its value becomes the mean of all its trainings
            (user attrs ``rescored``: the first value's metrics, ``repeats``, ``metrics_std``). So the structures
            that lead the study and breed in a genetic search are never single lucky draws (the winner's curse of
            a noisy fitness), at the cost of a second training for the few that would lead. One maximised
            validation metric only.

    Candidates are never trained twice: a trial whose structure a COMPLETE trial of the study already scored (an
    enqueued repeat, or a sampler without the genetic samplers' duplicate rule) returns that trial's values and
    metrics without training, with user attr ``duplicate_of`` (that trial's number) and ``train_seconds`` 0.

    Example:
        >>> import optuna, tempfile
        >>> from g2l_automl.data import generate
        >>> from g2l_automl.spaces import Dilations
        >>> from g2l_automl.structure import StructureSpec
        >>> root = generate(tempfile.mkdtemp() + "/d", "tiny", seed=0, num_videos=6)
        >>> space = SearchSpace(StructureSpec.mstcn(1, 3, channels=8), [Dilations(k=2, T=3)])
        >>> objective = SegmentationObjective(ActionSegmentationDataset(root), space,
        ...                                   trainer=Trainer(epochs=1, progress=False), val_fraction=0.34)
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=2)
        >>> sorted(study.best_trial.user_attrs)
        ['epochs', 'flops', 'metrics', 'params', 'structure', 'train_seconds']
    """

    def __init__(
        self,
        dataset: ActionSegmentationDataset,
        space: SearchSpace,
        *,
        trainer: Trainer | None = None,
        split: int = 1,
        val_fraction: float = 0.25,
        split_seed: int = 0,
        metric: str | Sequence[str] = "F1@10",
        report: str = "F1@10",
        model_seed: int = 0,
        refine: EGILocalSearch | None = None,
        encoding: str = "categorical",
        repeats: int = 1,
        rotate_val: bool = False,
        common_seeds: bool = True,
        val_fold: int = 0,
        rescore_top: int = 0,
    ) -> None:
        known = METRIC_NAMES + EXTRA_METRICS
        self.metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        for name in self.metrics:
            if name not in known:
                raise G2LError(f"metric: unknown metric {name!r}; choose from {', '.join(known)}")
        if not self.metrics:
            raise G2LError("metric: at least one metric is needed")
        if report not in REPORT_METRICS:
            raise G2LError(f"report: unknown metric {report!r}; choose from {', '.join(REPORT_METRICS)}")
        # candidates are scored on held-out videos: some, and not all of the train list
        check_real(val_fraction, "val_fraction", 0.0, 1.0, open_low=True, open_high=True)
        self.dataset = dataset
        self.space = space
        self.trainer = trainer or Trainer(epochs=5, batch_size=8, progress=False)
        self.split = split
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.report = report
        self.model_seed = model_seed
        self.refine = refine
        self.encoding = check_encoding(encoding)
        check_int(repeats, "repeats")
        check_int(val_fold, "val_fold", 0)
        for name, flag in (("rotate_val", rotate_val), ("common_seeds", common_seeds)):
            if not isinstance(flag, bool):
                raise G2LError(f"{name}: must be true or false, got {flag!r}")
        self.repeats, self.rotate_val, self.common_seeds, self.val_fold = repeats, rotate_val, common_seeds, val_fold
        self.rescore_top = check_rescore_top(rescore_top, self.metrics)
        self._parts: dict[int, tuple[list[Video], list[Video]]] = {}  # validation fold -> (train, validation)
        self._loaded: dict[str, Video] | None = None
        self._lock = threading.Lock()

    def parts(self, first: int = 0) -> list[tuple[list[Video], list[Video]]]:
        """The (train, validation) videos of repeats ``first .. first + repeats - 1``: repeat ``r`` holds out
        validation fold ``val_fold + r`` with ``rotate_val``, else the plain part. Read once and shared by all
        trials of this process."""
        with self._lock:
            folds = [self.val_fold + (r if self.rotate_val else 0) for r in range(first, first + self.repeats)]
            for k in folds:
                if k in self._parts:
                    continue
                train, val = self.dataset.train_val_split(self.split, self.val_fraction, self.split_seed, k)
                if not val:
                    raise G2LError(f"val_fraction={self.val_fraction} leaves no validation video in split {self.split}")
                if self._loaded is None:  # every fold splits the same train list
                    self._loaded = {v.name: v for v in self.dataset.load(sorted(train + val))}
                self._parts[k] = ([self._loaded[n] for n in train], [self._loaded[n] for n in val])
            return [self._parts[k] for k in folds]

    def videos(self) -> tuple[list[Video], list[Video]]:
        """The (train, validation) videos of the first repeat (the plain split of ``val_fraction`` by default)."""
        return self.parts()[0]

    def evaluate(
        self,
        structure: StructureSpec,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
        seed_offset: int = 0,
        first: int = 0,
    ) -> Score:
        """Train ``structure`` from scratch :attr:`repeats` times, as repeats ``first ..`` (their validation folds,
        see :meth:`parts`; seeds offset by ``seed_offset`` + the repeat's place), and score each on its validation
        videos. The repeats train in lockstep, so ``callback(epoch, logs)`` gets each epoch's logs with ``val`` the
        mean of the repeats' validation metrics (where every repeat scored that epoch)."""
        parts = self.parts(first)
        runs = []
        for r, (train, val) in enumerate(parts):
            seed = self.model_seed + seed_offset + r
            model = build_model(structure, train[0].features.shape[0], self.dataset.num_classes, seed=seed)
            trainer = replace_trainer(self.trainer, seed=self.trainer.seed + seed_offset + r)
            runs.append((model, trainer.epochs_of(model, train, val, self.dataset.bg_labels)))
        n_params = sum(p.numel() for p in runs[0][0].parameters())
        histories: list[list[dict[str, Any]]] = [[] for _ in runs]
        for epoch in range(1, self.trainer.epochs + 1):
            for (model, epochs), history, (_, val) in zip(runs, histories, parts, strict=True):
                history.append(next(epochs))
                if self.report == "val_loss" and "val" in history[-1]:
                    history[-1]["val"] = dict(history[-1]["val"], val_loss=self._val_loss(model, val))
            if callback is not None:
                logs = dict(histories[0][-1])
                if all("val" in h[-1] for h in histories):
                    logs["val"] = _mean([h[-1]["val"] for h in histories])
                callback(epoch, logs)
        repeats = [{k: v for k, v in h[-1]["val"].items() if k != "val_loss"} for h in histories]
        seconds = round(sum(e["seconds"] for h in histories for e in h), 3)
        return Score(_mean(repeats), _std(repeats), repeats, n_params, seconds)

    def _val_loss(self, model: torch.nn.Module, videos: Sequence[Video]) -> float:
        """The training loss (:func:`~g2l_automl.training.segmentation_loss`) of ``model`` on ``videos``, in eval
        mode, mean over videos; the training's random state is left alone."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        total, n = 0.0, 0
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                for batch in iterate_batches(videos, self.trainer.batch_size, rng=None):
                    batch = batch.to(device)
                    outputs = model(batch.features, batch.mask)
                    t = self.trainer
                    loss = segmentation_loss(outputs, batch.labels, batch.mask, t.smoothing_weight, t.tau)
                    total, n = total + float(loss) * len(batch.names), n + len(batch.names)
        finally:
            model.train(was_training)
        return total / n

    def score(
        self, structure: StructureSpec, callback: Callable[[int, dict[str, Any]], None] | None = None
    ) -> tuple[dict[str, float], int, float]:
        """:meth:`evaluate`, as ``(mean validation metrics, parameter count, training seconds)``."""
        result = self.evaluate(structure, callback)
        return result.metrics, result.n_params, result.seconds

    def flops(self, structure: StructureSpec) -> int:
        """FLOPs of one forward pass of ``structure``'s model over :data:`FLOPS_FRAMES` frames."""
        dim = self.videos()[0][0].features.shape[0]
        model = build_model(structure, dim, self.dataset.num_classes, seed=0)
        return count_flops(model, torch.zeros(1, dim, FLOPS_FRAMES), torch.ones(1, 1, FLOPS_FRAMES))

    def values(self, metrics: dict[str, float], n_params: int, flops: int | None = None) -> float | tuple[float, ...]:
        """The objective value(s) of a scored structure (``flops``, from :meth:`flops`, is needed for ``flops``)."""
        out = []
        for name in self.metrics:
            if name == "params":
                out.append(float(n_params))
            elif name == "flops":
                if flops is None:
                    raise G2LError("metric flops: the structure's FLOPs are needed (SegmentationObjective.flops)")
                out.append(float(flops))
            else:
                out.append(float(metrics[name]))
        return out[0] if len(out) == 1 else tuple(out)

    def prepare(self) -> None:
        self.parts()  # the data is read before the first trial: its errors stop the worker, not a trial

    def suggest(self, trial: optuna.Trial) -> StructureSpec:
        return self.space.suggest(trial, self.encoding)

    def epoch_weight(self) -> int:
        return self.repeats

    def reusable(self, trial: optuna.Trial) -> Callable[[FrozenTrial], bool] | None:
        # with common seeds a structure scores the same in any trial: one scored before is not trained again
        # (with in-trial refinement only trials refined in the trial match, without it only unrefined ones)
        if not self.common_seeds:
            return None
        refined = self.refine is not None
        return lambda t: (attrs.REFINED_STRUCTURE in t.user_attrs) == refined

    def score_candidate(
        self, trial: optuna.Trial, candidate: StructureSpec, on_epoch: EpochCallback, spent: Spent
    ) -> dict:
        structure = candidate
        offset = 0 if self.common_seeds else trial.number
        result = self.rescored(trial.study, structure, self.evaluate(structure, on_epoch, offset), offset)
        metrics, n_params, seconds = result.metrics, result.n_params, result.seconds
        spent.epochs = self._training_epochs(result)
        for key, value in self.score_attrs(result).items():
            trial.set_user_attr(key, value)
        if self.refine is not None:
            trial.set_user_attr(attrs.UNREFINED_METRICS, metrics)
            metrics, n_params, seconds, structure, more = self._refine(trial, structure, seconds)
            spent.epochs += more
        flops = self.flops(structure)
        return {attrs.PARAMS: n_params, attrs.FLOPS: flops, attrs.METRICS: metrics, attrs.TRAIN_SECONDS: seconds}

    def rescored(self, study: optuna.Study, structure: StructureSpec, score: Score, seed_offset: int = 0) -> Score:
        """``score`` of ``structure``, or, when ``rescore_top`` is set and its value would rank among the best
        ``rescore_top`` COMPLETE values of ``study`` (or fewer are complete), the mean of it and :attr:`repeats`
        more trainings as repeats ``repeats ..`` (fresh seeds; with ``rotate_val`` the next validation folds),
        with ``first`` = ``score``'s metrics."""
        if not self.rescore_top:
            return score
        values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        leaders = heapq.nlargest(self.rescore_top, (v for v in values if v is not None and math.isfinite(v)))
        if len(leaders) == self.rescore_top and float(score.metrics[self.metrics[0]]) <= leaders[-1]:
            return score
        more = self.evaluate(structure, seed_offset=seed_offset + self.repeats, first=self.repeats)
        runs = score.repeats + more.repeats
        seconds = round(score.seconds + more.seconds, 3)
        return Score(_mean(runs), _std(runs), runs, score.n_params, seconds, first=score.metrics)

    @staticmethod
    def score_attrs(score: Score) -> dict[str, Any]:
        """The user attrs of a score's trainings: ``rescored`` (the metrics before re-scoring) when re-scored,
        each training's metrics (``repeats``) and their spread (``metrics_std``) when there are several."""
        out: dict[str, Any] = {} if score.first is None else {attrs.RESCORED: score.first}
        if len(score.repeats) > 1:
            out.update({attrs.REPEATS: score.repeats, attrs.METRICS_STD: score.std})
        return out

    def _training_epochs(self, score: Score) -> int:
        """Epochs of the trainings behind ``score`` (every repeat and re-scoring)."""
        return self.trainer.epochs * len(score.repeats)

    def scored_values(self, scored: dict[str, Any]) -> float | tuple[float, ...]:
        return self.values(scored[attrs.METRICS], scored[attrs.PARAMS], scored[attrs.FLOPS])

    def refine_structure(
        self, structure: StructureSpec, search: EGILocalSearch, study: optuna.Study | None = None
    ) -> tuple[LocalSearchResult, Score]:
        """Local search from ``structure`` on the train part, then the refined structure trained and scored as a
        search candidate is (re-scored by ``rescore_top`` against ``study``'s values when given):
        ``(search result, its validation score)``."""
        train, _ = self.videos()
        result = search.run(structure, train, num_classes=self.dataset.num_classes, bg_labels=self.dataset.bg_labels)
        score = self.evaluate(result.structure)
        return result, score if study is None else self.rescored(study, result.structure, score)

    def refinement_epochs(self, result: LocalSearchResult, score: Score) -> int:
        """Training epochs of a :meth:`refine_structure`: the local search's supernet epochs, then every training
        of the refined structure (repeats and re-scoring)."""
        return result.epochs + self._training_epochs(score)

    def _refine(
        self, trial: optuna.Trial, structure: StructureSpec, seconds: float
    ) -> tuple[dict[str, float], int, float, StructureSpec, int]:
        """In-trial EGI refinement of a trial that survived pruning: the trial's value becomes the refined one's
        (the last item: the refinement's training epochs)."""
        assert self.refine is not None
        result, score = self.refine_structure(structure, self.refine, trial.study)
        trial.set_user_attr(attrs.REFINED_STRUCTURE, result.structure.to_dict())
        trial.set_user_attr(attrs.TRAJECTORY, result.trajectory)
        trial.set_user_attr(attrs.METHOD, self.refine.method)
        search_seconds = sum(h["seconds"] for h in result.history)
        seconds = round(seconds + search_seconds + score.seconds, 3)
        return score.metrics, score.n_params, seconds, result.structure, self.refinement_epochs(result, score)
