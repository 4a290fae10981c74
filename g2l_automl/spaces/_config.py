"""Build a :class:`SearchSpace` from the ``space:`` section of a study config."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from g2l_automl.errors import SpaceError
from g2l_automl.spaces._dimensions import Depths, Dilations, Kernels, Modules, Ops, Widths
from g2l_automl.spaces._space import SearchSpace
from g2l_automl.structure import StructureSpec

_DIMENSIONS = {
    "dilations": Dilations,
    "widths": Widths,
    "kernels": Kernels,
    "ops": Ops,
    "depths": Depths,
    "modules": Modules,
}


def space_from_dict(base: StructureSpec, data: Mapping[str, Any], where: str = "space") -> SearchSpace:
    """``{"dilations": {"k": 2, "T": 10}, "widths": {"candidates": [32, 64]}, "max_receptive_field": 4096}``.

    Example:
        >>> space = space_from_dict(StructureSpec.mstcn(2, 4), {"dilations": {"k": 2, "T": 3}})
        >>> space.gene("stage1.layer3.dilation").choices
        (1, 2, 4, 8)
    """
    if not isinstance(data, Mapping):
        raise SpaceError(f"{where}: expected a mapping of dimensions, got {data!r}")
    unknown = set(data) - set(_DIMENSIONS) - {"max_receptive_field"}
    if unknown:
        raise SpaceError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(_DIMENSIONS)}, max_receptive_field"
        )
    dimensions = []
    for key, cls in _DIMENSIONS.items():
        if key not in data or data[key] is None:
            continue
        options = data[key]
        if not isinstance(options, Mapping):
            raise SpaceError(f"{where}.{key}: expected a mapping of options, got {options!r}")
        allowed = set(inspect.signature(cls).parameters)
        bad = set(options) - allowed
        if bad:
            raise SpaceError(f"{where}.{key}: unknown option(s) {', '.join(sorted(bad))}; known: {', '.join(allowed)}")
        try:
            dimensions.append(cls(**options))
        except SpaceError as exc:
            raise SpaceError(f"{where}.{exc}") from None
    if not dimensions:
        raise SpaceError(f"{where}: no dimension to search; give at least one of {', '.join(_DIMENSIONS)}")
    try:
        return SearchSpace(base, dimensions, max_receptive_field=data.get("max_receptive_field"))
    except SpaceError as exc:
        raise SpaceError(f"{where}.{exc}") from None
