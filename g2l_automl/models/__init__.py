"""Temporal segmentation models built from structure specs."""

from g2l_automl.models._nastc import (
    Genotype,
    GenotypeCell,
    MixedOp,
    NASTCLayer,
    NASTCNetwork,
    SearchCell,
    TemporalNetwork,
    channel_shuffle,
    load_genotype,
    save_genotype,
)
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
from g2l_automl.models._temporal_ops import TEMPORAL_OPS
from g2l_automl.models._tgm import TemporalGaussianMixture1d
from g2l_automl.models._timeception import TemporalConvModule, TimeceptionLayer, TimeceptionNetwork
from g2l_automl.models._videonas import OPS as VIDEONAS_OPS
from g2l_automl.models._videonas import VideoNASArch, VideoNASNet, VideoNASSupernet, build_videonas

__all__ = [
    "LAYER_TYPES",
    "TEMPORAL_OPS",
    "VIDEONAS_OPS",
    "DilatedResidualLayer",
    "DualDilatedResidualLayer",
    "Genotype",
    "GenotypeCell",
    "MixedOp",
    "MultiStageTCN",
    "NASTCLayer",
    "NASTCNetwork",
    "ParallelResidualLayer",
    "ParallelTemporal",
    "SearchCell",
    "SeparableConv1d",
    "SeparableResidualLayer",
    "Stage",
    "TGMResidualLayer",
    "TemporalConvModule",
    "TemporalGaussianMixture1d",
    "TemporalNetwork",
    "TimeceptionLayer",
    "TimeceptionNetwork",
    "VideoNASArch",
    "VideoNASNet",
    "VideoNASSupernet",
    "build_model",
    "build_videonas",
    "channel_shuffle",
    "load_genotype",
    "save_genotype",
    "temporal_op",
]
