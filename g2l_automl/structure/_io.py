"""Reading and writing structure specs: our JSON format and the official G2L config format.

The G2L code writes ``{"global": {...}, "model": {"stages.0.layers.3.conv_dilated": 8, ...}}``, one key per
dilated convolution (the module path inside the model) and an int or a 1-element list as value. Our models name
their modules the same way, so the keys map one to one:

* MS-TCN layers: ``stages.S.layers.L.conv_dilated``;
* dual-dilated layers: ``stages.S.layers.L.conv_dilated_1`` and ``..._2``.

On reading we also accept the module names of the original MS-TCN (``stage1.*`` is stage 0, ``stages.i.*`` then
stage ``i + 1``) and MS-TCN++ (``PG.conv_dilated_1.L``, ``PG.conv_dilated_2.L``, ``Rs.i.layers.L.conv_dilated``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from g2l_automl._files import write_json_atomic
from g2l_automl.errors import StructureError
from g2l_automl.structure._spec import LayerSpec, StageSpec, StructureSpec

_G2L_KEY = re.compile(r"^stages\.(\d+)\.layers\.(\d+)\.conv_dilated(?:_([12]))?$")
_MSTCN_KEY = re.compile(r"^(stage1|stages\.(\d+))\.layers\.(\d+)\.conv_dilated$")
_MSTCNPP_PG_KEY = re.compile(r"^PG\.conv_dilated_([12])\.(\d+)$")
_MSTCNPP_R_KEY = re.compile(r"^Rs\.(\d+)\.layers\.(\d+)\.conv_dilated$")


def _read_json(path: str | os.PathLike[str], missing: str = "file not found") -> Any:
    """The JSON value in ``path``; every failure is a :class:`StructureError` naming the file (``missing``: the
    message for a file that is not there)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise StructureError(f"{path}: {missing}") from None
    except json.JSONDecodeError as exc:
        raise StructureError(f"{path}: not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise StructureError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # a folder given as the file, no permission, ...
        raise StructureError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _gene_value(key: str, value: Any) -> int:
    if isinstance(value, list):
        if len(value) != 1:
            raise StructureError(f"model.{key}: expected an int or a 1-element list, got a list of {len(value)}")
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StructureError(f"model.{key}: dilation must be an integer >= 1, got {value!r}")
    return value


def _parse_g2l_keys(model: Mapping[str, Any]) -> dict[tuple[int, int], dict[int, int]]:
    """Map ``(stage, layer) -> {branch: dilation}`` (branch 0 for plain convs, 1/2 for dual-dilated ones)."""
    genes: dict[tuple[int, int], dict[int, int]] = {}
    uses_stage1 = any(k.startswith("stage1.") for k in model)
    for key, raw in model.items():
        value = _gene_value(key, raw)
        if m := _MSTCNPP_PG_KEY.match(key):
            slot, branch = (0, int(m.group(2))), int(m.group(1))
        elif m := _MSTCNPP_R_KEY.match(key):
            slot, branch = (int(m.group(1)) + 1, int(m.group(2))), 0
        elif uses_stage1 and (m := _MSTCN_KEY.match(key)):
            stage = 0 if m.group(1) == "stage1" else int(m.group(2)) + 1
            slot, branch = (stage, int(m.group(3))), 0
        elif m := _G2L_KEY.match(key):
            slot, branch = (int(m.group(1)), int(m.group(2))), int(m.group(3) or 0)
        else:
            raise StructureError(
                f"model.{key}: not a dilated-convolution key (expected e.g. stages.0.layers.3.conv_dilated)"
            )
        if branch in genes.setdefault(slot, {}):
            raise StructureError(f"model.{key}: dilation of stage {slot[0]} layer {slot[1]} given twice")
        genes[slot][branch] = value
    return genes


def from_g2l_config(config: Mapping[str, Any], base: StructureSpec | None = None) -> StructureSpec:
    """Build a spec from a G2L config dict.

    With ``base``, the config's dilations replace the base's (every layer of the base must be given); without,
    the shape (stages, layers, dual-dilated or not) comes from the keys, with MS-TCN's kernel 3 and 64 channels.
    """
    model = config.get("model") if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping) or not model:
        raise StructureError("model: a G2L config needs a non-empty 'model' object of dilations")
    genes = _parse_g2l_keys(model)
    if base is None:
        num_stages = max(s for s, _ in genes) + 1
        stages = []
        for s in range(num_stages):
            n = max((i for st, i in genes if st == s), default=-1) + 1
            if n == 0:
                raise StructureError(f"model: no layer given for stage {s}")
            layers = []
            for i in range(n):
                branches = genes.get((s, i))
                if branches is None:
                    raise StructureError(f"model: stage {s} layer {i} is missing")
                if set(branches) == {0}:
                    layers.append(LayerSpec(branches[0]))
                elif set(branches) == {1, 2}:
                    layers.append(LayerSpec(branches[1], op="dual_conv", dilation2=branches[2]))
                else:
                    raise StructureError(f"model: stage {s} layer {i} needs both conv_dilated_1 and conv_dilated_2")
            stages.append(StageSpec(tuple(layers)))
        return StructureSpec(stages=tuple(stages), name="g2l")
    expected = {(s, i) for s, i, _ in base.layers()}
    if set(genes) != expected:
        missing = sorted(expected - set(genes))
        extra = sorted(set(genes) - expected)
        raise StructureError(
            f"model: keys do not match the base structure (missing stage/layer {missing}, unexpected {extra})"
        )
    spec = base
    for (s, i), branches in sorted(genes.items()):
        layer = base.stages[s].layers[i]
        if layer.op == "dual_conv":
            if set(branches) != {1, 2}:
                raise StructureError(f"model: stage {s} layer {i} is dual-dilated; give conv_dilated_1 and _2")
            spec = spec.with_layer(s, i, dilation=branches[1], dilation2=branches[2])
        else:
            if set(branches) != {0}:
                raise StructureError(f"model: stage {s} layer {i} has a single conv; give conv_dilated")
            spec = spec.with_layer(s, i, dilation=branches[0])
    return spec


def to_g2l_config(spec: StructureSpec, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The G2L config dict of ``spec`` (ints as values, as the G2L local search writes them)."""
    model: dict[str, int] = {}
    for s, i, layer in spec.layers():
        prefix = f"stages.{s}.layers.{i}.conv_dilated"
        if layer.op == "dual_conv":
            model[f"{prefix}_1"] = layer.dilation
            model[f"{prefix}_2"] = layer.dilation2  # type: ignore[assignment]
        else:
            model[prefix] = layer.dilation
    return {"global": dict(settings or {}), "model": model}


def save_structure(
    spec: StructureSpec,
    path: str | os.PathLike[str],
    format: str = "json",
    settings: Mapping[str, Any] | None = None,
) -> None:
    """Write ``spec`` to ``path`` as our JSON (``format="json"``) or as a G2L config (``format="g2l"``, with
    ``settings`` as its ``global`` section)."""
    if format == "json":
        data = spec.to_dict()
    elif format == "g2l":
        data = to_g2l_config(spec, settings)
    else:
        raise StructureError(f"format: unknown structure format {format!r} (choose json or g2l)")
    write_json_atomic(path, data)


def load_structure(path: str | os.PathLike[str], base: StructureSpec | None = None) -> StructureSpec:
    """Read a structure from our JSON or from a G2L config (detected by its ``model`` key).

    Errors name the file and the field.
    """
    data = _read_json(path)
    try:
        if isinstance(data, Mapping) and "model" in data and "stages" not in data:
            return from_g2l_config(data, base=base)
        return StructureSpec.from_dict(data)
    except StructureError as exc:
        raise StructureError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise StructureError(f"{path}: {exc}") from None
