"""OptunaHub package ``samplers/g2l_genetic``: G2L's genetic global search, re-exported from g2l_automl."""

from g2l_automl.samplers import G2LGeneticSampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

__all__ = ["Dilations", "G2LGeneticSampler", "SearchSpace", "StructureSpec"]
