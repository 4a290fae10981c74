"""Reader of the MS-TCN data layout.

::

    DATA/
      features/<video>.npy          float array (D, T)
      groundTruth/<video>.txt       one label name per frame
      splits/train.splitN.bundle    one "<video>.txt" per line (likewise test.splitN.bundle)
      mapping.txt                   "<index> <name>" per line

Unlike the reference loaders (``split('\\n')[:-1]``), a file without a trailing newline keeps its last line.
Every problem is reported as a :class:`~g2l_automl.errors.DataError` that names the file.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from g2l_automl.errors import DataError


@dataclass(frozen=True)
class Video:
    """One video at the dataset's sample rate: ``features`` (D, T) float32, ``labels`` (T,) int64 class indices.

    ``full_labels`` keeps the ground truth at the original frame rate, against which predictions are scored after
    being repeated ``sample_rate`` times.
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    full_labels: np.ndarray
    sample_rate: int = 1

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])


def _read_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file (trailing whitespace stripped; a missing final newline loses nothing)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from None
    except OSError as exc:  # a folder where the file should be, no permission, ...
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_mapping(path: Path) -> list[str]:
    """Class names by index from ``mapping.txt``; indices must be 0..K-1, names unique."""
    names: dict[int, str] = {}
    for n, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].lstrip("-").isdigit():
            raise DataError(f"{path}, line {n}: expected '<index> <name>', got {line!r}")
        index, name = int(parts[0]), parts[1]
        if index in names or name in names.values():
            raise DataError(f"{path}, line {n}: duplicate index or name {line!r}")
        names[index] = name
    if not names:
        raise DataError(f"{path}: no classes")
    if sorted(names) != list(range(len(names))):
        raise DataError(f"{path}: class indices must be 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


class ActionSegmentationDataset:
    """A dataset in the MS-TCN layout.

    Args:
        root: the dataset folder.
        sample_rate: keep every ``sample_rate``-th frame for training (2 for 50Salads); predictions are repeated
            back to the full rate for scoring.
        bg_classes: class names that the segmental metrics ignore.
        max_length_mismatch: features and labels are cut to the shorter length when they differ by at most
            this many frames, or this fraction of the longer one, whichever is larger; a larger difference is an
            error.

    Example:
        >>> ds = ActionSegmentationDataset("data/synthetic")          # doctest: +SKIP
        >>> train, val = ds.train_val_split(split=1, val_fraction=0.2, seed=0)   # doctest: +SKIP
        >>> videos = ds.load(train)                                    # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        sample_rate: int = 1,
        bg_classes: tuple[str, ...] = ("background",),
        max_length_mismatch: float = 0.02,
        min_length_mismatch_frames: int = 2,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise DataError(f"sample_rate: must be an integer >= 1, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.bg_classes = tuple(bg_classes)
        self.max_length_mismatch = max_length_mismatch
        self.min_length_mismatch_frames = min_length_mismatch_frames
        self.class_names = read_mapping(self.root / "mapping.txt")
        self.class_index = {name: i for i, name in enumerate(self.class_names)}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def bg_labels(self) -> list[int]:
        """Class indices of :attr:`bg_classes` that the mapping has (what the segmental metrics skip)."""
        return [self.class_index[name] for name in self.bg_classes if name in self.class_index]

    @property
    def folds(self) -> list[int]:
        """Split numbers that have both a train and a test bundle."""
        found = []
        for path in (self.root / "splits").glob("train.split*.bundle"):
            m = re.fullmatch(r"train\.split(\d+)\.bundle", path.name)
            if m and (self.root / "splits" / f"test.split{m.group(1)}.bundle").exists():
                found.append(int(m.group(1)))
        return sorted(found)

    def split(self, subset: str, split: int = 1) -> list[str]:
        """Video names of ``splits/{subset}.split{split}.bundle`` (``.txt`` suffix removed)."""
        path = self.root / "splits" / f"{subset}.split{split}.bundle"
        if not path.exists():
            folds = ", ".join(map(str, self.folds)) or "none"
            raise DataError(f"{path}: split file not found (available splits: {folds})")
        names = [line.removesuffix(".txt") for line in _read_lines(path)]
        if not names:
            raise DataError(f"{path}: the split lists no videos")
        if len(set(names)) != len(names):
            raise DataError(f"{path}: a video is listed twice")
        for name in names:  # names become file paths under the data root: keep them there
            if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
                raise DataError(f"{path}: video name {name!r} is not a plain file name inside the data root")
        return names

    def train_val_split(
        self, split: int = 1, val_fraction: float = 0.2, seed: int = 0, fold: int = 0
    ) -> tuple[list[str], list[str]]:
        """Carve a validation list out of the training list (seeded); the test list is never touched.

        ``fold`` rotates the held-out part K-fold style: the training list is shuffled once (``seed``) and fold
        ``k`` holds out the ``k``-th run of ``round(n * val_fraction)`` videos (wrapping around), so folds
        ``0 .. ceil(1 / val_fraction) - 1`` together hold out every video. Fold 0 is the plain split."""
        names = self.split("train", split)
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"val_fraction: must be in [0, 1), got {val_fraction!r}")
        if val_fraction == 0.0:
            return names, []
        n_val = max(1, round(len(names) * val_fraction))
        if n_val >= len(names):
            raise DataError(
                f"splits/train.split{split}.bundle: {len(names)} training video(s) cannot give a validation "
                f"fraction of {val_fraction} and keep any for training"
            )
        order = np.random.default_rng(seed).permutation(len(names))
        start = (fold * n_val) % len(names)
        val = {names[order[(start + i) % len(names)]] for i in range(n_val)}
        return [n for n in names if n not in val], [n for n in names if n in val]

    def load_video(self, name: str) -> Video:
        """Read and check one video."""
        feat_path = self.root / "features" / f"{name}.npy"
        label_path = self.root / "groundTruth" / f"{name}.txt"
        if not feat_path.exists():
            raise DataError(f"{feat_path}: feature file not found")
        try:
            features = np.load(feat_path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty or truncated file
            raise DataError(f"{feat_path}: cannot read features ({str(exc) or type(exc).__name__})") from None
        if features.ndim != 2:
            raise DataError(f"{feat_path}: features must have shape (D, T), got ndim={features.ndim} {features.shape}")
        if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype, np.complexfloating):
            raise DataError(f"{feat_path}: features must be real numbers, got dtype {features.dtype}")
        if not np.isfinite(features).all():
            bad = int(np.argwhere(~np.isfinite(features))[0][1])
            raise DataError(f"{feat_path}: features contain NaN or inf (first at frame {bad})")
        limit = np.finfo(np.float32).max  # features are used as float32: a larger value would become inf
        if features.size and features.dtype.itemsize > 4 and np.abs(features).max() > limit:
            bad = int(np.argwhere(np.abs(features) > limit)[0][1])
            raise DataError(f"{feat_path}: features exceed float32's range (+-{limit:.3g}; first at frame {bad})")
        names = _read_lines(label_path)
        try:
            labels = np.array([self.class_index[n] for n in names], dtype=np.int64)
        except KeyError:
            line = next(i for i, n in enumerate(names, 1) if n not in self.class_index)
            raise DataError(
                f"{label_path}, line {line}: label {names[line - 1]!r} is not in {self.root / 'mapping.txt'}"
            ) from None
        n_feat, n_lab = features.shape[1], len(labels)
        if n_lab == 0 or n_feat == 0:
            raise DataError(f"{label_path if n_lab == 0 else feat_path}: the video has no frames")
        tolerance = max(self.min_length_mismatch_frames, math.floor(self.max_length_mismatch * max(n_feat, n_lab)))
        if abs(n_feat - n_lab) > tolerance:
            raise DataError(
                f"{feat_path}: {n_feat} feature frames but {label_path} has {n_lab} labels "
                f"(more than the {tolerance}-frame tolerance)"
            )
        n = min(n_feat, n_lab)
        features = np.ascontiguousarray(features[:, : n : self.sample_rate], dtype=np.float32)
        return Video(name, features, labels[: n : self.sample_rate], labels[:n], self.sample_rate)

    def load(self, names: list[str]) -> list[Video]:
        """Read the given videos; every video must have the same feature dimension."""
        if not names:
            raise DataError(f"{self.root}: no videos to load (empty split)")
        videos = [self.load_video(n) for n in names]
        dim = videos[0].features.shape[0]
        for v in videos:
            if v.features.shape[0] != dim:
                raise DataError(
                    f"{self.root / 'features' / (v.name + '.npy')}: feature dimension {v.features.shape[0]} "
                    f"differs from {dim} of {videos[0].name}"
                )
        return videos
