"""Video-level multi-label metric: mean average precision over classes (scikit-learn's average precision)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """mAP in percent: the mean over classes with at least one positive of scikit-learn's average precision
    (Charades' metric). ``targets`` are 0/1, ``scores`` any monotone confidence, both ``(N, C)``.

    Example:
        >>> mean_average_precision(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.1, 0.8]]))
        100.0
    """
    targets = np.asarray(targets)
    scores = np.asarray(scores, dtype=float)
    if targets.shape != scores.shape or targets.ndim != 2:
        raise ValueError(f"mean_average_precision: shapes {targets.shape} and {scores.shape} differ or are not 2-D")
    keep = targets.sum(axis=0) > 0
    if not keep.any():
        raise ValueError("mean_average_precision: no class has a positive example")
    ap = average_precision_score(targets[:, keep], scores[:, keep], average=None)
    return float(np.mean(ap) * 100.0)
