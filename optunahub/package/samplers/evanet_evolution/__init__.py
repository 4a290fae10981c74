"""OptunaHub package ``samplers/evanet_evolution``: EvaNet's tournament evolution, re-exported from g2l_automl."""

from g2l_automl.samplers import EvolutionSampler
from g2l_automl.spaces import Dilations, SearchSpace
from g2l_automl.structure import StructureSpec

__all__ = ["Dilations", "EvolutionSampler", "SearchSpace", "StructureSpec"]
