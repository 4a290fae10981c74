"""Structure specs: the searchable description of a multi-stage temporal model, and its file formats."""

from g2l_automl.structure._io import from_g2l_config, load_structure, save_structure, to_g2l_config
from g2l_automl.structure._nastc_genotype import TEMPORAL_OP_NAMES, Genotype, load_genotype, num_edges, save_genotype
from g2l_automl.structure._spec import (
    BRANCH_OPS,
    KNOWN_OPS,
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL_SIZE,
    POOL_OPS,
    BranchSpec,
    LayerSpec,
    StageSpec,
    StructureSpec,
)
from g2l_automl.structure._videonas_arch import DILATIONS as VIDEONAS_DILATIONS
from g2l_automl.structure._videonas_arch import OPS as VIDEONAS_OPS
from g2l_automl.structure._videonas_arch import VideoNASArch, check_videonas_candidates

__all__ = [
    "BRANCH_OPS",
    "KNOWN_OPS",
    "MAX_CHANNELS",
    "MAX_DILATION",
    "MAX_KERNEL_SIZE",
    "POOL_OPS",
    "TEMPORAL_OP_NAMES",
    "VIDEONAS_DILATIONS",
    "VIDEONAS_OPS",
    "BranchSpec",
    "Genotype",
    "LayerSpec",
    "StageSpec",
    "StructureSpec",
    "VideoNASArch",
    "check_videonas_candidates",
    "from_g2l_config",
    "load_genotype",
    "load_structure",
    "num_edges",
    "save_genotype",
    "save_structure",
    "to_g2l_config",
]
