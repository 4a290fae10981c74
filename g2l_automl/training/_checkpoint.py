"""Checkpoints: weights plus everything needed to rebuild and score the model, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
from typing import Any

import torch

from g2l_automl._files import write_atomic
from g2l_automl.errors import CheckpointError, StructureError
from g2l_automl.models import MultiStageTCN, build_model
from g2l_automl.structure import MAX_CHANNELS, StructureSpec

FORMAT = "g2l_automl.checkpoint/1"


def save_checkpoint(path: str | os.PathLike[str], model: MultiStageTCN, **meta: Any) -> None:
    """Write ``model``'s weights, structure and shape plus ``meta`` (plain values: class names, sample rate, ...)
    atomically to ``path``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "structure": model.spec.to_dict(),
        "input_dim": model.input_dim,
        "num_classes": model.num_classes,
        "state_dict": state,
        "meta": meta,
    }
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MultiStageTCN, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns ``(model, meta)``."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever a text, empty, truncated or foreign file raises
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a g2l_automl checkpoint (expected format {FORMAT!r})")
    try:
        spec = StructureSpec.from_dict(payload.get("structure"))
    except (StructureError, TypeError) as exc:
        raise CheckpointError(f"{path}: structure: {exc}") from None
    for key in ("input_dim", "num_classes"):
        value = payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHANNELS:
            raise CheckpointError(f"{path}: {key}: must be an integer in 1..{MAX_CHANNELS}, got {value!r}")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: state_dict: expected a mapping of parameter names to tensors")
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: state_dict.{key}: the weights contain NaN or inf")
    meta = payload.get("meta", {})
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta: expected a mapping, got {type(meta).__name__}")
    model = build_model(spec, payload["input_dim"], payload["num_classes"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the structure ({str(exc).splitlines()[0]})") from None
    return model.to(device), dict(meta)
