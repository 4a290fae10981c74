"""Temporal segmentation models built from structure specs."""

from g2l_automl.models._tcn import (
    LAYER_TYPES,
    DilatedResidualLayer,
    DualDilatedResidualLayer,
    MultiStageTCN,
    Stage,
    build_model,
)

__all__ = [
    "LAYER_TYPES",
    "DilatedResidualLayer",
    "DualDilatedResidualLayer",
    "MultiStageTCN",
    "Stage",
    "build_model",
]
