"""Build a sampler by name: ours (``g2l``, ``evolution``) or Optuna's, for equal-budget comparisons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from g2l_automl.errors import G2LError
from g2l_automl.samplers._evolution import EvolutionSampler
from g2l_automl.samplers._g2l import G2LGeneticSampler
from g2l_automl.spaces import SearchSpace

#: Sampler names accepted by :func:`make_sampler` (and ``g2l-optimize search --sampler``).
SAMPLERS: tuple[str, ...] = ("g2l", "evolution", "tpe", "random", "nsga2", "cmaes", "gp")


def make_sampler(
    name: str, space: SearchSpace | None = None, options: Mapping[str, Any] | None = None, seed: int | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` with keyword ``options`` (e.g. ``{"population_size": 50}``) and ``seed``."""
    options = dict(options or {})
    if seed is not None:
        options["seed"] = seed
    if name == "g2l":
        cls: Any = G2LGeneticSampler
        args: tuple[Any, ...] = (space,)
    elif name == "evolution":
        cls, args = EvolutionSampler, (space,)
    else:
        classes = {
            "tpe": optuna.samplers.TPESampler,
            "random": optuna.samplers.RandomSampler,
            "nsga2": optuna.samplers.NSGAIISampler,
            "cmaes": optuna.samplers.CmaEsSampler,
            "gp": optuna.samplers.GPSampler,
        }
        if name not in classes:
            raise G2LError(f"sampler: unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
        cls, args = classes[name], ()
    try:
        return cls(*args, **options)
    except (TypeError, ValueError) as exc:
        raise G2LError(f"samplers.{name}: {exc}") from None
