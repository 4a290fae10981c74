"""Build a pruner from the ``pruner:`` section of a study config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from g2l_automl.errors import G2LError
from g2l_automl.pruners._egi import EGIPruner

#: Pruner names accepted by :func:`make_pruner` (and ``g2l-optimize search --pruner``).
PRUNERS: tuple[str, ...] = ("none", "egi", "median", "hyperband")

#: Options of the ``egi`` pruner passed on to :class:`EGIPruner` (None or absent: its default).
EGI_OPTIONS: tuple[str, ...] = ("checkpoints", "rule", "reduction_factor", "min_resource", "min_trials")


def make_pruner(options: Mapping[str, Any], population_size: int = 50) -> optuna.pruners.BasePruner:
    """``{"name": "egi", "rule": "asha", "reduction_factor": 3, "checkpoints": [3, 9]}`` -> a pruner (see
    :class:`EGIPruner` for the options; a bad value raises ValueError naming the option). EGI's population size
    (the ``top-m`` rule's M) defaults to ``population_size`` (the G2L sampler's)."""
    name = options.get("name", "none")
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "egi":
        size = options.get("population_size")
        given = {key: options[key] for key in EGI_OPTIONS if options.get(key) is not None}
        checkpoints = given.pop("checkpoints", None)
        return EGIPruner(population_size if size is None else size, checkpoints, **given)
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=options.get("n_startup_trials", 5), n_warmup_steps=options.get("n_warmup_steps", 0)
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise G2LError(f"name: unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")
