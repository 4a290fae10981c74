"""Optuna samplers: G2L's genetic global search and EvaNet's tournament evolution."""

from g2l_automl.samplers._evolution import EvolutionSampler, mutation_count
from g2l_automl.samplers._factory import SAMPLERS, make_sampler
from g2l_automl.samplers._g2l import G2LGeneticSampler
from g2l_automl.samplers._genome import Genome, two_anchor_crossover
from g2l_automl.samplers._ranking import (
    SELECTION_MODES,
    nondominated_ranks,
    rank_probabilities,
    roulette_probabilities,
    selection_probabilities,
    sort_best_first,
    tournament_probabilities,
)

__all__ = [
    "SAMPLERS",
    "SELECTION_MODES",
    "make_sampler",
    "EvolutionSampler",
    "G2LGeneticSampler",
    "Genome",
    "mutation_count",
    "nondominated_ranks",
    "rank_probabilities",
    "roulette_probabilities",
    "selection_probabilities",
    "sort_best_first",
    "tournament_probabilities",
    "two_anchor_crossover",
]
