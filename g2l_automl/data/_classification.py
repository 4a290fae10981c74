"""Video-level (multi-label) classification views of a segmentation dataset.

A video's label set is the classes that occur in its frame labels (background excluded), as Breakfast's
multi-label unit-action annotation; its features are resampled to a fixed number of time steps (the mean of each of
``steps`` equal segments, as NAS-TC feeds ``T`` superframes to its temporal layers), so videos batch without
padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from g2l_automl.data._dataset import ActionSegmentationDataset, Video
from g2l_automl.errors import DataError


def resample(features: np.ndarray, steps: int) -> np.ndarray:
    """``(D, T)`` features as ``(D, steps)``: the mean of each of ``steps`` near-equal segments (``T >= steps``),
    or nearest-frame repetition when the video is shorter than ``steps``.

    Example:
        >>> resample(np.arange(8, dtype="float32")[None], 4).tolist()
        [[0.5, 2.5, 4.5, 6.5]]
    """
    t = features.shape[1]
    if t >= steps:
        edges = np.linspace(0, t, steps + 1).round().astype(int)
        return np.add.reduceat(features, edges[:-1], axis=1) / np.diff(edges)
    return features[:, np.floor(np.arange(steps) * t / steps).astype(int)]


def multi_hot(video: Video, classes: Sequence[int]) -> np.ndarray:
    """1.0 for each of ``classes`` that occurs in the video's frame labels."""
    present = set(np.unique(video.full_labels).tolist())
    return np.array([1.0 if c in present else 0.0 for c in classes], dtype=np.float32)


@dataclass(frozen=True)
class ClassificationSet:
    """Videos as tensors: ``features`` ``(N, D, steps)`` float32 and multi-hot ``targets`` ``(N, C)``; column ``j``
    of ``targets`` is class ``class_names[j]``."""

    names: tuple[str, ...]
    features: torch.Tensor
    targets: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def input_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.targets.shape[1])


def classification_set(dataset: ActionSegmentationDataset, names: Sequence[str], steps: int = 64) -> ClassificationSet:
    """The videos ``names`` of ``dataset`` as a :class:`ClassificationSet` over its non-background classes.

    Example:
        >>> import tempfile
        >>> from g2l_automl.data import generate
        >>> data = ActionSegmentationDataset(generate(tempfile.mkdtemp() + "/m", "multilabel", num_videos=24))
        >>> s = classification_set(data, data.split("train"), steps=16)
        >>> tuple(s.features.shape), s.num_classes
        ((18, 32, 16), 34)
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise DataError(f"steps: must be an integer >= 1, got {steps!r}")
    if not names:
        raise DataError(f"{dataset.root}: no videos given for the classification set")
    bg = set(dataset.bg_labels)
    classes = [c for c in range(dataset.num_classes) if c not in bg]
    videos = dataset.load(list(names))
    features = np.stack([resample(v.features, steps) for v in videos]).astype(np.float32)
    targets = np.stack([multi_hot(v, classes) for v in videos])
    return ClassificationSet(
        names=tuple(v.name for v in videos),
        features=torch.from_numpy(features),
        targets=torch.from_numpy(targets),
        class_names=tuple(dataset.class_names[c] for c in classes),
    )


def classification_splits(
    dataset: ActionSegmentationDataset, split: int = 1, val_fraction: float = 0.25, seed: int = 0, steps: int = 64
) -> tuple[ClassificationSet, ClassificationSet, ClassificationSet]:
    """``(train, val, test)`` classification sets of a split: validation carved from the train list (never from
    the test list)."""
    train, val = dataset.train_val_split(split, val_fraction, seed)
    if not val:
        raise DataError(f"val_fraction={val_fraction} leaves no validation video in split {split}")
    return (
        classification_set(dataset, train, steps),
        classification_set(dataset, val, steps),
        classification_set(dataset, dataset.split("test", split), steps),
    )


def concat_sets(*sets: ClassificationSet) -> ClassificationSet:
    """One :class:`~g2l_automl.data.ClassificationSet` of all videos of ``sets`` (same classes and shapes), e.g.
    train + validation for the final retraining."""
    if not sets or any(s.class_names != sets[0].class_names for s in sets):
        raise DataError("concat_sets: give sets over the same classes")
    return ClassificationSet(
        names=tuple(n for s in sets for n in s.names),
        features=torch.cat([s.features for s in sets]),
        targets=torch.cat([s.targets for s in sets]),
        class_names=sets[0].class_names,
    )
