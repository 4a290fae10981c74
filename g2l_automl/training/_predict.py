"""Inference and scoring of a trained model on a list of videos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from g2l_automl.data import Video, iterate_batches
from g2l_automl.metrics import evaluate


@torch.no_grad()
def predict_probabilities(
    model: torch.nn.Module, videos: Sequence[Video], device: torch.device | str = "cpu", batch_size: int = 1
) -> list[np.ndarray]:
    """Per-frame softmax probabilities of the last stage for each video, shape ``(classes, frames)`` float32, at
    the full frame rate of its ground truth (predictions made at a sample rate > 1 are repeated back, as MS-TCN
    does). Summing these over models is EvaNet's late fusion.

    Example:
        >>> from g2l_automl.models import build_model
        >>> from g2l_automl.structure import StructureSpec
        >>> video = Video("v", np.zeros((4, 5), "float32"), np.zeros(5, int), np.zeros(10, int), sample_rate=2)
        >>> model = build_model(StructureSpec.mstcn(1, 2, channels=8), input_dim=4, num_classes=3, seed=0)
        >>> [p] = predict_probabilities(model, [video])
        >>> p.shape, bool(np.allclose(p.sum(axis=0), 1.0))
        ((3, 10), True)
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    by_name: dict[str, np.ndarray] = {}
    try:
        for batch in iterate_batches(videos, batch_size, rng=None):
            batch = batch.to(device)
            probs = torch.softmax(model(batch.features, batch.mask)[-1].float(), dim=1).cpu().numpy()
            lengths = batch.mask[:, 0].sum(dim=1).long().tolist()
            for name, row, n in zip(batch.names, probs, lengths, strict=True):
                by_name[name] = row[:, :n]
    finally:
        model.train(was_training)
    out = []
    for v in videos:
        out.append(np.repeat(by_name[v.name], v.sample_rate, axis=1)[:, : len(v.full_labels)])
    return out


def predict(
    model: torch.nn.Module, videos: Sequence[Video], device: torch.device | str = "cpu", batch_size: int = 1
) -> list[np.ndarray]:
    """Per-frame class indices of the last stage for each video, at the full frame rate of its ground truth
    (the argmax of :func:`predict_probabilities`)."""
    return [p.argmax(axis=0) for p in predict_probabilities(model, videos, device=device, batch_size=batch_size)]


def evaluate_videos(
    model: torch.nn.Module,
    videos: Sequence[Video],
    bg_labels: Sequence[int] = (),
    device: torch.device | str = "cpu",
    batch_size: int = 1,
) -> dict[str, float]:
    """:func:`g2l_automl.metrics.evaluate` of the model's predictions against the full-rate ground truth."""
    predictions = predict(model, videos, device=device, batch_size=batch_size)
    return evaluate(predictions, [v.full_labels for v in videos], bg_classes=tuple(bg_labels))
