"""MS-TCN's training loss: per stage, cross-entropy plus a truncated MSE smoothing term."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from g2l_automl.data import IGNORE_INDEX


def segmentation_loss(
    outputs: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    smoothing_weight: float = 0.15,
    tau: float = 4.0,
) -> torch.Tensor:
    """Sum over stages of ``CE + smoothing_weight * mean(clamp((dlogp_t)^2, 0, tau^2))``.

    ``outputs``: ``(stages, B, C, T)`` logits; ``labels``: ``(B, T)`` with :data:`IGNORE_INDEX` on padding;
    ``mask``: ``(B, 1, T)``. The smoothing term compares log-probabilities of neighbouring frames (the earlier
    frame detached) and only counts pairs of real frames, as MS-TCN does.
    """
    pair_mask = mask[:, :, 1:]
    pairs = pair_mask.sum() * outputs.shape[2]
    total = outputs.new_zeros((), dtype=torch.float32)
    for p in outputs.float():
        total = total + F.cross_entropy(p, labels, ignore_index=IGNORE_INDEX)
        logp = F.log_softmax(p, dim=1)
        diff = (logp[:, :, 1:] - logp[:, :, :-1].detach()) ** 2
        total = total + smoothing_weight * (torch.clamp(diff, 0, tau * tau) * pair_mask).sum() / pairs.clamp_min(1)
    return total
