"""Synthetic action-segmentation datasets in the MS-TCN layout.

Each video is one *activity*. An activity's script (its grammar) is a fixed order of activity-specific steps,
shared "common" actions and *context-dependent* actions; steps may be skipped or swapped with a neighbour, and
background may appear between actions. Durations are drawn per class (a class mean, log-normal per instance) and
rescaled to a per-video length. Features are ``prototype[class] + AR(1) temporal noise + drift``.

The context-dependent classes are what make the receptive field matter: for each context group there is one class
per activity, all with *the same* prototype, so the frames of such a segment look identical whatever the activity.
Only the activity-specific steps elsewhere in the video tell which class it is, and the segments are long, so a
model whose receptive field is shorter than about half a segment cannot separate them while a wide one can.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from g2l_automl._files import check_out_dir, mkdtemp_umask, replace_dir
from g2l_automl.data._planted import PlantedPreset, ar1_noise
from g2l_automl.errors import DataError

GENERATOR = "g2l_automl.data.generate"
_LAYOUT = frozenset({"features", "groundTruth", "mapping.txt", "splits", "synthetic.json"})


@dataclass(frozen=True)
class SyntheticPreset:
    """Generator settings. ``context_share`` is the expected fraction of a video covered by context-dependent
    segments; ``noise`` is the per-dimension std of the temporal noise relative to unit-variance prototypes."""

    num_activities: int
    steps_per_activity: int
    num_context_groups: int
    num_common: int
    num_videos: int
    mean_length: int
    feature_dim: int
    num_folds: int
    context_share: float = 0.45
    noise: float = 0.8
    noise_corr: float = 0.7
    drift: float = 0.3
    skip_prob: float = 0.15
    swap_prob: float = 0.1
    background_prob: float = 0.3

    @property
    def num_classes(self) -> int:
        return 1 + self.num_common + self.num_activities * (self.steps_per_activity + self.num_context_groups)


PRESETS: dict[str, SyntheticPreset | PlantedPreset] = {
    # 10 classes, 40 videos of ~400 frames: for tests and the quick start.
    "tiny": SyntheticPreset(2, 3, 1, 1, num_videos=40, mean_length=400, feature_dim=32, num_folds=2),
    # GTEA's shape (Table 2 of the G2L paper): 11 classes, 28 videos, ~1115 frames, 4 folds.
    "gtea-like": SyntheticPreset(3, 2, 1, 1, num_videos=28, mean_length=1115, feature_dim=64, num_folds=4),
    # Breakfast's classes (48) and video length (~2097 frames) with fewer videos so it stays CPU-sized.
    "breakfast-like": SyntheticPreset(10, 3, 1, 7, num_videos=200, mean_length=2097, feature_dim=64, num_folds=4),
    # Multi-label video classification (Charades / Breakfast unit actions in kind): 34 non-background classes,
    # many optional steps (skip 40%), so the label set of a video is not implied by its activity, and the
    # context classes need long-range evidence. Read as videos with multi-hot labels by ``classification_set``.
    "multilabel": SyntheticPreset(
        6, 4, 1, 4, num_videos=144, mean_length=600, feature_dim=32, num_folds=4, skip_prob=0.4, noise=1.0
    ),
    # The structure benchmark: 32 videos of 6 segments x 192 frames whose class is told by a cue at the segment's
    # centre, so the receptive field each stage needs is known (data/_planted.py): reach 88 frames, no gaps.
    "rf-planted": PlantedPreset(),
}


def _class_names(p: SyntheticPreset) -> tuple[list[str], list[list[int]], list[list[int]], list[int]]:
    """All class names, the step classes and context classes of each activity, and the common classes."""
    names = ["background"] + [f"common{c}" for c in range(p.num_common)]
    common = list(range(1, 1 + p.num_common))
    steps, context = [], []
    for a in range(p.num_activities):
        steps.append([len(names) + j for j in range(p.steps_per_activity)])
        names += [f"act{a}_step{j}" for j in range(p.steps_per_activity)]
    for a in range(p.num_activities):
        context.append([len(names) + g for g in range(p.num_context_groups)])
        names += [f"act{a}_ctx{g}" for g in range(p.num_context_groups)]
    return names, steps, context, common


def _scripts(
    p: SyntheticPreset, steps: list[list[int]], context: list[list[int]], common: list[int], rng: np.random.Generator
) -> list[list[tuple[int, bool]]]:
    """Per activity, the ordered list of ``(class, optional)``: steps and commons are optional, context actions not.
    Context actions sit between steps so that they are flanked by activity-specific evidence."""
    scripts = []
    for a in range(p.num_activities):
        items: list[tuple[int, bool]] = [(c, True) for c in steps[a]]
        k = max(1, p.num_common // max(1, p.num_activities)) if common else 0
        for c in rng.choice(common, size=min(k + 1, len(common)), replace=False) if common else []:
            items.insert(int(rng.integers(0, len(items) + 1)), (int(c), True))
        for g, c in enumerate(context[a]):
            pos = 1 + round((g + 1) * (len(items) - 1) / (len(context[a]) + 1))
            items.insert(min(pos, len(items)), (c, False))
        scripts.append(items)
    return scripts


def _sample_video(
    p: SyntheticPreset,
    script: list[tuple[int, bool]],
    class_mean: np.ndarray,
    prototypes: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    actions = [c for c, optional in script if not (optional and rng.random() < p.skip_prob)]
    for i in range(len(actions) - 1):
        if rng.random() < p.swap_prob:
            actions[i], actions[i + 1] = actions[i + 1], actions[i]
    sequence = [0]
    for c in actions:
        if rng.random() < p.background_prob:
            sequence.append(0)
        sequence.append(c)
    sequence.append(0)
    durations = np.array([class_mean[c] * rng.lognormal(0.0, 0.3) for c in sequence])
    length = p.mean_length * rng.lognormal(0.0, 0.2)
    frames = np.maximum(3, np.round(durations / durations.sum() * length)).astype(np.int64)
    labels = np.repeat(np.array(sequence, dtype=np.int64), frames)
    t = len(labels)
    noise = ar1_noise(t, p.feature_dim, p.noise_corr, rng)
    drift = np.cumsum(rng.normal(size=(t, p.feature_dim)), axis=0) * (p.drift / np.sqrt(t))
    features = prototypes[labels] + p.noise * noise + drift + rng.normal(0.0, p.drift, size=p.feature_dim)
    return features.T.astype(np.float32), labels


def generate(
    out: str | os.PathLike[str],
    preset: str | SyntheticPreset | PlantedPreset = "tiny",
    seed: int = 0,
    overwrite: bool = False,
    **changes: object,
) -> Path:
    """Write a synthetic dataset to ``out`` in the MS-TCN layout and return its path.

    ``changes`` override preset fields (e.g. ``num_videos=8``). The dataset is built in a temporary folder and
    moved into place at the end, so an interrupted run leaves nothing behind.

    Example:
        >>> import tempfile
        >>> path = generate(tempfile.mkdtemp() + "/syn", "tiny", seed=0, num_videos=4)
        >>> sorted(p.name for p in path.iterdir())
        ['features', 'groundTruth', 'mapping.txt', 'splits', 'synthetic.json']
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise DataError(f"preset: unknown preset {preset!r} (choose {', '.join(PRESETS)})")
        name, p = preset, PRESETS[preset]
    else:
        name, p = "custom", preset
    try:
        p = replace(p, **changes)
    except TypeError as exc:
        raise DataError(f"preset: {exc}") from None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed: must be an integer >= 0, got {seed!r}")
    if p.num_videos < 2 * p.num_folds or p.num_folds < 1:
        raise DataError(f"num_videos: {p.num_videos} videos are too few for {p.num_folds} folds")
    out = Path(out)
    replacing = _check_out(out, overwrite)

    rng = np.random.default_rng(seed)
    names, videos = _planted_videos(p, rng) if isinstance(p, PlantedPreset) else _activity_videos(p, rng)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(mkdtemp_umask(dir=out.parent, prefix=f".{out.name}."))  # 0777 less the umask, as mkdir gives
    try:
        for sub in ("features", "groundTruth", "splits"):
            (tmp / sub).mkdir()
        (tmp / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names)))
        videos_by_activity: dict[int, list[str]] = {}
        for video, a, features, labels in videos:
            np.save(tmp / "features" / f"{video}.npy", features)
            (tmp / "groundTruth" / f"{video}.txt").write_text("".join(names[i] + "\n" for i in labels))
            videos_by_activity.setdefault(a, []).append(video)
        # Folds stratified by activity: fold k takes every num_folds-th video of each activity.
        folds: list[list[str]] = [[] for _ in range(p.num_folds)]
        for vids in videos_by_activity.values():
            for i, video in enumerate(vids):
                folds[i % p.num_folds].append(video)
        for k in range(p.num_folds):
            test = sorted(folds[k])
            train = sorted(v for j, f in enumerate(folds) if j != k for v in f)
            (tmp / "splits" / f"train.split{k + 1}.bundle").write_text("".join(f"{v}.txt\n" for v in train))
            (tmp / "splits" / f"test.split{k + 1}.bundle").write_text("".join(f"{v}.txt\n" for v in test))
        info = {"generator": GENERATOR, "preset": name, "seed": seed, "settings": asdict(p)}
        (tmp / "synthetic.json").write_text(json.dumps(info, indent=2) + "\n")
        if replacing:
            replace_dir(tmp, out)
        else:
            if out.exists():
                out.rmdir()  # empty, checked above
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _activity_videos(
    p: SyntheticPreset, rng: np.random.Generator
) -> tuple[list[str], Iterator[tuple[str, int, np.ndarray, np.ndarray]]]:
    """Class names, and ``(name, activity, features, labels)`` of each video of an activity-script preset."""
    names, steps, context, common = _class_names(p)
    prototypes = rng.normal(size=(len(names), p.feature_dim))
    for g in range(p.num_context_groups):
        prototypes[[context[a][g] for a in range(p.num_activities)]] = prototypes[context[0][g]]
    n_short = 1 + p.num_common + p.num_activities * p.steps_per_activity
    expected_short = 2 + p.steps_per_activity * (1 - p.skip_prob) + 1
    # Context classes get a mean duration that makes them cover about `context_share` of a video.
    ctx_mean = p.context_share / (1 - p.context_share) * expected_short / max(1, p.num_context_groups)
    class_mean = np.concatenate([rng.uniform(0.6, 1.4, size=n_short), np.full(len(names) - n_short, ctx_mean)])
    scripts = _scripts(p, steps, context, common, rng)

    def videos() -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
        for v in range(p.num_videos):
            a = v % p.num_activities
            yield (f"video{v:04d}_act{a}", a, *_sample_video(p, scripts[a], class_mean, prototypes, rng))

    return names, videos()


def _planted_videos(
    p: PlantedPreset, rng: np.random.Generator
) -> tuple[list[str], Iterator[tuple[str, int, np.ndarray, np.ndarray]]]:
    """Class names, and ``(name, 0, features, labels)`` of each video of the planted benchmark."""
    prototypes, cue = p.make(rng)
    videos = ((f"video{v:04d}", 0, *p.sample_video(prototypes, cue, rng)) for v in range(p.num_videos))
    return p.class_names(), videos


def _check_out(out: Path, overwrite: bool) -> bool:
    """Whether ``out`` holds a dataset to replace; refuses (before any work) a file, a link, a non-empty folder
    without ``overwrite``, and with it any folder that is not a dataset written by :func:`generate` alone."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DataError(f"{out}: exists and is not a folder; give a new or empty folder")
    check_out_dir(out, "output folder")  # not under a file, and writable (e.g. not /proc/...)
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if not entries:
        return False
    if not overwrite:
        raise DataError(f"{out}: folder exists and is not empty (pass overwrite=True / --overwrite)")
    try:
        info = json.loads((out / "synthetic.json").read_text())
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("generator") != GENERATOR:
        raise DataError(
            f"{out}: --overwrite replaces only a dataset that make-synthetic wrote (it has a synthetic.json "
            f"marker); this folder has none, so it is left untouched"
        )
    foreign = [name for name in entries if name not in _LAYOUT]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DataError(f"{out}: --overwrite refused: the folder holds {shown} besides the dataset; move it out first")
    return True
