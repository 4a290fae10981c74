"""Training of video-level multi-label classifiers, optionally with DARTS-style alternating architecture steps.

The model maps ``(batch, input_dim, steps)`` features to ``(batch, classes)`` logits; the loss is binary
cross-entropy per label. With ``arch_parameters`` the fit alternates (first-order DARTS, as Video-NAS's appendix
and NAS-TC do): after ``warmup_epochs`` of weight-only training, every training batch is preceded by one
architecture step on a validation batch (loss + ``arch_penalty()``), and the weight step never moves the
architecture parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from g2l_automl._checks import check_int, check_real
from g2l_automl.data import ClassificationSet
from g2l_automl.errors import DataError, TrainingError
from g2l_automl.metrics import mean_average_precision
from g2l_automl.training._trainer import EpochCallback, resolve_device


@torch.no_grad()
def predict_scores(model: torch.nn.Module, data: ClassificationSet, batch_size: int = 32) -> np.ndarray:
    """Sigmoid probabilities ``(N, C)`` of ``model`` on ``data`` (eval mode; the mode is restored)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [
            torch.sigmoid(model(data.features[i : i + batch_size].to(device))).float().cpu()
            for i in range(0, len(data), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def evaluate_classifier(model: torch.nn.Module, data: ClassificationSet, batch_size: int = 32) -> dict[str, float]:
    """``{"mAP": ...}`` (percent) of ``model`` on ``data``."""
    try:
        return {"mAP": mean_average_precision(data.targets.numpy(), predict_scores(model, data, batch_size))}
    except ValueError as exc:
        raise DataError(f"mAP of {len(data)} videos ({', '.join(data.names[:3])}, ...): {exc}") from None


def _batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``size``; a last batch of one video joins the one before it (batch norm in
    training mode cannot normalise a single value per channel)."""
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


class ClassifierTrainer:
    """Fit a video-level classifier with Adam on multi-label binary cross-entropy.

    Args:
        epochs: passes over the training set.
        batch_size: videos per batch.
        lr, weight_decay: Adam settings of the weights.
        warmup_epochs: weight-only epochs before architecture steps start (Video-NAS: 10 of 70).
        arch_lr, arch_weight_decay, arch_betas: Adam settings of the architecture parameters (Video-NAS: 3e-4,
            1e-3, (0.5, 0.999)).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds the weights' updates and the batch order; the caller's RNG state is restored.

    Example:
        >>> from g2l_automl.data import ClassificationSet
        >>> x, y = torch.randn(8, 4, 16), (torch.rand(8, 3) > 0.5).float()
        >>> y[0] = 1.0
        >>> data = ClassificationSet(tuple("abcdefgh"), x, y, ("p", "q", "r"))
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
        >>> history = ClassifierTrainer(epochs=2, batch_size=4).fit(model, data, data)
        >>> sorted(history[-1])
        ['epoch', 'loss', 'seconds', 'val']
    """

    def __init__(
        self,
        epochs: int = 30,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_epochs: int = 0,
        arch_lr: float = 3e-4,
        arch_weight_decay: float = 1e-3,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        check_int(epochs, "epochs", error=TrainingError)
        check_int(batch_size, "batch_size", error=TrainingError)
        check_int(warmup_epochs, "warmup_epochs", 0, error=TrainingError)
        check_real(lr, "lr", 0.0, open_low=True, error=TrainingError)
        check_real(arch_lr, "arch_lr", 0.0, open_low=True, error=TrainingError)
        check_real(weight_decay, "weight_decay", 0.0, error=TrainingError)
        check_real(arch_weight_decay, "arch_weight_decay", 0.0, error=TrainingError)
        betas = tuple(arch_betas) if isinstance(arch_betas, (list, tuple)) else ()
        if len(betas) != 2 or not all(
            not isinstance(b, bool) and isinstance(b, (int, float)) and 0 <= b < 1 for b in betas
        ):
            raise TrainingError(f"arch_betas: must be two numbers in [0, 1), got {arch_betas!r}")
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.arch_lr = arch_lr
        self.arch_weight_decay = arch_weight_decay
        self.arch_betas = (float(betas[0]), float(betas[1]))
        self.device = device
        self.seed = seed

    def fit(
        self,
        model: torch.nn.Module,
        train: ClassificationSet,
        val: ClassificationSet | None = None,
        arch_parameters: Sequence[torch.nn.Parameter] = (),
        arch_penalty: Callable[[], torch.Tensor] | None = None,
        callback: EpochCallback | None = None,
    ) -> list[dict[str, Any]]:
        """Train ``model`` in place; one log per epoch (``loss``, ``seconds``, ``val`` = ``{"mAP"}``, and
        ``arch_loss`` once architecture steps run). Architecture steps need ``val``."""
        if len(train) == 0:
            raise TrainingError("train: no training videos")
        arch = list(arch_parameters)
        if arch and (val is None or len(val) == 0):
            raise TrainingError("val: architecture steps need validation videos")
        device = resolve_device(self.device)
        model.to(device)
        arch_ids = {id(p) for p in arch}
        weights = [p for p in model.parameters() if id(p) not in arch_ids and p.requires_grad]
        w_opt = torch.optim.Adam(weights, lr=self.lr, weight_decay=self.weight_decay)
        a_opt = (
            torch.optim.Adam(arch, lr=self.arch_lr, betas=self.arch_betas, weight_decay=self.arch_weight_decay)
            if arch
            else None
        )
        rng = np.random.default_rng(self.seed)
        history: list[dict[str, Any]] = []
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            for epoch in range(1, self.epochs + 1):
                start = time.perf_counter()
                model.train()
                search = a_opt is not None and epoch > self.warmup_epochs
                batches = _batches(rng.permutation(len(train)), self.batch_size)
                val_batches = _batches(rng.permutation(len(val)), self.batch_size) if search else []
                losses, arch_losses = [], []
                for k, batch in enumerate(batches):
                    if search:
                        idx = val_batches[k % len(val_batches)]
                        a_opt.zero_grad(set_to_none=True)
                        a_loss = self._loss(model, val, idx, device)
                        if arch_penalty is not None:
                            a_loss = a_loss + arch_penalty()
                        a_loss.backward()
                        a_opt.step()
                        arch_losses.append(float(a_loss.detach()))
                    w_opt.zero_grad(set_to_none=True)
                    loss = self._loss(model, train, batch, device)
                    loss.backward()
                    w_opt.step()
                    losses.append(float(loss.detach()))
                if not math.isfinite(float(np.mean(losses))):
                    raise TrainingError(f"epoch {epoch}: the training loss is not finite")
                logs: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(losses))}
                if arch_losses:
                    logs["arch_loss"] = float(np.mean(arch_losses))
                if val is not None and len(val):
                    logs["val"] = evaluate_classifier(model, val, self.batch_size)
                logs["seconds"] = round(time.perf_counter() - start, 4)
                history.append(logs)
                if callback is not None:
                    callback(epoch, logs)
        return history

    @staticmethod
    def _loss(model: torch.nn.Module, data: ClassificationSet, idx: np.ndarray, device: torch.device) -> torch.Tensor:
        index = torch.as_tensor(idx, dtype=torch.long)
        logits = model(data.features[index].to(device))
        return F.binary_cross_entropy_with_logits(logits, data.targets[index].to(device))
