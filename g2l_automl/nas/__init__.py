"""Differentiable architecture search on feature sequences: Video-NAS (channel / depth / op search with a FLOPs
term and Viterbi decoding) and NAS-TC's Temp-DARTS cells."""

from g2l_automl.nas._temp_darts import TempDARTSResult, TempDARTSSearch
from g2l_automl.nas._videonas import VideoNASResult, VideoNASSearch, VideoNASSpace
from g2l_automl.nas._viterbi import viterbi

__all__ = ["TempDARTSResult", "TempDARTSSearch", "VideoNASResult", "VideoNASSearch", "VideoNASSpace", "viterbi"]
