"""Data: the MS-TCN layout reader, validation splits, batching, and the synthetic generator."""

from g2l_automl.data._batching import IGNORE_INDEX, Batch, batch_order, collate, iterate_batches
from g2l_automl.data._classification import (
    ClassificationSet,
    classification_set,
    classification_splits,
    concat_sets,
    multi_hot,
    resample,
)
from g2l_automl.data._dataset import ActionSegmentationDataset, Video, read_mapping
from g2l_automl.data._planted import PlantedPreset, planted_dilations
from g2l_automl.data._synthetic import PRESETS, SyntheticPreset, generate

__all__ = [
    "resample",
    "multi_hot",
    "classification_set",
    "classification_splits",
    "concat_sets",
    "ClassificationSet",
    "IGNORE_INDEX",
    "PRESETS",
    "ActionSegmentationDataset",
    "Batch",
    "PlantedPreset",
    "SyntheticPreset",
    "Video",
    "batch_order",
    "collate",
    "generate",
    "iterate_batches",
    "planted_dilations",
    "read_mapping",
]
