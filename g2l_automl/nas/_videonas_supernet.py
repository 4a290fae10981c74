"""The Video-NAS supernet (Zhou et al., Sec. 3.2-3.3): a lattice of width candidates with mixed stack layers, its
expected FLOPs (Eq. 4), its decoding (Sec. 3.3) and the searched weights of the decoded network (Sec. 3.4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from g2l_automl._checks import check_choice, check_int
from g2l_automl.errors import StructureError
from g2l_automl.metrics import count_flops
from g2l_automl.models import head_layer, stack_layer, stage_lengths, stem_layer
from g2l_automl.nas._mixed_op import MixedOp
from g2l_automl.nas._viterbi import viterbi
from g2l_automl.structure import VIDEONAS_OPS, VideoNASArch, check_videonas_candidates

__all__ = ["DECODE_CRITERIA", "VideoNASSupernet"]

#: How :meth:`VideoNASSupernet.decode` scores a width path: ``sum`` -- the sum of the path weights ``p_ij`` (the
#: paper's Viterbi, Sec. 3.3); ``log`` -- the sum of ``log p_ij`` (the most probable path of the chain).
DECODE_CRITERIA: tuple[str, ...] = ("sum", "log")


def _mixed_stack_layer(channels: int, ops: Sequence[str]) -> MixedOp:
    """A relaxed stack layer (Eq. 3): every candidate op of :data:`~g2l_automl.structure.VIDEONAS_OPS`."""
    return MixedOp({op: stack_layer(op, channels) for op in ops})


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
        >>> arch = net.decode()
        >>> arch.widths in {(8, 16), (8, 24), (12, 16), (12, 24)}
        True
        >>> from g2l_automl.models import VideoNASNet
        >>> VideoNASNet(arch, 4, 3).load_state_dict(net.inherited_state(arch))
        <All keys matched successfully>
    """

    def __init__(
        self,
        candidates: Sequence[Sequence[int]],
        max_layers: Sequence[int],
        input_dim: int,
        num_classes: int,
        *,
        stem_channels: int = 16,
        ops: Sequence[str] = VIDEONAS_OPS,
        dropout: float = 0.5,
        steps: int = 64,
    ) -> None:
        super().__init__()
        check_videonas_candidates(candidates, max_layers, ops)
        for name, value in (("input_dim", input_dim), ("num_classes", num_classes)):
            check_int(value, name, error=StructureError)
        check_int(stem_channels, "stem_channels", error=StructureError)
        check_int(steps, "steps", error=StructureError)
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
            cells.append(
                nn.ModuleList(nn.ModuleList(_mixed_stack_layer(cj, ops) for _ in range(layers)) for cj in widths)
            )
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
    def decode(self, criterion: str = "sum") -> VideoNASArch:
        """Argmax op per stack layer, and the Viterbi path over the width candidates (Sec. 3.3) that maximises
        the sum of the path weights ``p_ij`` (``criterion="sum"``, the paper's) or of ``log p_ij``
        (``"log"``: the most probable path of the chain); see :data:`DECODE_CRITERIA`."""
        check_choice(criterion, "criterion", DECODE_CRITERIA, error=StructureError)
        score = torch.softmax if criterion == "sum" else torch.log_softmax
        path, _ = viterbi([score(b, dim=-1).detach().cpu().double().numpy() for b in self.betas])
        widths = tuple(self.candidates[s][j] for s, j in enumerate(path[1:]))
        ops = tuple(tuple(self.op_names[int(k)] for k in a.argmax(dim=-1)) for a in self.alphas)
        return VideoNASArch(self.stem_channels, widths, ops)

    # -- the searched weights of a decoded network ---------------------------------------------------------
    @torch.no_grad()
    def inherited_state(self, arch: VideoNASArch) -> dict[str, torch.Tensor]:
        """The state dict of :class:`~g2l_automl.models.VideoNASNet` ``(arch)`` taken from this supernet (copies):
        the stem, the head of every edge ``i -> j`` on the path, the chosen op's module of every stack layer of
        each chosen width node, and that last node's classifier -- the paper retrains the decoded network from
        the searched weights (Sec. 3.4). Batch-norm statistics come along."""
        if arch.stem_channels != self.stem_channels or len(arch.widths) != len(self.candidates):
            raise StructureError(
                f"architecture: {len(self.candidates)} stages after a stem of {self.stem_channels} expected, got "
                f"{arch.summary()!r}"
            )
        source = self.state_dict()
        out: dict[str, torch.Tensor] = {}

        def take(dst: str, src: str) -> None:
            for key, value in source.items():
                if key.startswith(src + "."):
                    out[dst + key[len(src) :]] = value.detach().clone()

        take("stem", "stem")
        i = 0
        for s, (width, ops) in enumerate(zip(arch.widths, arch.ops, strict=True)):
            if width not in self.candidates[s] or len(ops) > self.max_layers[s]:
                raise StructureError(f"stage{s + 1}: {width} channels, {len(ops)} layers: not in this supernet")
            j = self.candidates[s].index(width)
            take(f"stages.{s}.0", f"heads.{s}.{i}.{j}")
            for layer, op in enumerate(ops):
                if op == "skip":
                    continue
                if op not in self.op_names:
                    raise StructureError(f"stage{s + 1}.layer{layer}.op: {op!r} is not one of {self.op_names}")
                take(f"stages.{s}.{layer + 1}", f"cells.{s}.{j}.{layer}.ops.{self.op_names.index(op)}")
            i = j
        take("classifier", f"classifiers.{i}")
        return out
