"""Build a pruner from the ``pruner:`` section of a study config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from g2l_automl.errors import G2LError
from g2l_automl.pruners._egi import EGIPruner

#: Pruner names accepted by :func:`make_pruner` (and ``g2l-optimize search --pruner``).
PRUNERS: tuple[str, ...] = ("none", "egi", "median", "hyperband")


def make_pruner(options: Mapping[str, Any], population_size: int = 50) -> optuna.pruners.BasePruner:
    """``{"name": "egi", "population_size": None, "checkpoints": [5, 10]}`` -> a pruner; EGI's population size
    defaults to ``population_size`` (the G2L sampler's)."""
    name = options.get("name", "none")
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "egi":
        size = options.get("population_size")
        return EGIPruner(population_size if size is None else size, options.get("checkpoints"))
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=options.get("n_startup_trials", 5), n_warmup_steps=options.get("n_warmup_steps", 0)
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise G2LError(f"name: unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")
