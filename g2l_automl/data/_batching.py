"""Batching of variable-length videos: padding, masks and length-bucketed batch order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from g2l_automl.data._dataset import Video

IGNORE_INDEX = -100


@dataclass
class Batch:
    """Padded tensors: ``features`` (B, D, T), ``labels`` (B, T) with :data:`IGNORE_INDEX` on padding,
    ``mask`` (B, 1, T) float with 1 on real frames."""

    features: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    names: list[str]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.features.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.mask.to(device, non_blocking=True),
            self.names,
        )


def collate(videos: Sequence[Video]) -> Batch:
    """Pad a list of videos to the longest one."""
    length = max(v.num_frames for v in videos)
    dim = videos[0].features.shape[0]
    features = np.zeros((len(videos), dim, length), dtype=np.float32)
    labels = np.full((len(videos), length), IGNORE_INDEX, dtype=np.int64)
    mask = np.zeros((len(videos), 1, length), dtype=np.float32)
    for i, v in enumerate(videos):
        features[i, :, : v.num_frames] = v.features
        labels[i, : v.num_frames] = v.labels
        mask[i, :, : v.num_frames] = 1.0
    return Batch(torch.from_numpy(features), torch.from_numpy(labels), torch.from_numpy(mask), [v.name for v in videos])


def batch_order(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None, bucket: bool = True
) -> list[list[int]]:
    """Indices of each batch for one epoch.

    With ``rng`` the order is shuffled; with ``bucket`` videos of similar length share a batch (sorted within
    windows of ``8 * batch_size``), so little compute goes to padding. Batch order is shuffled again afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    if bucket and batch_size > 1:
        window = 8 * batch_size
        order = np.concatenate(
            [sorted(order[i : i + window], key=lambda k: lengths[k]) for i in range(0, len(order), window)]
        )
    batches = [list(map(int, order[i : i + batch_size])) for i in range(0, len(order), batch_size)]
    if rng is not None and bucket and batch_size > 1:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def iterate_batches(
    videos: Sequence[Video], batch_size: int, rng: np.random.Generator | None = None, bucket: bool = True
) -> Iterator[Batch]:
    """Yield padded batches in :func:`batch_order`."""
    for indices in batch_order([v.num_frames for v in videos], batch_size, rng, bucket):
        yield collate([videos[i] for i in indices])
