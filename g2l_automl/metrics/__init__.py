"""Metrics: action segmentation (F1@{10,25,50}, Edit, Acc), video-level mAP, and model cost (FLOPs, parameters)."""

from g2l_automl.metrics._classification import mean_average_precision
from g2l_automl.metrics._flops import count_flops, count_parameters
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
    "count_flops",
    "count_parameters",
    "mean_average_precision",
    "METRIC_NAMES",
    "OVERLAPS",
    "edit_score",
    "evaluate",
    "f1_counts",
    "format_table",
    "levenshtein",
    "segments",
]
