"""Optuna pruners: EGIPruner, the genetic search's top-M selection applied at checkpoint epochs."""

from g2l_automl.pruners._egi import EGIPruner, cannot_make_top
from g2l_automl.pruners._factory import PRUNERS, make_pruner

__all__ = ["PRUNERS", "EGIPruner", "cannot_make_top", "make_pruner"]
