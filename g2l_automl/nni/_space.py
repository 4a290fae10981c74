"""NNI search-space JSON -> Optuna distributions (for tuners run without a study config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from g2l_automl.errors import SpaceError


def distributions_from_nni(search_space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """One Optuna distribution per key of an NNI search space: ``choice`` (flat values), ``randint``,
    ``uniform``, ``quniform``, ``loguniform``. Other types (normal, nested choices) raise :class:`SpaceError`
    naming the key.

    Example:
        >>> d = distributions_from_nni({"a": {"_type": "choice", "_value": [1, 2, 4]},
        ...                             "lr": {"_type": "loguniform", "_value": [1e-4, 1e-2]}})
        >>> d["a"].choices, d["lr"].log
        ((1, 2, 4), True)
    """
    if not isinstance(search_space, Mapping) or not search_space:
        raise SpaceError(f"NNI search space: expected a non-empty mapping, got {search_space!r}")
    out: dict[str, BaseDistribution] = {}
    for name, spec in search_space.items():
        if not isinstance(spec, Mapping) or "_type" not in spec or "_value" not in spec:
            raise SpaceError(f"NNI search space: {name}: expected {{'_type': ..., '_value': [...]}}, got {spec!r}")
        kind, value = spec["_type"], spec["_value"]
        try:
            if kind == "choice":
                if any(isinstance(v, (dict, list)) for v in value):
                    raise SpaceError(f"NNI search space: {name}: nested choices are not supported")
                out[name] = CategoricalDistribution(tuple(value))
            elif kind == "randint":
                out[name] = IntDistribution(int(value[0]), int(value[1]) - 1)
            elif kind in ("uniform", "loguniform"):
                out[name] = FloatDistribution(float(value[0]), float(value[1]), log=kind == "loguniform")
            elif kind == "quniform":
                out[name] = FloatDistribution(float(value[0]), float(value[1]), step=float(value[2]))
            else:
                raise SpaceError(f"NNI search space: {name}: unsupported _type {kind!r}")
        except (TypeError, ValueError, IndexError) as exc:
            raise SpaceError(f"NNI search space: {name}: invalid _value {value!r}: {exc}") from None
    return out
