"""Video-NAS (Zhou et al., ACML 2021) on feature sequences: the search space (channel widths per stage, stack
depth, temporal op per layer) for Optuna/NNI, and the differentiable search with a FLOPs term and Viterbi
decoding."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from g2l_automl._checks import check_choice, check_real
from g2l_automl.data import ClassificationSet
from g2l_automl.errors import G2LError, SpaceError
from g2l_automl.nas._videonas_supernet import DECODE_CRITERIA, VideoNASSupernet
from g2l_automl.structure import VIDEONAS_OPS as OPS
from g2l_automl.structure import VideoNASArch, check_videonas_candidates
from g2l_automl.training import ClassifierTrainer

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import CategoricalDistribution


class VideoNASSpace:
    """The Video-NAS search space (Tables 1-2): per stage, a width from ``widths[s]`` and ``max_layers[s]`` stack
    layers, each one of ``ops`` (``skip`` layers make a stage shallower, so the depth is searched through them).

    Genes, all categorical and always active (so Optuna's intersection search space, TPE and our genetic
    samplers with ``space=None`` all see every gene): ``stage{s}.channels`` and ``stage{s}.layer{i}.op``, ``s``
    from 1 (the stem is stage 0 and is not searched), in stage-then-layer order.

    Args:
        widths: candidate widths of each searched stage.
        max_layers: maximum stack layers of each stage.
        ops: the candidate stack ops (a subset of :data:`~g2l_automl.structure.VIDEONAS_OPS`).
        stem_channels: width of the unsearched stem.

    Example:
        >>> space = VideoNASSpace(widths=[[8, 16], [16, 32]], max_layers=[1, 2])
        >>> space.names
        ('stage1.channels', 'stage1.layer0.op', 'stage2.channels', 'stage2.layer0.op', 'stage2.layer1.op')
        >>> arch = space.baseline()
        >>> arch.summary()
        '16 | 8: dil1 | 16: dil1 dil1'
        >>> space.to_arch(space.to_params(arch)) == arch
        True
        >>> space.to_nni()["stage1.channels"]
        {'_type': 'choice', '_value': [8, 16]}
    """

    def __init__(
        self,
        widths: Sequence[Sequence[int]] = ((16, 24, 32), (32, 48, 64), (48, 64, 96), (64, 96, 128)),
        max_layers: Sequence[int] = (2, 3, 3, 2),
        ops: Sequence[str] = OPS,
        stem_channels: int = 16,
    ) -> None:
        try:
            check_videonas_candidates(widths, max_layers, ops)
            VideoNASArch(stem_channels, tuple(w[0] for w in widths), tuple(() for _ in widths))
        except G2LError as exc:
            raise SpaceError(str(exc)) from None
        self.widths = tuple(tuple(w) for w in widths)
        self.max_layers = tuple(max_layers)
        self.ops = tuple(ops)
        self.stem_channels = stem_channels

    def __repr__(self) -> str:
        return (
            f"VideoNASSpace(widths={[list(w) for w in self.widths]}, max_layers={list(self.max_layers)}, "
            f"ops={list(self.ops)}, stem_channels={self.stem_channels})"
        )

    @property
    def num_stages(self) -> int:
        return len(self.widths)

    @property
    def names(self) -> tuple[str, ...]:
        """Gene names in stage-then-layer order."""
        out = []
        for s, layers in enumerate(self.max_layers, start=1):
            out.append(f"stage{s}.channels")
            out += [f"stage{s}.layer{i}.op" for i in range(layers)]
        return tuple(out)

    @property
    def size(self) -> int:
        """Number of gene combinations."""
        return math.prod(len(w) * len(self.ops) ** n for w, n in zip(self.widths, self.max_layers, strict=True))

    def choices(self, name: str) -> tuple[Any, ...]:
        """Candidates of gene ``name``."""
        if name not in self.names:
            raise SpaceError(f"{name}: not a gene of this space; genes: {', '.join(self.names)}")
        stage = int(name.split(".")[0][len("stage") :])
        return self.widths[stage - 1] if name.endswith(".channels") else self.ops

    def distributions(self) -> dict[str, CategoricalDistribution]:
        """One Optuna categorical distribution per gene."""
        from optuna.distributions import CategoricalDistribution

        return {name: CategoricalDistribution(self.choices(name)) for name in self.names}

    def to_nni(self) -> dict[str, dict[str, Any]]:
        """The space as an NNI search space (``choice`` per gene)."""
        return {name: {"_type": "choice", "_value": list(self.choices(name))} for name in self.names}

    def suggest(self, trial: optuna.Trial) -> VideoNASArch:
        """Ask ``trial`` for every gene; the architecture it describes."""
        return self.to_arch({name: trial.suggest_categorical(name, self.choices(name)) for name in self.names})

    def to_arch(self, params: Mapping[str, Any]) -> VideoNASArch:
        """The architecture of a parameter dict (every gene needed; unknown keys are refused)."""
        unknown = set(params) - set(self.names)
        if unknown:
            raise SpaceError(f"params: unknown gene(s) {', '.join(sorted(unknown))}")
        for name in self.names:
            if name not in params:
                raise SpaceError(f"params: {name}: missing")
            if params[name] not in self.choices(name):
                raise SpaceError(f"params: {name}: {params[name]!r} is not one of {list(self.choices(name))}")
        return VideoNASArch(
            self.stem_channels,
            tuple(int(params[f"stage{s}.channels"]) for s in range(1, self.num_stages + 1)),
            tuple(
                tuple(str(params[f"stage{s}.layer{i}.op"]) for i in range(n))
                for s, n in enumerate(self.max_layers, start=1)
            ),
        )

    def to_params(self, arch: VideoNASArch) -> dict[str, Any]:
        """The genes of ``arch``; a stage with fewer layers than its maximum is padded with ``skip`` (when the
        space has it). An architecture outside the space raises :class:`~g2l_automl.errors.SpaceError`."""
        if arch.stem_channels != self.stem_channels or len(arch.widths) != self.num_stages:
            raise SpaceError(
                f"architecture: {self.num_stages} stages after a stem of {self.stem_channels} expected, got "
                f"{len(arch.widths)} stages after {arch.stem_channels}"
            )
        params: dict[str, Any] = {}
        for s, (width, ops, n) in enumerate(zip(arch.widths, arch.ops, self.max_layers, strict=True), start=1):
            if width not in self.widths[s - 1]:
                raise SpaceError(f"stage{s}.channels: {width} is not one of {list(self.widths[s - 1])}")
            if len(ops) > n or (len(ops) < n and "skip" not in self.ops):
                raise SpaceError(f"stage{s}: {len(ops)} stack layers do not fit max_layers={n} with ops {self.ops}")
            params[f"stage{s}.channels"] = width
            for i, op in enumerate(tuple(ops) + ("skip",) * (n - len(ops))):
                if op not in self.ops:
                    raise SpaceError(f"stage{s}.layer{i}.op: {op!r} is not one of {list(self.ops)}")
                params[f"stage{s}.layer{i}.op"] = op
        return params

    def baseline(self) -> VideoNASArch:
        """The hand-designed R(2+1)D-like network: every stage at full depth with ``dil1`` layers and its
        middle width candidate."""
        if "dil1" not in self.ops:
            raise SpaceError("baseline: the R(2+1)D-like baseline needs the dil1 op in the space")
        return VideoNASArch(
            self.stem_channels,
            tuple(w[(len(w) - 1) // 2] for w in self.widths),
            tuple(("dil1",) * n for n in self.max_layers),
        )

    def supernet(
        self, input_dim: int, num_classes: int, *, steps: int = 64, dropout: float = 0.5, seed: int | None = 0
    ) -> VideoNASSupernet:
        """The relaxed network of this space, with weights drawn under ``seed``."""
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            return VideoNASSupernet(
                self.widths,
                self.max_layers,
                input_dim,
                num_classes,
                stem_channels=self.stem_channels,
                ops=self.ops,
                dropout=dropout,
                steps=steps,
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "widths": [list(w) for w in self.widths],
            "max_layers": list(self.max_layers),
            "ops": list(self.ops),
            "stem_channels": self.stem_channels,
        }


@dataclass
class VideoNASResult:
    """What a differentiable search found: the decoded architecture, the final architecture weights
    (``alphas[s]``: ``(max_layers, n_ops)`` logits; ``betas[s]``: ``(n_{s-1}, n_s)`` logits), one history
    entry per epoch (training loss, validation mAP of the supernet, decoded architecture, expected MFLOPs), and
    ``weights``: the decoded network's state dict taken from the trained supernet
    (:meth:`~g2l_automl.nas.VideoNASSupernet.inherited_state`; for retraining from the searched weights), and the
    trained ``supernet`` itself (on the CPU; to decode it otherwise). Neither is serialised by :meth:`to_dict`."""

    arch: VideoNASArch
    alphas: list[np.ndarray]
    betas: list[np.ndarray]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    supernet: VideoNASSupernet | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(),
            "summary": self.arch.summary(),
            "alphas": [a.tolist() for a in self.alphas],
            "betas": [b.tolist() for b in self.betas],
            "history": self.history,
            "seconds": self.seconds,
        }


class VideoNASSearch:
    """Differentiable Video-NAS search (Sec. 3.3, appendix A.1) on video-level classification sets.

    The supernet (:class:`~g2l_automl.nas.VideoNASSupernet`) is trained with
    :class:`~g2l_automl.training.ClassifierTrainer`: ``warmup_epochs`` of weight-only training, then per batch an
    architecture step on a validation batch (loss ``BCE + flops_weight * log_k(E[FLOPs])``, Eq. 5, ``k =
    flops_base``) and a weight step on a training batch. Decoding: argmax op per stack layer, Viterbi path over the
    width candidates by ``decode`` (:data:`~g2l_automl.nas.DECODE_CRITERIA`: ``sum`` of the path weights, the
    paper's, or of their logs).

    Args:
        space: the :class:`VideoNASSpace`.
        epochs, warmup_epochs, batch_size, lr, weight_decay: supernet training (paper: 70 epochs, 10 warm-up).
        arch_lr, arch_weight_decay: Adam on ``alpha``/``beta``. The paper's 3e-4 assumes thousands of steps per
            epoch; with a few steps per epoch on small sets a larger rate (default 0.01) lets the weights move.
        flops_weight, flops_base: ``lambda`` and ``k`` of Eq. 5 (0 switches the cost term off).
        dropout: dropout before the classifiers.
        decode: the Viterbi criterion, ``sum`` (paper, default) or ``log``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seed of the supernet's weights, the batch order and dropout.

    Example:
        >>> from g2l_automl.data import ClassificationSet
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(8, 4, 16, generator=g), (torch.rand(8, 3, generator=g) > 0.5).float()
        >>> data = ClassificationSet(tuple("abcdefgh"), x, y, ("p", "q", "r"))
        >>> space = VideoNASSpace(widths=[[4, 8], [8, 12]], max_layers=[1, 1], stem_channels=4)
        >>> result = VideoNASSearch(space, epochs=2, warmup_epochs=1, batch_size=4).run(data, data)
        >>> len(result.history), sorted(result.history[-1])[:3]
        (2, ['arch', 'arch_loss', 'epoch'])
    """

    def __init__(
        self,
        space: VideoNASSpace,
        *,
        epochs: int = 30,
        warmup_epochs: int = 10,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        arch_lr: float = 0.01,
        arch_weight_decay: float = 1e-3,
        flops_weight: float = 0.05,
        flops_base: float = 10.0,
        dropout: float = 0.5,
        device: str = "auto",
        seed: int = 0,
        decode: str = "sum",
    ) -> None:
        if not isinstance(space, VideoNASSpace):
            raise SpaceError(f"space: expected a VideoNASSpace, got {type(space).__name__}")
        check_real(flops_weight, "flops_weight", 0.0, error=G2LError)
        check_real(flops_base, "flops_base (the base k of log_k)", 1.0, open_low=True, error=G2LError)
        if isinstance(warmup_epochs, int) and isinstance(epochs, int) and warmup_epochs >= epochs:
            raise G2LError(f"warmup_epochs: {warmup_epochs} leaves no search epoch of {epochs}")
        self.space = space
        self.trainer = ClassifierTrainer(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            arch_lr=arch_lr,
            arch_weight_decay=arch_weight_decay,
            device=device,
            seed=seed,
        )
        self.flops_weight = float(flops_weight)
        self.flops_base = float(flops_base)
        self.dropout = dropout
        self.seed = seed
        self.decode = check_choice(decode, "decode", DECODE_CRITERIA, error=G2LError)

    def penalty(self, supernet: VideoNASSupernet) -> torch.Tensor:
        """``lambda * log_k(E[FLOPs])`` of Eq. 5 (float32 scalar)."""
        return (self.flops_weight * torch.log(supernet.expected_flops()) / math.log(self.flops_base)).float()

    def run(self, train: ClassificationSet, val: ClassificationSet) -> VideoNASResult:
        """Search on ``train`` (weights) and ``val`` (architecture); the decoded architecture and its history."""
        supernet = self.space.supernet(
            train.input_dim, train.num_classes, steps=int(train.features.shape[2]), dropout=self.dropout, seed=self.seed
        )
        history: list[dict[str, Any]] = []

        def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
            arch = supernet.decode(self.decode)
            with torch.no_grad():
                expected = float(supernet.expected_flops())
            entry = {k: v for k, v in logs.items() if k != "seconds"}
            entry.update(arch=arch.to_dict(), summary=arch.summary(), expected_mflops=round(expected / 1e6, 4))
            entry["seconds"] = logs["seconds"]
            history.append(entry)

        start = time.perf_counter()
        penalty = (lambda: self.penalty(supernet)) if self.flops_weight > 0 else None
        self.trainer.fit(
            supernet, train, val, arch_parameters=supernet.arch_parameters(), arch_penalty=penalty, callback=on_epoch
        )
        arch = supernet.decode(self.decode)
        return VideoNASResult(
            arch=arch,
            alphas=[a.detach().cpu().numpy().copy() for a in supernet.alphas],
            betas=[b.detach().cpu().numpy().copy() for b in supernet.betas],
            history=history,
            seconds=round(time.perf_counter() - start, 3),
            weights={k: v.cpu() for k, v in supernet.inherited_state(arch).items()},
            supernet=supernet.cpu(),
        )
