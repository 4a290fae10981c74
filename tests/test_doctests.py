"""The runnable examples in the public docstrings stay runnable."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "g2l_automl.spaces._space",
    "g2l_automl.spaces._dimensions",
    "g2l_automl.spaces._config",
    "g2l_automl.samplers._g2l",
    "g2l_automl.samplers._evolution",
    "g2l_automl.samplers._ranking",
    "g2l_automl.objective._segmentation",
    "g2l_automl.structure._spec",
    "g2l_automl.search._ensemble",
    "g2l_automl.search._compare",
    "g2l_automl.search._storage",
    "g2l_automl.data._planted",
    "g2l_automl.training._predict",
    "g2l_automl.models._tgm",
    "g2l_automl.models._tcn",
    "g2l_automl.models._videonas",
    "g2l_automl.nas._videonas",
    "g2l_automl.nas._viterbi",
    "g2l_automl.objective._videonas",
    "g2l_automl.models._temporal_ops",
    "g2l_automl.models._nastc",
    "g2l_automl.models._timeception",
    "g2l_automl.nas._temp_darts",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
