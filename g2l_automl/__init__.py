"""g2l_automl: receptive-field and temporal architecture search for video models (Optuna and NNI plugins)."""

from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.errors import CheckpointError, DataError, G2LError, StructureError, TrainingError
from g2l_automl.metrics import evaluate
from g2l_automl.models import MultiStageTCN, build_model
from g2l_automl.structure import LayerSpec, StageSpec, StructureSpec, load_structure, save_structure
from g2l_automl.training import Trainer, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "ActionSegmentationDataset",
    "CheckpointError",
    "DataError",
    "G2LError",
    "LayerSpec",
    "MultiStageTCN",
    "StageSpec",
    "StructureError",
    "StructureSpec",
    "Trainer",
    "TrainingError",
    "build_model",
    "evaluate",
    "generate",
    "load_checkpoint",
    "load_structure",
    "save_checkpoint",
    "save_structure",
]
