"""Training, inference and checkpoints."""

from g2l_automl.training._checkpoint import load_checkpoint, save_checkpoint
from g2l_automl.training._classifier import ClassifierTrainer, evaluate_classifier, predict_scores
from g2l_automl.training._loss import segmentation_loss
from g2l_automl.training._predict import evaluate_videos, predict, predict_probabilities
from g2l_automl.training._threads import (
    host_cores,
    host_share,
    parse_threads,
    resolve_threads,
    set_threads,
    torch_threads,
)
from g2l_automl.training._trainer import EpochCallback, Trainer, replace_trainer, resolve_device

__all__ = [
    "ClassifierTrainer",
    "evaluate_classifier",
    "predict_scores",
    "EpochCallback",
    "Trainer",
    "evaluate_videos",
    "host_cores",
    "host_share",
    "parse_threads",
    "resolve_threads",
    "set_threads",
    "torch_threads",
    "load_checkpoint",
    "predict",
    "predict_probabilities",
    "replace_trainer",
    "resolve_device",
    "save_checkpoint",
    "segmentation_loss",
]
