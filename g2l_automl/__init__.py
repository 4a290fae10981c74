"""g2l_automl: receptive-field and temporal architecture search for video models (Optuna and NNI plugins).

The names below are imported on first use (module ``__getattr__``), so ``import g2l_automl.samplers`` or the CLI's
``--help`` does not load torch: only the subpackage that defines a name is imported when the name is read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from g2l_automl.config import StudyConfig, load_config
    from g2l_automl.data import ActionSegmentationDataset, generate
    from g2l_automl.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        G2LError,
        ParameterError,
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

# public name -> the subpackage that defines it
_SOURCES: dict[str, str] = {
    **dict.fromkeys(["StudyConfig", "load_config"], "config"),
    **dict.fromkeys(["ActionSegmentationDataset", "generate"], "data"),
    **dict.fromkeys(
        [
            "CheckpointError",
            "ConfigError",
            "DataError",
            "G2LError",
            "ParameterError",
            "SpaceError",
            "StructureError",
            "TrainingError",
        ],
        "errors",
    ),
    "evaluate": "metrics",
    **dict.fromkeys(["MultiStageTCN", "build_model"], "models"),
    "SegmentationObjective": "objective",
    **dict.fromkeys(["EvolutionSampler", "G2LGeneticSampler"], "samplers"),
    **dict.fromkeys(["Depths", "Dilations", "Kernels", "Modules", "Ops", "SearchSpace", "Widths"], "spaces"),
    **dict.fromkeys(["LayerSpec", "StageSpec", "StructureSpec", "load_structure", "save_structure"], "structure"),
    **dict.fromkeys(["Trainer", "load_checkpoint", "save_checkpoint"], "training"),
}

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
    "ParameterError",
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


def __getattr__(name: str) -> Any:
    """Import the subpackage that defines ``name`` on first use and cache the name here."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
