"""Structure specs: the searchable description of a multi-stage temporal model, and its file formats."""

from g2l_automl.structure._io import from_g2l_config, load_structure, save_structure, to_g2l_config
from g2l_automl.structure._spec import (
    BRANCH_OPS,
    KNOWN_OPS,
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL_SIZE,
    BranchSpec,
    LayerSpec,
    StageSpec,
    StructureSpec,
)

__all__ = [
    "BRANCH_OPS",
    "KNOWN_OPS",
    "MAX_CHANNELS",
    "MAX_DILATION",
    "MAX_KERNEL_SIZE",
    "BranchSpec",
    "LayerSpec",
    "StageSpec",
    "StructureSpec",
    "from_g2l_config",
    "load_structure",
    "save_structure",
    "to_g2l_config",
]
