"""EGI local search (G2L Alg. 2) and its DARTS baseline over any structure spec."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from g2l_automl.data import Video
from g2l_automl.egi._candidates import ROUNDINGS, candidate_dilations, expected_dilation
from g2l_automl.egi._layers import NORMALIZATIONS, DartsDilatedConv1d, MultiDilatedConv1d
from g2l_automl.errors import G2LError
from g2l_automl.models import build_model
from g2l_automl.structure import StructureSpec
from g2l_automl.training import Trainer, replace_trainer, resolve_device

METHODS: tuple[str, ...] = ("egi", "darts")


@dataclass
class LocalSearchResult:
    """What a local search found: the refined structure, every layer's dilations after each update
    (``trajectory[0]`` is the start), the training logs, and whether the last update moved no dilation."""

    structure: StructureSpec
    trajectory: list[dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs: int = 0
    converged: bool = False


def _searchable(model: nn.Module, spec: StructureSpec, stages: Sequence[int] | None) -> list[tuple[tuple, str]]:
    """``((stage, layer, field), module attribute name)`` of every dilated convolution to search. Layers of other
    ops (separable, TGM, parallel modules) keep their dilation: their temporal part is not one shared-kernel
    convolution that a multi-dilated layer can stand in for."""
    out = []
    for s, i, layer in spec.layers():
        if stages is not None and s not in stages:
            continue
        if layer.op == "dual_conv":
            out += [((s, i, "dilation"), "conv_dilated_1"), ((s, i, "dilation2"), "conv_dilated_2")]
        elif layer.op == "conv":
            out.append(((s, i, "dilation"), "conv_dilated"))
    return out


def _dilations_of(spec: StructureSpec) -> list[list[Any]]:
    """Per stage, each layer's dilation (a ``[d1, d2]`` pair for dual-dilated layers): the trajectory format."""
    return [
        [list(layer.dilations) if layer.op == "dual_conv" else layer.dilation for layer in st.layers]
        for st in spec.stages
    ]


class EGILocalSearch:
    """Expectation-guided iterative local search (G2L Sec. 3.3, Alg. 2), or the DARTS baseline (Table 4).

    Every searched dilated convolution becomes a multi-dilated one (Eq. 5) over ``num_candidates`` dilations spaced
    symmetrically over ``[D - dD, D + dD]`` (``dD = max(delta * D, min_delta)``, see :func:`candidate_dilations`).
    Each iteration of Alg. 2 trains ``interval`` epochs; then each layer moves to the expectation of its PMF (Eq. 4
    and 6), its candidates are rebuilt around the new D and its importance weights restart uniform, while the shared
    kernels keep training. ``method="darts"`` uses separate kernels per candidate, softmax architecture weights
    trained jointly with the kernels (first-order), and argmax decoding.

    Rounding of Eq. 6: ``round`` (the default, as the official code) is unbiased, so a PMF without signal keeps D on
    average and a uniform PMF keeps it exactly; ``floor`` (Eq. 6 as printed) loses about 1/2 per update without
    signal (with noisy near-uniform PMFs, 10 updates take D = 8 to about 3 and D = 4 to 1).

    Optimiser: one Adam (``trainer.lr``) over all parameters lives through the whole search, so the kernels' moments
    and step counts carry across updates; an update drops only the importance weights' Adam state (``exp_avg``,
    ``exp_avg_sq``, ``step``) with the weights themselves (DARTS: alpha's; every branch takes the decoded branch's
    weights and Adam state).

    Schedule: with ``stop_when_converged`` it stops at the first update that moves no dilation; without it, it runs
    every update, as Alg. 2's N iterations (``ceil(epochs / interval)``).

    Args:
        method: ``egi`` or ``darts``.
        num_candidates: S (paper: 3).
        delta, min_delta: dD = max(delta * D, min_delta) (paper: 0.1 D; ``min_delta=1`` lets D <= 4 move).
        interval: epochs between updates (paper: 3).
        epochs: total training epochs (paper: 30).
        rounding: ``round`` (unbiased, default) or ``floor`` (Eq. 6 as printed).
        normalize: PMF of the importance weights: ``abs`` (Eq. 4), ``softmax`` or ``sigmoid`` (Table 7).
        max_dilation: upper clip of the candidates.
        stages: search only these stages (default: all).
        stop_when_converged: stop at the first update that moves no dilation (else run all updates, Alg. 2).
        trainer: how to train (its ``epochs`` is ignored; the search trains ``interval`` epochs at a time with
            seed ``trainer.seed + update``; its ``lr`` is the one Adam's). Default: ``Trainer(batch_size=1,
            progress=False)``.
        seed: seed of the initial weights.

    Example:
        >>> import numpy as np
        >>> from g2l_automl.data import Video
        >>> rng = np.random.default_rng(0)
        >>> videos = [Video(f"v{i}", rng.normal(size=(4, 60)).astype("float32"), np.repeat([0, 1], 30),
        ...                 np.repeat([0, 1], 30)) for i in range(2)]
        >>> search = EGILocalSearch(interval=1, epochs=2, stop_when_converged=False, trainer=Trainer(progress=False))
        >>> result = search.run(StructureSpec.mstcn(1, 3, channels=8), videos, input_dim=4, num_classes=2)
        >>> [step["epoch"] for step in result.trajectory], len(result.structure.stages[0].layers)
        ([0, 1, 2], 3)
    """

    def __init__(
        self,
        method: str = "egi",
        num_candidates: int = 3,
        delta: float = 0.1,
        min_delta: int = 1,
        interval: int = 3,
        epochs: int = 30,
        rounding: str = "round",
        normalize: str = "abs",
        max_dilation: int | None = 2048,
        stages: Sequence[int] | None = None,
        stop_when_converged: bool = True,
        trainer: Trainer | None = None,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise G2LError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
        if rounding not in ROUNDINGS:
            raise G2LError(f"rounding: must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
        if normalize not in NORMALIZATIONS:
            raise G2LError(f"normalize: must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
        for name, value, low in (
            ("num_candidates", num_candidates, 1),
            ("interval", interval, 1),
            ("epochs", epochs, 1),
            ("min_delta", min_delta, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise G2LError(f"{name}: must be an integer >= {low}, got {value!r}")
        if not isinstance(delta, (int, float)) or delta < 0:
            raise G2LError(f"delta: must be a number >= 0, got {delta!r}")
        if not isinstance(stop_when_converged, bool):
            raise G2LError(f"stop_when_converged: must be true or false, got {stop_when_converged!r}")
        self.method, self.num_candidates, self.delta, self.min_delta = method, num_candidates, delta, min_delta
        self.interval, self.epochs, self.rounding, self.normalize = interval, epochs, rounding, normalize
        self.max_dilation, self.stages, self.seed = max_dilation, stages, seed
        self.stop_when_converged = stop_when_converged
        self.trainer = trainer or Trainer(batch_size=1, progress=False)

    def candidates(self, dilation: int) -> tuple[int, ...]:
        return candidate_dilations(dilation, self.num_candidates, self.delta, self.min_delta, self.max_dilation)

    def _wrap(self, conv: nn.Conv1d, dilation: int) -> nn.Module:
        args = (conv.in_channels, conv.out_channels, conv.kernel_size[0])
        if self.method == "darts":
            layer: nn.Module = DartsDilatedConv1d(*args, dilations=self.candidates(dilation))
            for branch in layer.branches:
                branch.load_state_dict(conv.state_dict())
        else:
            layer = MultiDilatedConv1d(*args, dilations=self.candidates(dilation), normalize=self.normalize)
            with torch.no_grad():
                layer.weight.copy_(conv.weight)
                layer.bias.copy_(conv.bias)
        return layer.to(conv.weight.device)

    def _decide(self, layer: nn.Module) -> int:
        if isinstance(layer, DartsDilatedConv1d):
            return layer.decode()
        with torch.no_grad():
            pmf = layer.pmf().double().cpu().tolist()
        return expected_dilation(pmf, layer.dilations, self.rounding)

    def _move(self, layer: nn.Module, dilation: int, optimizer: torch.optim.Optimizer) -> None:
        """Candidates around ``dilation``; the importance weights and their Adam state restart, the kernels keep
        theirs (DARTS: every branch takes the decoded branch's weights and Adam state)."""
        if isinstance(layer, DartsDilatedConv1d):
            kept = [optimizer.state.get(p, {}) for p in layer.branches[layer.decoded_branch()].parameters()]
            layer.set_dilations(self.candidates(dilation))
            for branch in layer.branches:
                for param, state in zip(branch.parameters(), kept, strict=True):
                    optimizer.state[param] = {k: v.clone() for k, v in state.items()}
            importance = layer.alpha
        else:
            layer.set_dilations(self.candidates(dilation))
            importance = layer.importance
        optimizer.state.pop(importance, None)

    def supernet(self, structure: StructureSpec, input_dim: int, num_classes: int) -> nn.Module:
        """``structure``'s model (weights drawn under :attr:`seed`) with every searched dilated convolution replaced
        by its multi-dilated (or DARTS) layer over the candidates around its dilation: what :meth:`run` trains."""
        model = build_model(structure, input_dim, num_classes, seed=self.seed)
        for (s, i, fld), attr in _searchable(model, structure, self.stages):
            module = model.stages[s].layers[i]
            setattr(module, attr, self._wrap(getattr(module, attr), getattr(structure.stages[s].layers[i], fld)))
        return model

    def run(
        self,
        structure: StructureSpec,
        train: Sequence[Video],
        val: Sequence[Video] | None = None,
        *,
        input_dim: int | None = None,
        num_classes: int,
        bg_labels: Sequence[int] = (),
        callback: Callable[[dict[str, Any]], None] | None = None,
    ) -> LocalSearchResult:
        """Search from ``structure`` on ``train`` (``val``, if given, is scored after each update into the
        history); ``callback(step)`` gets each trajectory entry."""
        if not train:
            raise G2LError("train: no training videos")
        input_dim = input_dim or train[0].features.shape[0]
        model = self.supernet(structure, input_dim, num_classes)
        targets = _searchable(model, structure, self.stages)
        current = {key: getattr(structure.stages[key[0]].layers[key[1]], key[2]) for key, _ in targets}
        model.to(resolve_device(self.trainer.device))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.trainer.lr)  # one for the whole search
        spec = structure
        trajectory = [{"epoch": 0, "dilations": _dilations_of(spec)}]
        history: list[dict[str, Any]] = []
        done, update, moved = 0, 0, True
        while done < self.epochs:
            n = min(self.interval, self.epochs - done)
            trainer = replace_trainer(self.trainer, epochs=n, seed=self.trainer.seed + update, eval_every=n)
            logs = trainer.fit(model, train, val, bg_labels=bg_labels, optimizer=optimizer)
            for entry in logs:
                entry["epoch"] += done
            history += logs
            done += n
            update += 1
            moved = False
            for key, attr in targets:
                s, i, fld = key
                layer = getattr(model.stages[s].layers[i], attr)
                new = min(self._decide(layer), self.max_dilation or 1 << 62)
                moved |= new != current[key]
                current[key] = new
                self._move(layer, new, optimizer)
                spec = spec.with_layer(s, i, **{fld: new})
            step = {"epoch": done, "dilations": _dilations_of(spec)}
            trajectory.append(step)
            if callback is not None:
                callback(step)
            if not moved and self.stop_when_converged:
                break
        return LocalSearchResult(spec, trajectory, history, done, converged=not moved)
