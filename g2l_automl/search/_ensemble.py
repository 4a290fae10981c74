"""EvaNet's ensemble (Sec. 4.2): late fusion ``F*(x) = sum_i F_i(x)`` of the softmax outputs of the top few
*diverse* architectures of a search study (pairwise Hamming distance at least ``min_distance`` genes), each trained
from scratch on the train list and scored on the test list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from g2l_automl._attrs import trial_structure
from g2l_automl._checks import check_int
from g2l_automl.config import StudyConfig
from g2l_automl.data import ActionSegmentationDataset, Video
from g2l_automl.errors import G2LError
from g2l_automl.metrics import METRIC_NAMES, evaluate
from g2l_automl.models import build_model
from g2l_automl.samplers import sort_best_first
from g2l_automl.search._diversity import hamming_distance, pairwise_distances
from g2l_automl.search._run import config_trainer, format_dilations
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, predict_probabilities, resolve_device


def architecture_key(spec: StructureSpec) -> tuple[Any, ...]:
    """What makes two models the same architecture; the spec's name (e.g. "mstcn" vs "custom") does not count."""
    return spec.stages, float(spec.dropout)


#: Default least Hamming distance (:func:`~g2l_automl.search.hamming_distance`, in genes) between two ensemble
#: members. Measured (benchmarks/RESULTS.md, "Ensemble diversity"): on six trained 10-trial evolutions, 1 and 2 gave
#: the same members; 3 changed a member in four of them and raised the ensemble's test F1@10 in all four (+0.7 to
#: +3.5). The cost: on a converged 300-trial G2L search, whose top 10 are all single-mutation neighbours, 3 takes
#: ranks 1, 53, 68 (2 would take 1, 13, 15).
DEFAULT_MIN_DISTANCE = 3


def select_members(
    study: optuna.Study, top: int, min_distance: int = DEFAULT_MIN_DISTANCE
) -> tuple[list[tuple[FrozenTrial, StructureSpec]], int]:
    """The ``top`` best COMPLETE trials whose architectures are pairwise at least ``min_distance`` genes apart
    (:func:`~g2l_automl.search.hamming_distance`), best first (by value in the study's direction; several
    objectives: Pareto front, then crowding distance), and how many distinct architectures there are.

    Greedy in rank order: a trial joins when its architecture differs from every member chosen so far (same
    architecture: skipped) in at least ``min_distance`` genes, so the best trial is always a member and
    ``min_distance=1`` only rules out repeats. Fewer than ``top`` qualify: the caller says so.

    Example:
        >>> s = [StructureSpec.mstcn(1, 2, channels=8).with_layer(0, 0, dilation=d).to_dict() for d in (1, 3)]
        >>> study = optuna.create_study(direction="maximize")
        >>> for value, structure in [(50.0, s[0]), (70.0, s[0]), (60.0, s[1])]:
        ...     study.add_trial(optuna.trial.create_trial(value=value, user_attrs={"structure": structure}))
        >>> members, distinct = select_members(study, top=3, min_distance=1)
        >>> [t.number for t, _ in members], distinct
        ([1, 2], 2)
        >>> [t.number for t, _ in select_members(study, top=3, min_distance=2)[0]]  # one gene apart: too close
        [1]
    """
    check_int(top, "top", 1, error=G2LError)
    min_distance = check_int(min_distance, "min_distance", 1, error=G2LError)
    pool = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        spec = trial_structure(trial)
        if spec is not None:
            pool.append((trial, spec))
    if not pool:
        raise G2LError(
            f"study {study.study_name!r} has no COMPLETE trial with a 'structure' user attr (made by g2l-optimize "
            "search or refine) to ensemble"
        )
    specs = {trial.number: spec for trial, spec in pool}
    chosen: list[tuple[FrozenTrial, StructureSpec]] = []
    seen: set[tuple[Any, ...]] = set()
    for trial in sort_best_first(study, [t for t, _ in pool]):
        key = architecture_key(specs[trial.number])
        if key in seen:
            continue
        seen.add(key)
        spec = specs[trial.number]
        if len(chosen) < top and all(hamming_distance(spec, other) >= min_distance for _, other in chosen):
            chosen.append((trial, spec))
    return chosen, len(seen)


def late_fusion(probabilities: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """EvaNet's late fusion: ``probabilities[m][v]`` is member ``m``'s ``(classes, frames)`` softmax output on video
    ``v``; returns, per video, the per-frame argmax of the members' summed probabilities.

    Example:
        >>> a = np.array([[0.6, 0.2], [0.4, 0.8]])   # member 0: class 0 then class 1
        >>> b = np.array([[0.1, 0.5], [0.9, 0.5]])   # member 1: class 1, then a tie
        >>> late_fusion([[a], [b]])[0].tolist()        # sums [0.7, 0.7] / [1.3, 1.3]
        [1, 1]
    """
    if not probabilities:
        raise G2LError("late fusion: no member probabilities")
    n_videos = len(probabilities[0])
    if any(len(member) != n_videos for member in probabilities):
        raise G2LError("late fusion: the members scored different numbers of videos")
    fused = []
    for v in range(n_videos):
        shapes = {np.shape(member[v]) for member in probabilities}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise G2LError(f"late fusion: video {v}: members give probabilities of shapes {sorted(shapes)}")
        total = np.sum([np.asarray(member[v], dtype=np.float64) for member in probabilities], axis=0)
        fused.append(total.argmax(axis=0))
    return fused


def summarize_structure(spec: StructureSpec) -> str:
    """One short line: stages x layers, the dilations per stage, and ops/kernels/widths where not uniform."""
    layers = [layer for _, _, layer in spec.layers()]
    depths = sorted({len(stage.layers) for stage in spec.stages})
    line = f"{len(spec.stages)}x{'/'.join(map(str, depths))} d {format_dilations(spec.dilations())}"
    for name, values in (
        ("ops", [layer.op for layer in layers]),
        ("k", [layer.kernel_size for layer in layers]),
        ("ch", [layer.channels for layer in layers]),
    ):
        if len(set(values)) > 1:
            line += f" {name} " + " ".join(str(v) for v in values)
    return line


@dataclass(frozen=True)
class LoadedSplit:
    """A config's split loaded for final scoring: its whole train list, its test list with the full-rate labels,
    the background class indices and the number of classes (see :func:`load_test_split`)."""

    train: list[Video]
    test: list[Video]
    truths: list[np.ndarray]
    bg: tuple[int, ...]
    num_classes: int


def load_test_split(config: StudyConfig) -> LoadedSplit:
    """The config's dataset (``data.root``, ``sample_rate``, ``bg_classes``): split ``data.split``'s whole train
    list (no validation carved out) and its test list."""
    d = config.data
    dataset = ActionSegmentationDataset(d["root"], sample_rate=d["sample_rate"], bg_classes=tuple(d["bg_classes"]))
    train = dataset.load(dataset.split("train", d["split"]))
    test = dataset.load(dataset.split("test", d["split"]))
    return LoadedSplit(train, test, [v.full_labels for v in test], tuple(dataset.bg_labels), dataset.num_classes)


@dataclass(frozen=True)
class ScoredModel:
    """One model trained by :func:`train_and_score`: its test metrics, its per-video ``(classes, frames)`` softmax
    probabilities on the test list, its parameter count and its training time in seconds."""

    metrics: dict[str, float]
    probabilities: list[np.ndarray]
    params: int
    train_seconds: float


def train_and_score(spec: StructureSpec, data: LoadedSplit, trainer: Trainer, seed: int) -> ScoredModel:
    """Build ``spec``'s model with model seed ``seed``, train it from scratch on ``data.train`` with ``trainer``
    (whose own ``seed`` drives dropout and batch order), predict the test list as per-frame softmax probabilities
    of the last stage and score their argmax with :func:`g2l_automl.metrics.evaluate` at the full frame rate."""
    model = build_model(spec, data.train[0].features.shape[0], data.num_classes, seed=seed)
    start = time.perf_counter()
    trainer.fit(model, data.train, bg_labels=data.bg)
    seconds = round(time.perf_counter() - start, 3)
    probs = predict_probabilities(model, data.test, device=trainer.device, batch_size=trainer.batch_size)
    metrics = evaluate([p.argmax(axis=0) for p in probs], data.truths, bg_classes=data.bg)
    return ScoredModel(metrics, probs, sum(p.numel() for p in model.parameters()), seconds)


@dataclass(frozen=True)
class EnsembleMember:
    """One member: its trial, search value(s), architecture, parameter count, training time and test metrics."""

    trial: int
    values: tuple[float, ...]
    structure: StructureSpec
    params: int
    train_seconds: float
    metrics: dict[str, float]

    def to_dict(self, structure: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trial": self.trial,
            "values": list(self.values),
            "summary": summarize_structure(self.structure),
            "params": self.params,
            "train_seconds": self.train_seconds,
            "metrics": self.metrics,
        }
        if structure:
            out["structure"] = self.structure.to_dict()
        return out


@dataclass(frozen=True)
class EnsembleResult:
    """Test metrics of every member and of their late-fused ensemble (see :func:`ensemble_study`)."""

    study: str
    top: int
    candidates: int
    members: tuple[EnsembleMember, ...]
    metrics: dict[str, float]
    split: int
    test_videos: int
    epochs: int
    seed: int
    min_distance: int = DEFAULT_MIN_DISTANCE

    def distances(self) -> list[list[int]]:
        """The members' pairwise Hamming distances in genes, in member order (zero diagonal)."""
        return pairwise_distances([m.structure for m in self.members])

    def format_distances(self) -> str:
        """``trials 5-2: 3, 5-1: 4, 2-1: 4 (least 3; asked >= 2)``, or a note for a single member."""
        if len(self.members) < 2:
            return f"one member: no pairwise distance (asked >= {self.min_distance})"
        matrix, trials = self.distances(), [m.trial for m in self.members]
        pairs = [(a, b) for a in range(len(trials)) for b in range(a + 1, len(trials))]
        listed = ", ".join(f"{trials[a]}-{trials[b]}: {matrix[a][b]}" for a, b in pairs)
        least = min(matrix[a][b] for a, b in pairs)
        return f"trials {listed} (least {least}; asked >= {self.min_distance})"

    def best_member(self) -> dict[str, tuple[int, float]]:
        """Per metric, the member that scores best on it: ``{metric: (trial number, value)}``."""
        out = {}
        for name in METRIC_NAMES:
            best = max(self.members, key=lambda m: m.metrics[name])  # first (best-ranked) member wins ties
            out[name] = (best.trial, best.metrics[name])
        return out

    def delta(self) -> dict[str, float]:
        """Ensemble minus best member, per metric (positive: the ensemble beats every member on it)."""
        return {name: self.metrics[name] - value for name, (_, value) in self.best_member().items()}

    def to_dict(self, structures: bool = True) -> dict[str, Any]:
        """JSON-ready summary (``structures=False`` leaves out the members' full structure dicts)."""
        return {
            "study": self.study,
            "top": self.top,
            "distinct_candidates": self.candidates,
            "min_distance": self.min_distance,
            "pairwise_distances": {"trials": [m.trial for m in self.members], "hamming": self.distances()},
            "split": self.split,
            "test_videos": self.test_videos,
            "epochs": self.epochs,
            "seed": self.seed,
            "members": [m.to_dict(structure=structures) for m in self.members],
            "ensemble": {"trials": [m.trial for m in self.members], "metrics": self.metrics},
            "best_member": {k: {"trial": t, "value": v} for k, (t, v) in self.best_member().items()},
            "delta_vs_best_member": self.delta(),
        }

    def format(self) -> str:
        """A text table: one row per member, the ensemble, the best member per metric and the deltas."""
        head = f"{'test metrics':<24} {'search value':>14}  {'structure':<44}" + "".join(
            f" {n:>7}" for n in METRIC_NAMES
        )

        def row(label: str, value: str, structure: str, metrics: dict[str, float], signed: bool = False) -> str:
            cells = "".join(f" {metrics[n]:>+7.1f}" if signed else f" {metrics[n]:>7.1f}" for n in METRIC_NAMES)
            structure = structure if len(structure) <= 44 else structure[:41] + "..."
            return f"{label:<24} {value:>14}  {structure:<44}" + cells

        lines = [
            f"ensemble of {len(self.members)} member(s) of study {self.study!r} (top {self.top}; "
            f"{self.candidates} distinct architecture(s)), test split {self.split}: {self.test_videos} videos, "
            f"{self.epochs} epochs each",
            "",
            head,
        ]
        for rank, m in enumerate(self.members, 1):
            values = ", ".join(f"{v:.2f}" for v in m.values)
            lines.append(row(f"#{rank} trial {m.trial}", values, summarize_structure(m.structure), m.metrics))
        lines.append(
            row("ensemble (sum softmax)", "", "trials " + " ".join(str(m.trial) for m in self.members), self.metrics)
        )
        best = self.best_member()
        lines.append(
            row(
                "best member",
                "",
                "trials " + " ".join(str(best[n][0]) for n in METRIC_NAMES),
                {n: v for n, (_, v) in best.items()},
            )
        )
        lines.append(row("ensemble vs best member", "", "", self.delta(), signed=True))
        lines += ["", "pairwise Hamming distances (genes): " + self.format_distances()]
        return "\n".join(lines)


def ensemble_study(
    study: optuna.Study,
    config: StudyConfig,
    top: int = 3,
    device: str = "auto",
    epochs: int | None = None,
    log: Callable[[str], Any] = print,
    min_distance: int = DEFAULT_MIN_DISTANCE,
) -> EnsembleResult:
    """EvaNet's ensemble of a search study's ``top`` best architectures that are pairwise at least
    ``min_distance`` genes apart (:func:`select_members`; the members' distances are in the result).

    Each member is built with the config's model seed (``training.seed``), trained from scratch on the split's
    whole train list with the config's ``training`` settings (``epochs`` overrides ``training.epochs``), and
    predicted on the split's test list as per-frame softmax probabilities of its last stage; the ensemble sums them
    (:func:`late_fusion`). Everything is scored with :func:`g2l_automl.metrics.evaluate` at the full frame rate,
    with the config's ``bg_classes``. The study is only read.

    Example:
        >>> import tempfile, yaml
        >>> from g2l_automl.config import load_config
        >>> from g2l_automl.data import generate
        >>> folder = tempfile.mkdtemp()
        >>> root = generate(folder + "/d", "tiny", seed=0, num_videos=6, mean_length=100)
        >>> config = {"data": {"root": str(root)}, "structure": {"default": "mstcn", "num_stages": 1,
        ...           "num_layers": 2, "channels": 8}, "space": {"dilations": {"k": 2, "T": 3}},
        ...           "training": {"epochs": 1}}
        >>> with open(folder + "/c.yaml", "w") as f:
        ...     yaml.safe_dump(config, f)
        >>> study = optuna.create_study(direction="maximize")
        >>> for d in (1, 2, 4):
        ...     spec = StructureSpec.mstcn(1, 2, channels=8).with_layer(0, 1, dilation=d)
        ...     study.add_trial(optuna.trial.create_trial(value=float(d), user_attrs={"structure": spec.to_dict()}))
        >>> result = ensemble_study(
        ...     study, load_config(folder + "/c.yaml"), top=2, device="cpu", log=lambda _: None, min_distance=1
        ... )
        >>> [m.trial for m in result.members], sorted(result.metrics) == sorted(result.delta()), result.distances()
        ([2, 1], True, [[0, 1], [1, 0]])
    """
    members_found, candidates = select_members(study, top, min_distance)
    if len(members_found) < top:
        log(
            f"study {study.study_name!r} has only {candidates} distinct architecture(s) among its COMPLETE trials, "
            f"of which {len(members_found)} are pairwise at least {min_distance} gene(s) apart: the ensemble has "
            f"{len(members_found)} member(s), not {top}"
            + ("; a lower --min-distance admits closer architectures" if min_distance > 1 else "")
        )
    t, d = config.training, config.data
    trainer = config_trainer(config, str(resolve_device(device)), epochs)
    data = load_test_split(config)
    members, probabilities = [], []
    for rank, (trial, spec) in enumerate(members_found, 1):
        log(f"member {rank}/{len(members_found)}: trial {trial.number} ({summarize_structure(spec)}) ...")
        scored = train_and_score(spec, data, trainer, seed=t["seed"])
        metrics = scored.metrics
        log(f"  test F1@10 {metrics['F1@10']:.1f}  Acc {metrics['Acc']:.1f}  ({scored.train_seconds:.1f}s)")
        members.append(
            EnsembleMember(
                trial=trial.number,
                values=tuple(float(v) for v in trial.values),
                structure=spec,
                params=scored.params,
                train_seconds=scored.train_seconds,
                metrics=metrics,
            )
        )
        probabilities.append(scored.probabilities)
    metrics = evaluate(late_fusion(probabilities), data.truths, bg_classes=data.bg)
    return EnsembleResult(
        study=study.study_name,
        top=top,
        candidates=candidates,
        members=tuple(members),
        metrics=metrics,
        split=d["split"],
        test_videos=len(data.test),
        epochs=trainer.epochs,
        seed=t["seed"],
        min_distance=min_distance,
    )
