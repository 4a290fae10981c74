"""Temporal segmentation and classification models: MS-TCN / MS-TCN++ built from structure specs, and the discrete
networks of Video-NAS, NAS-TC and Timeception. The searchable supernets live in :mod:`g2l_automl.nas`."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from g2l_automl.models._evanet_ops import Conv2Plus1d, TemporalPool1d
from g2l_automl.models._nastc import GenotypeCell, NASTCLayer, NASTCNetwork, TemporalCell
from g2l_automl.models._tcn import (
    LAYER_TYPES,
    DilatedResidualLayer,
    DualDilatedResidualLayer,
    MultiStageTCN,
    ParallelResidualLayer,
    ParallelTemporal,
    SeparableConv1d,
    SeparableResidualLayer,
    Stage,
    TGMResidualLayer,
    build_model,
    temporal_op,
)
from g2l_automl.models._temporal_network import TemporalNetwork, channel_shuffle, group_major, node_channels
from g2l_automl.models._temporal_ops import TEMPORAL_OPS
from g2l_automl.models._tgm import TemporalGaussianMixture1d
from g2l_automl.models._timeception import TemporalConvModule, TimeceptionLayer, TimeceptionNetwork
from g2l_automl.models._videonas import (
    BasicOp,
    VideoNASNet,
    build_videonas,
    head_layer,
    stack_layer,
    stage_lengths,
    stem_layer,
)
from g2l_automl.structure import VIDEONAS_OPS, Genotype, VideoNASArch, load_genotype, save_genotype

__all__ = [
    "LAYER_TYPES",
    "TEMPORAL_OPS",
    "VIDEONAS_OPS",
    "BasicOp",
    "Conv2Plus1d",
    "DilatedResidualLayer",
    "DualDilatedResidualLayer",
    "Genotype",
    "GenotypeCell",
    "MultiStageTCN",
    "NASTCLayer",
    "NASTCNetwork",
    "ParallelResidualLayer",
    "ParallelTemporal",
    "SeparableConv1d",
    "SeparableResidualLayer",
    "Stage",
    "TGMResidualLayer",
    "TemporalCell",
    "TemporalConvModule",
    "TemporalGaussianMixture1d",
    "TemporalNetwork",
    "TemporalPool1d",
    "TimeceptionLayer",
    "TimeceptionNetwork",
    "VideoNASArch",
    "VideoNASNet",
    "build_model",
    "build_videonas",
    "channel_shuffle",
    "group_major",
    "head_layer",
    "load_genotype",
    "node_channels",
    "save_genotype",
    "stack_layer",
    "stage_lengths",
    "stem_layer",
    "temporal_op",
]

#: Names this package exported before the supernets moved to :mod:`g2l_automl.nas` (issue 17): still resolved on
#: access, with a DeprecationWarning. This is a deliberate upward dependency on nas at run time (importing models
#: does not load nas); tests/test_imports.py's AST walk does not see it. Delete this shim to drop the old names.
_MOVED_TO_NAS = ("MixedOp", "SearchCell", "VideoNASSupernet")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_NAS:
        warnings.warn(f"g2l_automl.models.{name} moved to g2l_automl.nas.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("g2l_automl.nas"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
