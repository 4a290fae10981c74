"""The trainer: Adam, MS-TCN's loss, masks, seeded determinism, mixed precision on CUDA, per-epoch callbacks."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from g2l_automl._checks import check_int, check_real
from g2l_automl.data import Video, iterate_batches
from g2l_automl.errors import TrainingError
from g2l_automl.training._loss import segmentation_loss
from g2l_automl.training._predict import evaluate_videos

#: ``callback(epoch, logs)`` is called after every epoch (1-based); raising from it stops training (e.g. Optuna's
#: ``TrialPruned``). ``logs`` holds ``loss``, ``train_acc``, ``seconds``, ``frames_per_s`` and, with validation
#: data, ``val`` (the metrics dict of :func:`g2l_automl.metrics.evaluate`).
EpochCallback = Callable[[int, dict[str, Any]], None]


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; asking for CUDA without one is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise TrainingError(f"device: unknown device {device!r} (choose auto, cpu or cuda)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device: 'cuda' was asked for but no CUDA device is available (use --device auto or cpu)")
    return resolved


class Trainer:
    """Train a :class:`~g2l_automl.models.MultiStageTCN` on a list of videos.

    Args:
        epochs: number of passes over the training videos.
        batch_size: videos per batch (padded to the longest; similar lengths are bucketed together).
        lr: Adam learning rate (MS-TCN: 5e-4).
        smoothing_weight, tau: weight and truncation of the smoothing loss (MS-TCN: 0.15 and 4).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (bfloat16, or float16 with loss scaling) when training on CUDA.
        seed: seeds weight updates, dropout and batch order; the caller's global RNG state is restored afterwards.
        progress: show a progress bar per epoch.
        eval_every: score the validation videos every this many epochs (and always after the last).

    Example:
        >>> from g2l_automl.models import build_model
        >>> from g2l_automl.structure import StructureSpec
        >>> videos = [Video("v", np.random.rand(4, 30).astype("float32"), np.zeros(30, int), np.zeros(30, int))]
        >>> model = build_model(StructureSpec.mstcn(1, 2, channels=8), input_dim=4, num_classes=2, seed=0)
        >>> history = Trainer(epochs=2, progress=False).fit(model, videos)
        >>> len(history)
        2
    """

    def __init__(
        self,
        epochs: int = 50,
        batch_size: int = 1,
        lr: float = 5e-4,
        smoothing_weight: float = 0.15,
        tau: float = 4.0,
        device: str = "auto",
        amp: bool = True,
        seed: int = 0,
        progress: bool = True,
        eval_every: int = 1,
    ) -> None:
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("eval_every", eval_every)):
            check_int(value, name, error=TrainingError)
        check_real(lr, "lr", 0.0, open_low=True, error=TrainingError)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.smoothing_weight = smoothing_weight
        self.tau = tau
        self.device = device
        self.amp = amp
        self.seed = seed
        self.progress = progress
        self.eval_every = eval_every

    def _precision(self, device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
        """Autocast dtype (None: full precision) and, for float16, the loss scaler kept across epochs."""
        if not (self.amp and device.type == "cuda"):
            return None, None
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, None
        return torch.float16, torch.amp.GradScaler("cuda")

    def fit(
        self,
        model: torch.nn.Module,
        train: Sequence[Video],
        val: Sequence[Video] | None = None,
        callback: EpochCallback | None = None,
        bg_labels: Sequence[int] = (),
        optimizer: torch.optim.Optimizer | None = None,
    ) -> list[dict[str, Any]]:
        """Train ``model`` in place; returns one log dict per epoch. ``bg_labels`` are the class indices that the
        validation metrics treat as background. ``optimizer`` continues training with this optimiser and its state
        (e.g. Adam's moments across calls) instead of a fresh ``Adam(lr)``."""
        history: list[dict[str, Any]] = []
        for epoch, logs in enumerate(self.epochs_of(model, train, val, bg_labels, optimizer), start=1):
            history.append(logs)
            if callback is not None:
                callback(epoch, logs)
        return history

    def epochs_of(
        self,
        model: torch.nn.Module,
        train: Sequence[Video],
        val: Sequence[Video] | None = None,
        bg_labels: Sequence[int] = (),
        optimizer: torch.optim.Optimizer | None = None,
    ) -> Iterator[dict[str, Any]]:
        """:meth:`fit` one epoch at a time: yields each epoch's logs. The training keeps its own random state
        between epochs, so several of these can be stepped in lockstep (e.g. the repeats of a candidate) and each
        trains exactly as :meth:`fit` would; the caller's global RNG state is never changed."""
        if not train:
            raise TrainingError("train: no training videos")
        device = resolve_device(self.device)
        model.to(device)
        if optimizer is None:
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        rng = np.random.default_rng(self.seed)
        precision = self._precision(device)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            state = _rng_state(devices)
        for epoch in range(1, self.epochs + 1):
            with torch.random.fork_rng(devices=devices):
                _set_rng_state(state, devices)
                logs = self._epoch(model, optimizer, train, rng, device, epoch, precision)
                if val and (epoch % self.eval_every == 0 or epoch == self.epochs):
                    logs["val"] = evaluate_videos(model, val, bg_labels, device=device, batch_size=self.batch_size)
                state = _rng_state(devices)
            yield logs

    def _epoch(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        train: Sequence[Video],
        rng: np.random.Generator,
        device: torch.device,
        epoch: int,
        precision: tuple[torch.dtype | None, torch.amp.GradScaler | None],
    ) -> dict[str, Any]:
        dtype, scaler = precision
        model.train()
        start = time.perf_counter()
        total_loss, correct, frames, n_batches = 0.0, 0, 0, 0
        batches = tqdm(
            iterate_batches(train, self.batch_size, rng),
            total=math.ceil(len(train) / self.batch_size),
            desc=f"epoch {epoch}/{self.epochs}",
            leave=False,
            disable=None if self.progress else True,  # None: only on a terminal
        )
        for batch in batches:
            batch = batch.to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                outputs = model(batch.features, batch.mask)
            loss = segmentation_loss(outputs, batch.labels, batch.mask, self.smoothing_weight, self.tau)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingError(
                    f"the training loss became {value} at epoch {epoch}, batch {n_batches + 1} "
                    f"(videos {', '.join(batch.names)}); check the features or lower the learning rate (lr={self.lr})"
                )
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            real = batch.mask[:, 0].bool()
            correct += int((outputs[-1].argmax(1) == batch.labels)[real].sum())
            frames += int(real.sum())
            total_loss += value
            n_batches += 1
            batches.set_postfix(loss=f"{total_loss / n_batches:.3f}")
        seconds = time.perf_counter() - start
        return {
            "epoch": epoch,
            "loss": total_loss / n_batches,
            "train_acc": correct / frames * 100.0,
            "seconds": seconds,
            "frames_per_s": frames / seconds if seconds > 0 else float("inf"),
        }


def replace_trainer(trainer: Trainer, **changes: Any) -> Trainer:
    """A copy of ``trainer`` with some settings changed (a Trainer keeps exactly its constructor arguments)."""
    settings = inspect.signature(Trainer).parameters
    return Trainer(**{**{k: v for k, v in vars(trainer).items() if k in settings}, **changes})


def _rng_state(devices: Sequence[torch.device]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices]


def _set_rng_state(state: tuple[torch.Tensor, list[torch.Tensor]], devices: Sequence[torch.device]) -> None:
    torch.set_rng_state(state[0])
    for d, cuda_state in zip(devices, state[1], strict=True):
        torch.cuda.set_rng_state(cuda_state, d)
