"""Action-segmentation metrics: F1@{10,25,50}, segmental Edit and frame accuracy."""

from g2l_automl.metrics._segmentation import (
    METRIC_NAMES,
    OVERLAPS,
    edit_score,
    evaluate,
    f1_counts,
    format_table,
    levenshtein,
    segments,
)

__all__ = [
    "METRIC_NAMES",
    "OVERLAPS",
    "edit_score",
    "evaluate",
    "f1_counts",
    "format_table",
    "levenshtein",
    "segments",
]
