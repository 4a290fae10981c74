"""Search objectives: train a candidate structure for a few epochs and score it on a validation split, or a cheap
deterministic proxy for fast comparisons."""

from g2l_automl.objective._proxy import EpistaticProxyObjective, ProxyObjective
from g2l_automl.objective._segmentation import (
    EXTRA_METRICS,
    FLOPS_FRAMES,
    REPORT_METRICS,
    Score,
    SegmentationObjective,
    check_rescore_top,
)
from g2l_automl.objective._trial import Spent, TrialObjective, check_study_directions
from g2l_automl.objective._videonas import (
    VIDEONAS_METRICS,
    VideoNASObjective,
    arch_cost,
    train_and_score,
)

__all__ = [
    "EXTRA_METRICS",
    "EpistaticProxyObjective",
    "FLOPS_FRAMES",
    "VIDEONAS_METRICS",
    "ProxyObjective",
    "REPORT_METRICS",
    "Score",
    "SegmentationObjective",
    "Spent",
    "TrialObjective",
    "VideoNASObjective",
    "arch_cost",
    "check_rescore_top",
    "check_study_directions",
    "train_and_score",
]
