"""OptunaHub package ``pruners/egi``: EGIPruner (ASHA rungs or G2L's top-M cut), re-exported from g2l_automl."""

from g2l_automl.pruners import EGIPruner

__all__ = ["EGIPruner"]
