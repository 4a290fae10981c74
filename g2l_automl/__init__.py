"""g2l_automl: receptive-field and temporal architecture search for video models (Optuna and NNI plugins)."""

from g2l_automl.config import StudyConfig, load_config
from g2l_automl.data import ActionSegmentationDataset, generate
from g2l_automl.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    G2LError,
    SpaceError,
    StructureError,
    TrainingError,
)
from g2l_automl.metrics import evaluate
from g2l_automl.models import MultiStageTCN, build_model
from g2l_automl.objective import SegmentationObjective
from g2l_automl.samplers import EvolutionSampler, G2LGeneticSampler
from g2l_automl.spaces import Depths, Dilations, Kernels, Modules, Ops, SearchSpace, Widths
from g2l_automl.structure import LayerSpec, StageSpec, StructureSpec, load_structure, save_structure
from g2l_automl.training import Trainer, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "ActionSegmentationDataset",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Depths",
    "Dilations",
    "EvolutionSampler",
    "G2LError",
    "G2LGeneticSampler",
    "Kernels",
    "LayerSpec",
    "Modules",
    "MultiStageTCN",
    "Ops",
    "SearchSpace",
    "SegmentationObjective",
    "SpaceError",
    "StageSpec",
    "StructureError",
    "StructureSpec",
    "StudyConfig",
    "Trainer",
    "TrainingError",
    "Widths",
    "build_model",
    "evaluate",
    "generate",
    "load_checkpoint",
    "load_config",
    "load_structure",
    "save_checkpoint",
    "save_structure",
]
