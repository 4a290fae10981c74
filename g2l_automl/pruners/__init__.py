"""Optuna pruners: EGIPruner, rungs with promotion (ASHA) or the genetic search's top-M cut at checkpoint epochs."""

from g2l_automl.pruners._egi import RULES, EGIPruner, RungRule, cannot_make_top, rung_prunes
from g2l_automl.pruners._factory import EGI_OPTIONS, PRUNERS, make_pruner

__all__ = ["EGI_OPTIONS", "PRUNERS", "RULES", "EGIPruner", "RungRule", "cannot_make_top", "make_pruner", "rung_prunes"]
