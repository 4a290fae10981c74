"""Expectation-guided iterative (EGI) local search: multi-dilated layers, the search loop, the DARTS baseline."""

from g2l_automl.egi._candidates import ROUNDINGS, candidate_dilations, expected_dilation
from g2l_automl.egi._layers import NORMALIZATIONS, DartsDilatedConv1d, MultiDilatedConv1d, normalize_importance
from g2l_automl.egi._search import METHODS, EGILocalSearch, LocalSearchResult
from g2l_automl.training import replace_trainer  # re-exported: it was public here first

__all__ = [
    "METHODS",
    "NORMALIZATIONS",
    "ROUNDINGS",
    "DartsDilatedConv1d",
    "EGILocalSearch",
    "LocalSearchResult",
    "MultiDilatedConv1d",
    "candidate_dilations",
    "expected_dilation",
    "normalize_importance",
    "replace_trainer",
]
