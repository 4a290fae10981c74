"""Video-NAS networks on feature sequences: the discrete temporal ResNet and its relaxed supernet.

A network maps ``(batch, D, T)`` features to ``(batch, classes)`` logits: a stem (1x1 conv ``D -> C0`` + BN +
ReLU, not searched), then stages of one *head* layer (temporal conv k=3, stride 2: halves ``T``, changes the
width; BN, ReLU) followed by *stack* layers, then global average pooling, dropout and a linear classifier. A stack
layer is one of :data:`OPS`: the (2+1)D basic block of Video-NAS (Fig. 1) reduced to features -- a pointwise
"spatial" conv + BN + ReLU, a temporal conv k=3 with dilation 1, 2 or 4 + BN, a residual add and ReLU -- or
``skip`` (identity), so a stage's depth is its number of non-skip layers (Table 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from g2l_automl.errors import StructureError
from g2l_automl.metrics._flops import count_flops

#: Stack-layer ops (Video-NAS Table 2) and the temporal dilation of each non-skip op.
OPS: tuple[str, ...] = ("dil1", "dil2", "dil4", "skip")
DILATIONS: dict[str, int] = {"dil1": 1, "dil2": 2, "dil4": 4}


def _check_width(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StructureError(f"{name}: must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class VideoNASArch:
    """One discrete Video-NAS architecture: the stem width, one width per searched stage, and the ops of each
    stage's stack layers (``skip`` layers are identities; they keep positions so that an architecture maps back
    to the search space's genes).

    Example:
        >>> arch = VideoNASArch(16, (32, 64), (("dil1", "skip"), ("dil4",)))
        >>> arch.depths
        (1, 1)
        >>> VideoNASArch.from_dict(arch.to_dict()) == arch
        True
    """

    stem_channels: int
    widths: tuple[int, ...]
    ops: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        _check_width("stem_channels", self.stem_channels)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise StructureError(f"widths: expected a non-empty tuple of stage widths, got {self.widths!r}")
        for s, width in enumerate(self.widths, start=1):
            _check_width(f"stage{s}.channels", width)
        if not isinstance(self.ops, tuple) or len(self.ops) != len(self.widths):
            raise StructureError(
                f"ops: expected one tuple of stack ops per stage ({len(self.widths)}), got {self.ops!r}"
            )
        for s, stage in enumerate(self.ops, start=1):
            if not isinstance(stage, tuple):
                raise StructureError(f"stage{s}.ops: expected a tuple of op names, got {stage!r}")
            for i, op in enumerate(stage):
                if op not in OPS:
                    raise StructureError(f"stage{s}.layer{i}.op: unknown op {op!r}; choose from {', '.join(OPS)}")

    @property
    def depths(self) -> tuple[int, ...]:
        """Non-skip stack layers per stage."""
        return tuple(sum(op != "skip" for op in stage) for stage in self.ops)

    def summary(self) -> str:
        """One line: ``C0 | width: ops | ...`` with skips left out, e.g. ``16 | 32: dil1 | 64: -``."""
        stages = [
            f"{w}: {' '.join(o for o in ops if o != 'skip') or '-'}"
            for w, ops in zip(self.widths, self.ops, strict=True)
        ]
        return " | ".join([str(self.stem_channels), *stages])

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem_channels": self.stem_channels,
            "stages": [{"channels": w, "ops": list(ops)} for w, ops in zip(self.widths, self.ops, strict=True)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoNASArch:
        """Inverse of :meth:`to_dict`; bad input raises :class:`~g2l_automl.errors.StructureError` naming the
        field."""
        if not isinstance(data, Mapping) or set(data) != {"stem_channels", "stages"}:
            raise StructureError(f"architecture: expected keys stem_channels and stages, got {data!r}")
        stages = data["stages"]
        if not isinstance(stages, Sequence) or isinstance(stages, str):
            raise StructureError(f"stages: expected a list of {{channels, ops}}, got {stages!r}")
        for s, stage in enumerate(stages, start=1):
            if not isinstance(stage, Mapping) or set(stage) != {"channels", "ops"}:
                raise StructureError(f"stage{s}: expected keys channels and ops, got {stage!r}")
            if not isinstance(stage["ops"], Sequence) or isinstance(stage["ops"], str):
                raise StructureError(f"stage{s}.ops: expected a list of op names, got {stage['ops']!r}")
        return cls(
            data["stem_channels"],
            tuple(stage["channels"] for stage in stages),
            tuple(tuple(stage["ops"]) for stage in stages),
        )


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
    )


def stem_layer(input_dim: int, channels: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU (the unsearched first stage)."""
    return _conv_bn_relu(input_dim, channels, 1)


def head_layer(cin: int, cout: int) -> nn.Sequential:
    """Temporal conv k=3, stride 2 (``T -> ceil(T / 2)``) + BN + ReLU: a stage's downsampling width change."""
    return _conv_bn_relu(cin, cout, 3, stride=2)


class BasicOp(nn.Module):
    """The (2+1)D basic block on features: ``relu(x + BN(tconv_d(relu(BN(pw(x))))))``, a pointwise "spatial"
    conv then a temporal conv of kernel 3 and dilation ``d`` (length kept)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.spatial = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.temporal = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.spatial(x)))
        return F.relu(x + self.bn2(self.temporal(h)))


def stack_layer(op: str, channels: int) -> nn.Module:
    """The module of stack op ``op`` (:data:`OPS`)."""
    if op == "skip":
        return nn.Identity()
    if op not in DILATIONS:
        raise StructureError(f"op: unknown op {op!r}; choose from {', '.join(OPS)}")
    return BasicOp(channels, DILATIONS[op])


def stage_lengths(steps: int, num_stages: int) -> list[int]:
    """Time steps after the stem and after each stage's stride-2 head: ``[T, ceil(T/2), ...]``."""
    lengths = [steps]
    for _ in range(num_stages):
        lengths.append(math.ceil(lengths[-1] / 2))
    return lengths


class VideoNASNet(nn.Module):
    """The discrete network of a :class:`VideoNASArch`.

    Example:
        >>> arch = VideoNASArch(8, (16, 24), (("dil1", "skip"), ("dil2",)))
        >>> net = VideoNASNet(arch, input_dim=4, num_classes=3)
        >>> tuple(net(torch.zeros(2, 4, 16)).shape)
        (2, 3)
    """

    def __init__(self, arch: VideoNASArch, input_dim: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        _check_width("input_dim", input_dim)
        _check_width("num_classes", num_classes)
        self.arch = arch
        self.stem = stem_layer(input_dim, arch.stem_channels)
        stages, cin = [], arch.stem_channels
        for width, ops in zip(arch.widths, arch.ops, strict=True):
            stages.append(nn.Sequential(head_layer(cin, width), *(stack_layer(op, width) for op in ops)))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return self.classifier(self.dropout(h.mean(dim=-1)))


def build_videonas(
    arch: VideoNASArch, input_dim: int, num_classes: int, dropout: float = 0.5, seed: int | None = 0
) -> VideoNASNet:
    """:class:`VideoNASNet` with weights drawn under ``seed`` (the caller's RNG state is kept)."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return VideoNASNet(arch, input_dim, num_classes, dropout)


class MixedOp(nn.Module):
    """A relaxed stack layer (Eq. 3): ``sum_o w_o * o(x)`` over the candidate ops, each with its own weights."""

    def __init__(self, channels: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(ops)
        self.ops = nn.ModuleList(stack_layer(op, channels) for op in self.names)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


def _check_candidates(candidates: Sequence[Sequence[int]], max_layers: Sequence[int], ops: Sequence[str]) -> None:
    if not candidates or len(candidates) != len(max_layers):
        raise StructureError(
            f"widths / max_layers: expected one candidate list and one maximum depth per stage, got "
            f"{len(candidates)} and {len(max_layers)}"
        )
    for s, widths in enumerate(candidates, start=1):
        if not widths or len(set(widths)) != len(widths):
            raise StructureError(f"stage{s}.channels: expected distinct candidate widths, got {list(widths)!r}")
        for width in widths:
            _check_width(f"stage{s}.channels", width)
    for s, layers in enumerate(max_layers, start=1):
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise StructureError(f"stage{s}.max_layers: must be an integer >= 0, got {layers!r}")
    if not ops or len(set(ops)) != len(ops) or any(op not in OPS for op in ops):
        raise StructureError(f"ops: expected distinct ops from {', '.join(OPS)}, got {list(ops)!r}")


class VideoNASSupernet(nn.Module):
    """The continuous relaxation of a Video-NAS space: a lattice of width candidates (Eq. 1) with mixed stack
    layers (Eq. 2-3), and its expected FLOPs (Eq. 4).

    Lattice. Stage 0 is one node (the stem). Stage ``s`` has one node per width candidate ``j``; each node owns
    its stack layers, and each edge ``i -> j`` owns a head layer (``C_{s-1,i} -> C_{s,j}``). Path weights
    ``p_ij = softmax_j(beta^s_i)`` (Eq. 1) define a Markov chain over the nodes, whose node probabilities follow
    the forward algorithm: ``P_s(j) = sum_i P_{s-1}(i) p_ij``. Node ``j``'s input is the probability-weighted mix
    of its incoming heads, ``sum_i P_{s-1}(i) p_ij head_ij(y_i) / P_s(j)`` (the posterior over where the path
    came from, so inputs stay convex mixes), then its stack layers run with op weights ``softmax(alpha^s_l)``
    (Eq. 2-3; one ``alpha`` row per stack layer of a stage, shared by the stage's width candidates as in the
    paper's ``alpha^s_o``). The logits are ``sum_j P_S(j) classifier_j(dropout(GAP(y_j)))`` over the last stage.

    Cost. FLOPs constants of every stem, head, stack op and classifier are measured once with
    :func:`~g2l_automl.metrics.count_flops` at ``steps`` input steps (batch 1); :meth:`expected_flops` combines
    them recursively (Eq. 4, cost-to-go from the last stage back to the stem), which is the expected FLOPs of a
    path drawn from the chain with ops drawn from the softmaxes, differentiable in ``alpha`` and ``beta``. With
    one-hot weights it is the FLOPs of the decoded discrete network.

    Example:
        >>> net = VideoNASSupernet([[8, 12], [16, 24]], [1, 2], input_dim=4, num_classes=3, stem_channels=8,
        ...                        steps=16)
        >>> tuple(net(torch.zeros(2, 4, 16)).shape), len(net.arch_parameters())
        ((2, 3), 4)
        >>> net.decode().widths in {(8, 16), (8, 24), (12, 16), (12, 24)}
        True
    """

    def __init__(
        self,
        candidates: Sequence[Sequence[int]],
        max_layers: Sequence[int],
        input_dim: int,
        num_classes: int,
        *,
        stem_channels: int = 16,
        ops: Sequence[str] = OPS,
        dropout: float = 0.5,
        steps: int = 64,
    ) -> None:
        super().__init__()
        _check_candidates(candidates, max_layers, ops)
        _check_width("input_dim", input_dim)
        _check_width("num_classes", num_classes)
        _check_width("stem_channels", stem_channels)
        _check_width("steps", steps)
        self.candidates = tuple(tuple(c) for c in candidates)
        self.max_layers = tuple(max_layers)
        self.op_names = tuple(ops)
        self.stem_channels = stem_channels
        self.steps = steps
        self.stem = stem_layer(input_dim, stem_channels)
        prev = (stem_channels,)
        heads, cells = [], []
        for widths, layers in zip(self.candidates, self.max_layers, strict=True):
            heads.append(nn.ModuleList(nn.ModuleList(head_layer(ci, cj) for cj in widths) for ci in prev))
            cells.append(nn.ModuleList(nn.ModuleList(MixedOp(cj, ops) for _ in range(layers)) for cj in widths))
            prev = widths
        self.heads = nn.ModuleList(heads)
        self.cells = nn.ModuleList(cells)
        self.dropout = nn.Dropout(dropout)
        self.classifiers = nn.ModuleList(nn.Linear(cj, num_classes) for cj in prev)
        self.alphas = nn.ParameterList(nn.Parameter(torch.zeros(layers, len(ops))) for layers in self.max_layers)
        n_prev = [1] + [len(w) for w in self.candidates[:-1]]
        self.betas = nn.ParameterList(
            nn.Parameter(torch.zeros(n, len(w))) for n, w in zip(n_prev, self.candidates, strict=True)
        )
        self._measure_flops(input_dim)

    # -- architecture parameters -------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """``alpha`` of every stage, then ``beta`` of every stage."""
        return [*self.alphas, *self.betas]

    def op_weights(self) -> list[torch.Tensor]:
        """Eq. 2 per stage: ``(max_layers, n_ops)`` softmax rows."""
        return [torch.softmax(a, dim=-1) for a in self.alphas]

    def path_probabilities(self) -> list[torch.Tensor]:
        """Eq. 1 per stage: ``(n_{s-1}, n_s)`` rows ``p_ij`` summing to one (row 0 of stage 1 is the stem)."""
        return [torch.softmax(b, dim=-1) for b in self.betas]

    def node_probabilities(self) -> list[torch.Tensor]:
        """Forward-algorithm probabilities ``P_s(j)`` of every stage's width candidates."""
        out, prob = [], torch.ones(1, device=self.betas[0].device)
        for p in self.path_probabilities():
            prob = prob @ p
            out.append(prob)
        return out

    # -- forward -----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = [self.stem(x)]
        prob = torch.ones(1, device=x.device)
        for heads, cells, p, w in zip(
            self.heads, self.cells, self.path_probabilities(), self.op_weights(), strict=True
        ):
            joint = prob[:, None] * p  # (n_prev, n): probability of reaching j through i
            prob = joint.sum(dim=0)
            mix = joint / prob.clamp_min(torch.finfo(joint.dtype).tiny)
            outs = []
            for j, layers in enumerate(cells):
                h = sum(mix[i, j] * heads[i][j](y) for i, y in enumerate(ys))
                for layer, weights in zip(layers, w, strict=True):
                    h = layer(h, weights)
                outs.append(h)
            ys = outs
        logits = [clf(self.dropout(y.mean(dim=-1))) for clf, y in zip(self.classifiers, ys, strict=True)]
        return sum(pj * logit for pj, logit in zip(prob, logits, strict=True))

    # -- cost ----------------------------------------------------------------------------------------------
    def _measure_flops(self, input_dim: int) -> None:
        lengths = stage_lengths(self.steps, len(self.candidates))
        cache: dict[tuple, int] = {}

        def flops(key: tuple, module: nn.Module, shape: tuple[int, ...]) -> float:
            if key not in cache:
                cache[key] = count_flops(module, torch.zeros(1, *shape))
            return float(cache[key])

        self.stem_flops = flops(("stem", input_dim, self.stem_channels), self.stem, (input_dim, self.steps))
        prev = (self.stem_channels,)
        for s, (widths, heads, cells) in enumerate(zip(self.candidates, self.heads, self.cells, strict=True)):
            t_in, t_out = lengths[s], lengths[s + 1]
            head = [[flops(("head", ci, cj, t_in), heads[i][j], (ci, t_in)) for j, cj in enumerate(widths)]
                    for i, ci in enumerate(prev)]  # fmt: skip
            op = [
                [
                    flops(("op", name, cj, t_out), mod, (cj, t_out))
                    for name, mod in zip(self.op_names, cells[j][0].ops, strict=True)
                ]
                if len(cells[j])
                else [0.0] * len(self.op_names)
                for j, cj in enumerate(widths)
            ]
            self.register_buffer(f"head_flops{s}", torch.tensor(head, dtype=torch.float64), persistent=False)
            self.register_buffer(f"op_flops{s}", torch.tensor(op, dtype=torch.float64), persistent=False)
            prev = widths
        cls = [flops(("cls", cj), clf, (cj,)) for cj, clf in zip(prev, self.classifiers, strict=True)]
        self.register_buffer("classifier_flops", torch.tensor(cls, dtype=torch.float64), persistent=False)

    def stack_flops(self, stage: int) -> torch.Tensor:
        """Expected FLOPs of the stack layers of each width candidate of ``stage`` (0-based), ``c_s`` of Eq. 4."""
        w = self.op_weights()[stage].to(torch.float64)  # (layers, n_ops)
        return getattr(self, f"op_flops{stage}") @ w.sum(dim=0)

    def expected_flops(self) -> torch.Tensor:
        """Eq. 4 recursively: the cost-to-go ``c^i = c_s^i + sum_j p_ij (c_h^ij + c^j)`` of every node, from the
        last stage (whose cost-to-go includes its classifier) back to the stem; a float64 scalar."""
        probs = self.path_probabilities()
        last = len(self.candidates) - 1
        cost = self.stack_flops(last) + self.classifier_flops
        for s in range(last, -1, -1):
            p = probs[s].to(torch.float64)
            cost = (p * (getattr(self, f"head_flops{s}") + cost[None, :])).sum(dim=1)
            if s > 0:
                cost = cost + self.stack_flops(s - 1)
        return self.stem_flops + cost[0]

    # -- decoding ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self) -> VideoNASArch:
        """Argmax op per stack layer, and the Viterbi path (maximum sum of ``log p_ij``, i.e. the most probable
        path of the chain) over the width candidates."""
        from g2l_automl.nas._viterbi import viterbi

        path, _ = viterbi([torch.log_softmax(b, dim=-1).detach().cpu().double().numpy() for b in self.betas])
        widths = tuple(self.candidates[s][j] for s, j in enumerate(path[1:]))
        ops = tuple(tuple(self.op_names[int(k)] for k in a.argmax(dim=-1)) for a in self.alphas)
        return VideoNASArch(self.stem_channels, widths, ops)
