"""Differentiable architecture search on feature sequences: Video-NAS (the supernet over widths, depths and ops
with a FLOPs term, Viterbi decoding) and NAS-TC's Temp-DARTS (the supernet of mixed-op cells); the mixed op both
relax their choices with."""

from g2l_automl.nas._mixed_op import MixedOp
from g2l_automl.nas._nastc_run import NASTCExperiment, format_results, run_experiment, train_and_score
from g2l_automl.nas._nastc_supernet import NASTCSearchLayer, NASTCSupernet, SearchCell, temporal_mixed_op
from g2l_automl.nas._temp_darts import TempDARTSResult, TempDARTSSearch
from g2l_automl.nas._videonas import VideoNASResult, VideoNASSearch, VideoNASSpace
from g2l_automl.nas._videonas_supernet import DECODE_CRITERIA, VideoNASSupernet
from g2l_automl.nas._viterbi import viterbi

__all__ = [
    "DECODE_CRITERIA",
    "MixedOp",
    "NASTCExperiment",
    "NASTCSearchLayer",
    "NASTCSupernet",
    "SearchCell",
    "TempDARTSResult",
    "TempDARTSSearch",
    "VideoNASResult",
    "VideoNASSearch",
    "VideoNASSpace",
    "VideoNASSupernet",
    "format_results",
    "run_experiment",
    "temporal_mixed_op",
    "train_and_score",
    "viterbi",
]
