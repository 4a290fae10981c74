"""Configs: the YAML files under ``studies/`` that describe a structure search (:class:`StudyConfig`), a Video-NAS
search (:class:`VideoNASConfig`) and a NAS-TC experiment (:class:`NASTCConfig`)."""

from g2l_automl.config._classification import (
    CLASSIFICATION_DATA,
    ClassificationConfig,
    check_classification_data,
    load_classification_splits,
)
from g2l_automl.config._nastc import NASTCConfig, load_nastc_config, parse_nastc_config
from g2l_automl.config._study import StudyConfig, load_config
from g2l_automl.config._videonas import VIDEONAS_SAMPLERS, VideoNASConfig, load_videonas_config

__all__ = [
    "CLASSIFICATION_DATA",
    "VIDEONAS_SAMPLERS",
    "ClassificationConfig",
    "NASTCConfig",
    "StudyConfig",
    "VideoNASConfig",
    "check_classification_data",
    "load_classification_splits",
    "load_config",
    "load_nastc_config",
    "load_videonas_config",
    "parse_nastc_config",
]
