"""Action-segmentation metrics with the reference definitions of MS-TCN's ``eval.py``.

* Segments are maximal runs of equal labels; a segment's end is exclusive (index of its first frame after it).
  Segments whose label is a background class are dropped.
* Edit: ``(1 - Levenshtein(P, Y) / max(|P|, |Y|)) * 100`` on the segment label sequences, averaged over videos
  (100 when both sequences are empty).
* F1@tau: every predicted segment takes the ground-truth segment of the same label with the highest IoU; it is a
  true positive if that IoU >= tau and the ground-truth segment was not hit before, else a false positive.
  FN = #ground-truth segments - hits. TP/FP/FN are summed over all videos, then F1 * 100 (0 when undefined).
* Acc: correct frames / all frames * 100, pooled over all videos (background frames included).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np

OVERLAPS: tuple[float, ...] = (0.10, 0.25, 0.50)
METRIC_NAMES: tuple[str, ...] = ("F1@10", "F1@25", "F1@50", "Edit", "Acc")


def segments(
    labels: Sequence[Hashable], bg_classes: Iterable[Hashable] = ("background",)
) -> tuple[list, np.ndarray, np.ndarray]:
    """``(labels, starts, ends)`` of the non-background segments; ``ends`` are exclusive."""
    bg = set(bg_classes)
    seg_labels, starts, ends = [], [], []
    n = len(labels)
    i = 0
    while i < n:
        j = i + 1
        while j < n and labels[j] == labels[i]:
            j += 1
        if labels[i] not in bg:
            seg_labels.append(labels[i])
            starts.append(i)
            ends.append(j)
        i = j
    return seg_labels, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Edit distance between two label sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def edit_score(pred_segments: Sequence[Hashable], gt_segments: Sequence[Hashable]) -> float:
    """Normalised segmental edit score of one video, in percent."""
    longest = max(len(pred_segments), len(gt_segments))
    if longest == 0:
        return 100.0
    return (1.0 - levenshtein(pred_segments, gt_segments) / longest) * 100.0


def f1_counts(
    pred: tuple[list, np.ndarray, np.ndarray], gt: tuple[list, np.ndarray, np.ndarray], overlap: float
) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of one video at IoU threshold ``overlap``, given :func:`segments` of both."""
    p_label, p_start, p_end = pred
    y_label, y_start, y_end = gt
    if not y_label:
        return 0, len(p_label), 0
    y_label_arr = np.asarray(y_label, dtype=object)
    hits = np.zeros(len(y_label), dtype=bool)
    tp = fp = 0
    for label, start, end in zip(p_label, p_start, p_end, strict=True):
        intersection = np.minimum(end, y_end) - np.maximum(start, y_start)
        union = np.maximum(end, y_end) - np.minimum(start, y_start)
        iou = intersection / union * (y_label_arr == label)
        best = int(np.argmax(iou))
        if iou[best] >= overlap and not hits[best]:
            tp += 1
            hits[best] = True
        else:
            fp += 1
    return tp, fp, len(y_label) - int(hits.sum())


def _f1(tp: int, fp: int, fn: int) -> float:
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2.0 * precision * recall / (precision + recall) * 100.0


def evaluate(
    predictions: Sequence[Sequence[Hashable]],
    ground_truths: Sequence[Sequence[Hashable]],
    bg_classes: Iterable[Hashable] = ("background",),
) -> dict[str, float]:
    """Score per-frame predictions against ground truths (one label sequence per video, ints or strings).

    Returns ``{"F1@10", "F1@25", "F1@50", "Edit", "Acc"}`` in percent.

    Example:
        >>> evaluate([["a", "a", "b", "b"]], [["a", "a", "a", "b"]])["Acc"]
        75.0
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(f"predictions: {len(predictions)} videos but ground_truths has {len(ground_truths)}")
    if not ground_truths:
        raise ValueError("ground_truths: no videos to evaluate")
    bg = tuple(bg_classes)
    counts = np.zeros((len(OVERLAPS), 3), dtype=np.int64)
    edits, correct, total = [], 0, 0
    for v, (pred, gt) in enumerate(zip(predictions, ground_truths, strict=True)):
        if len(pred) != len(gt):
            raise ValueError(f"video {v}: prediction has {len(pred)} frames, ground truth {len(gt)}")
        correct += int(np.sum(np.asarray(pred, dtype=object) == np.asarray(gt, dtype=object)))
        total += len(gt)
        p_seg, y_seg = segments(pred, bg), segments(gt, bg)
        edits.append(edit_score(p_seg[0], y_seg[0]))
        for k, overlap in enumerate(OVERLAPS):
            counts[k] += f1_counts(p_seg, y_seg, overlap)
    result = {f"F1@{round(o * 100)}": _f1(*map(int, counts[k])) for k, o in enumerate(OVERLAPS)}
    result["Edit"] = float(np.mean(edits))
    result["Acc"] = correct / total * 100.0 if total else 0.0
    return result


def format_table(metrics: dict[str, float]) -> str:
    """A two-line, fixed-width table of the five metrics."""
    header = "  ".join(f"{name:>7}" for name in METRIC_NAMES)
    values = "  ".join(f"{metrics[name]:7.2f}" for name in METRIC_NAMES)
    return f"{header}\n{values}"
