"""Search objectives: train a candidate structure for a few epochs and score it on a validation split, or a cheap
deterministic proxy for fast comparisons."""

from g2l_automl.objective._proxy import ProxyObjective
from g2l_automl.objective._segmentation import EXTRA_METRICS, FLOPS_FRAMES, SegmentationObjective

__all__ = ["EXTRA_METRICS", "FLOPS_FRAMES", "ProxyObjective", "SegmentationObjective"]
