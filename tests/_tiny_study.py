"""Shared by the tests of commands that read a study: the tiny config's base structure and hand-made trials."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import create_trial

from g2l_automl.structure import StructureSpec

CONFIG = Path(__file__).resolve().parents[1] / "studies" / "synthetic-tiny.yaml"
BASE = StructureSpec.mstcn(1, 4, channels=16)  # the base structure of synthetic-tiny.yaml


def spec_with(*dilations: int) -> StructureSpec:
    """BASE with the first layers' dilations replaced."""
    spec = BASE
    for i, d in enumerate(dilations):
        spec = spec.with_layer(0, i, dilation=d)
    return spec


def frozen_trial(values, spec: StructureSpec | None, **attrs) -> optuna.trial.FrozenTrial:  # noqa: ANN001
    """A COMPLETE trial with ``values`` (one number or a list) and ``spec`` as its ``structure`` user attr."""
    values = [values] if isinstance(values, (int, float)) else list(values)
    return create_trial(values=values, user_attrs=dict(attrs, **({"structure": spec.to_dict()} if spec else {})))
