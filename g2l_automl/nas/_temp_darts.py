"""Temp-DARTS (NAS-TC Sec. III-B): a differentiable search of one temporal normal cell.

The supernet is a :class:`~g2l_automl.nas.NASTCSupernet` whose every cell edge is a softmax mixture of the nine
temporal ops, with one ``alpha`` shared by all cells. Training alternates first-order DARTS steps
(:class:`~g2l_automl.training.ClassifierTrainer` with ``arch_parameters=[alpha]``): after ``warmup`` weight-only
epochs, every weight step on a training batch follows an ``alpha`` step on a validation batch. The result is the
decoded :class:`~g2l_automl.structure.Genotype` (per node the two strongest non-zero edges) with the op weights and
their history, one snapshot per epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from g2l_automl._checks import check_int
from g2l_automl.data import ClassificationSet
from g2l_automl.errors import StructureError
from g2l_automl.nas._nastc_supernet import NASTCSupernet
from g2l_automl.structure import TEMPORAL_OP_NAMES as OP_NAMES
from g2l_automl.structure import Genotype
from g2l_automl.training import ClassifierTrainer, EpochCallback

__all__ = ["TempDARTSResult", "TempDARTSSearch"]


@dataclass
class TempDARTSResult:
    """What a search found: ``alphas`` are the final softmaxed op weights ``(edges, 9)`` (columns in
    :data:`~g2l_automl.models.TEMPORAL_OPS` order), ``alpha_history`` one such array per epoch, ``history`` the
    trainer's epoch logs."""

    genotype: Genotype
    alphas: np.ndarray
    alpha_history: list[np.ndarray]
    history: list[dict[str, Any]]
    seconds: float
    supernet_parameters: int
    genotype_history: list[Genotype] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (arrays as nested lists)."""
        return {
            "genotype": self.genotype.to_dict(),
            "ops": list(OP_NAMES),
            "alphas": np.round(self.alphas, 6).tolist(),
            "alpha_history": [np.round(a, 6).tolist() for a in self.alpha_history],
            "genotype_history": [g.to_dict() for g in self.genotype_history],
            "history": self.history,
            "seconds": round(self.seconds, 3),
            "supernet_parameters": self.supernet_parameters,
        }


class TempDARTSSearch:
    """Search a NAS-TC cell on video-level multi-label data.

    Args:
        layers, groups, channels, nodes, multiplier, hidden, dropout: the supernet (see
            :class:`~g2l_automl.nas.NASTCSupernet`); the searched cell is then retrained in any network size.
        epochs: supernet training epochs; ``warmup`` of them train the weights only.
        batch_size, lr, weight_decay: the weights' Adam settings.
        arch_lr, arch_weight_decay: the architecture Adam settings (DARTS: 3e-4, 1e-3, betas (0.5, 0.999)).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seeds the supernet's initial weights and ``alpha``, the batch order and the weight updates.

    Example:
        >>> from g2l_automl.data import ClassificationSet
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(8, 6, 8, generator=g), (torch.rand(8, 3, generator=g) > 0.5).float()
        >>> data = ClassificationSet(tuple("abcdefgh"), x, y, ("p", "q", "r"))
        >>> search = TempDARTSSearch(layers=1, groups=1, channels=3, nodes=2, hidden=4, epochs=2, warmup=1)
        >>> result = search.run(data, data)
        >>> [len(node) for node in result.genotype.nodes], result.alphas.shape, len(result.alpha_history)
        ([2, 2], (5, 9), 2)
    """

    def __init__(
        self,
        layers: int = 2,
        groups: int = 2,
        channels: int = 32,
        nodes: int = 4,
        multiplier: int = 3,
        hidden: int = 128,
        dropout: float = 0.5,
        epochs: int = 20,
        warmup: int = 5,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        arch_lr: float = 3e-3,
        arch_weight_decay: float = 1e-3,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        for name, value in (("layers", layers), ("groups", groups), ("channels", channels), ("nodes", nodes)):
            check_int(value, name, error=StructureError)
        check_int(multiplier, "multiplier", error=StructureError)
        check_int(hidden, "hidden", error=StructureError)
        if channels % groups:
            raise StructureError(f"channels: {channels} is not divisible by groups={groups}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < epochs:
            raise StructureError(f"warmup: must be an integer in 0..epochs-1 ({epochs - 1}), got {warmup!r}")
        self.layers, self.groups, self.channels, self.nodes = layers, groups, channels, nodes
        self.multiplier, self.hidden, self.dropout = multiplier, hidden, dropout
        self.epochs, self.warmup, self.batch_size = epochs, warmup, batch_size
        self.lr, self.weight_decay, self.arch_lr, self.arch_weight_decay = lr, weight_decay, arch_lr, arch_weight_decay
        self.device, self.seed = device, seed
        self._trainer()  # validates the training settings now

    def _trainer(self) -> ClassifierTrainer:
        return ClassifierTrainer(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_epochs=self.warmup,
            arch_lr=self.arch_lr,
            arch_weight_decay=self.arch_weight_decay,
            device=self.device,
            seed=self.seed,
        )

    def build_supernet(self, input_dim: int, num_classes: int) -> NASTCSupernet:
        """The supernet with seeded initial weights (the caller's RNG state is untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return NASTCSupernet(
                input_dim,
                num_classes,
                layers=self.layers,
                groups=self.groups,
                channels=self.channels,
                nodes=self.nodes,
                multiplier=self.multiplier,
                hidden=self.hidden,
                dropout=self.dropout,
            )

    def run(
        self, train: ClassificationSet, val: ClassificationSet, callback: EpochCallback | None = None
    ) -> TempDARTSResult:
        """Train the supernet on ``train`` (weights) and ``val`` (``alpha``) and decode its cell."""
        model = self.build_supernet(train.input_dim, train.num_classes)
        alpha_history: list[np.ndarray] = []
        genotypes: list[Genotype] = []

        def record(epoch: int, logs: dict[str, Any]) -> None:
            with torch.no_grad():
                alpha_history.append(model.op_weights().cpu().numpy().astype(float))
            genotypes.append(model.genotype())
            if callback is not None:
                callback(epoch, logs)

        start = time.perf_counter()
        history = self._trainer().fit(model, train, val, arch_parameters=model.arch_parameters(), callback=record)
        return TempDARTSResult(
            genotype=genotypes[-1],
            alphas=alpha_history[-1],
            alpha_history=alpha_history,
            history=history,
            seconds=time.perf_counter() - start,
            supernet_parameters=sum(p.numel() for n, p in model.named_parameters() if n != "alpha"),
            genotype_history=genotypes,
        )
