"""NNI front ends: G2L's genetic search and EvaNet's evolution as NNI tuners, the EGI rule as an assessor, the
trial entry point (``python -m g2l_automl.nni.trial``) and the export of an experiment's correctly paired results."""

from g2l_automl.nni._assessor import EGIAssessor
from g2l_automl.nni._experiment import experiment_dir
from g2l_automl.nni._export import export_to_study, to_frozen_trials
from g2l_automl.nni._protocol import ID_KEY, default_value
from g2l_automl.nni._space import distributions_from_nni
from g2l_automl.nni._tuner import EvolutionTuner, G2LGeneticTuner

__all__ = [
    "ID_KEY",
    "EGIAssessor",
    "EvolutionTuner",
    "G2LGeneticTuner",
    "default_value",
    "distributions_from_nni",
    "experiment_dir",
    "export_to_study",
    "to_frozen_trials",
]
