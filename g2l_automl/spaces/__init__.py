"""Search spaces: dilations (G2L's sparse space), channel widths, temporal kernels, op types, depths and modules."""

from g2l_automl.spaces._config import space_from_dict
from g2l_automl.spaces._dimensions import Depths, Dilations, Dimension, Gene, Kernels, Modules, Ops, Widths
from g2l_automl.spaces._space import ENCODINGS, SearchSpace, check_encoding

__all__ = [
    "ENCODINGS",
    "Depths",
    "Dilations",
    "Dimension",
    "Gene",
    "Kernels",
    "Modules",
    "Ops",
    "SearchSpace",
    "Widths",
    "check_encoding",
    "space_from_dict",
]
