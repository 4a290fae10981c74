"""The structure spec: a plain, serialisable description of a multi-stage temporal model.

A :class:`StructureSpec` is a list of stages, each a list of layers; every layer names its op and carries its own
dilation, kernel size and channel width, so a searcher can change any of them independently. Specs are immutable,
validate on construction and round-trip through plain dicts (and so JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from g2l_automl._checks import check_int
from g2l_automl.errors import StructureError

#: Layer ops the models can build. ``conv`` is MS-TCN's dilated residual layer; ``dual_conv`` is MS-TCN++'s
#: dual-dilated layer (two dilated convolutions, concatenated and fused by a 1x1 convolution). ``conv2plus1d``
#: (EvaNet's (2+1)D: pointwise conv, then a full temporal conv), ``sep_conv`` (depthwise-separable: depthwise
#: temporal conv then pointwise), ``tgm`` (EvaNet's temporal Gaussian mixture), ``max_pool`` / ``avg_pool``
#: (EvaNet's space-time pooling as temporal pooling, stride 1, then a 1x1 conv) and ``parallel`` (an EvaNet module:
#: parallel branches, averaged) share MS-TCN's residual tail.
KNOWN_OPS: tuple[str, ...] = (
    "conv",
    "dual_conv",
    "conv2plus1d",
    "sep_conv",
    "tgm",
    "max_pool",
    "avg_pool",
    "parallel",
)
#: Temporal pooling ops (EvaNet's pooling layers); a module's pooling branches are these.
POOL_OPS: tuple[str, ...] = ("max_pool", "avg_pool")
#: Temporal ops a branch of a ``parallel`` layer can be: the convolutions, then :data:`POOL_OPS`.
BRANCH_OPS: tuple[str, ...] = ("conv", "conv2plus1d", "sep_conv", "tgm") + POOL_OPS

FORMAT = "g2l_automl.structure/1"

#: Upper bounds of a layer's fields, far above any useful model (a receptive field of millions of frames, a kernel
#: of a thousand taps, 65536 channels) and low enough that a typo is refused here rather than ending in an
#: out-of-memory or C++ error inside torch.
MAX_DILATION = 2**20
MAX_KERNEL_SIZE = 1025
MAX_CHANNELS = 65536


def _check_int(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    return check_int(value, where, minimum, maximum, error=StructureError)


class BranchSpec(NamedTuple):
    """One branch of a ``parallel`` layer: its temporal op (one of :data:`BRANCH_OPS`) and kernel length."""

    op: str
    kernel_size: int


def _as_branches(value: Any) -> Any:
    """``value`` as a tuple of :class:`BranchSpec` when it is a sequence of pairs; unchanged otherwise (so that
    :meth:`LayerSpec.validate` reports what is wrong with it)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return value
    if not all(isinstance(b, Sequence) and not isinstance(b, (str, bytes)) and len(b) == 2 for b in value):
        return value
    return tuple(BranchSpec(*b) for b in value)


@dataclass(frozen=True)
class LayerSpec:
    """One temporal layer.

    Args:
        dilation: dilation of the temporal convolution (>= 1); a ``parallel`` layer's branches all use it.
        kernel_size: temporal kernel size (odd, >= 1) so that padding keeps the sequence length. For a
            ``parallel`` layer it is derived: the longest branch's (what the receptive field grows by).
        channels: output channel width (>= 1).
        op: one of :data:`KNOWN_OPS`.
        dilation2: second dilation of a ``dual_conv`` layer; must be ``None`` for other ops.
        branches: the ``(op, kernel_size)`` branches of a ``parallel`` layer (EvaNet's module of parallel
            space-time layers, averaged); must be ``None`` for other ops.

    Example:
        >>> layer = LayerSpec(dilation=2, op="parallel", branches=(("tgm", 9), ("conv", 3)))
        >>> layer.kernel_size, layer.branches[0]
        (9, BranchSpec(op='tgm', kernel_size=9))
    """

    dilation: int = 1
    kernel_size: int = 3
    channels: int = 64
    op: str = "conv"
    dilation2: int | None = None
    branches: tuple[BranchSpec, ...] | None = None

    def __post_init__(self) -> None:
        if self.branches is None:
            return
        branches = _as_branches(self.branches)
        object.__setattr__(self, "branches", branches)
        if self.op == "parallel" and isinstance(branches, tuple) and branches:
            sizes = [b.kernel_size for b in branches]
            if all(isinstance(k, int) and not isinstance(k, bool) for k in sizes):
                object.__setattr__(self, "kernel_size", max(sizes))

    def validate(self, where: str = "layer") -> None:
        """Check every field; the checked integers replace the given ones (a numpy integer is kept as an ``int``,
        so the spec is written as JSON)."""
        object.__setattr__(self, "dilation", _check_int(self.dilation, f"{where}.dilation", 1, MAX_DILATION))
        if self.op == "parallel":  # first: the layer's kernel size is derived from the branches
            self._validate_branches(where)
        kernel = _check_int(self.kernel_size, f"{where}.kernel_size", 1, MAX_KERNEL_SIZE)
        if kernel % 2 == 0:
            raise StructureError(f"{where}.kernel_size: must be odd, got {kernel}")
        object.__setattr__(self, "kernel_size", kernel)
        object.__setattr__(self, "channels", _check_int(self.channels, f"{where}.channels", 1, MAX_CHANNELS))
        if self.op not in KNOWN_OPS:
            raise StructureError(f"{where}.op: unknown op {self.op!r}; known ops are {', '.join(KNOWN_OPS)}")
        if self.op == "dual_conv":
            if self.dilation2 is None:
                raise StructureError(f"{where}.dilation2: required for op 'dual_conv'")
            object.__setattr__(self, "dilation2", _check_int(self.dilation2, f"{where}.dilation2", 1, MAX_DILATION))
        elif self.dilation2 is not None:
            raise StructureError(f"{where}.dilation2: only allowed for op 'dual_conv', got op {self.op!r}")
        if self.op != "parallel" and self.branches is not None:
            raise StructureError(f"{where}.branches: only allowed for op 'parallel', got op {self.op!r}")

    def _validate_branches(self, where: str) -> None:
        if self.branches is None:
            raise StructureError(f"{where}.branches: required for op 'parallel'")
        if not isinstance(self.branches, tuple) or not all(isinstance(b, BranchSpec) for b in self.branches):
            raise StructureError(f"{where}.branches: expected a list of (op, kernel_size) pairs, got {self.branches!r}")
        if not self.branches:
            raise StructureError(f"{where}.branches: a parallel layer needs at least one branch")
        for b, branch in enumerate(self.branches):
            if branch.op not in BRANCH_OPS:
                raise StructureError(
                    f"{where}.branches[{b}].op: unknown branch op {branch.op!r}; branch ops are {', '.join(BRANCH_OPS)}"
                )
            kernel = _check_int(branch.kernel_size, f"{where}.branches[{b}].kernel_size", 1, MAX_KERNEL_SIZE)
            if kernel % 2 == 0:
                raise StructureError(f"{where}.branches[{b}].kernel_size: must be odd, got {kernel}")
        branches = tuple(BranchSpec(b.op, int(b.kernel_size)) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        object.__setattr__(self, "kernel_size", max(b.kernel_size for b in branches))

    @property
    def dilations(self) -> tuple[int, ...]:
        """All dilations of the layer (two for ``dual_conv``)."""
        return (self.dilation,) if self.dilation2 is None else (self.dilation, self.dilation2)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "dilation": self.dilation,
            "kernel_size": self.kernel_size,
            "channels": self.channels,
        }
        if self.dilation2 is not None:
            out["dilation2"] = self.dilation2
        if self.branches is not None:
            out["branches"] = [{"op": b.op, "kernel_size": b.kernel_size} for b in self.branches]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "layer") -> LayerSpec:
        """Parse :meth:`to_dict` output (branches as ``{"op", "kernel_size"}`` objects or ``[op, k]`` pairs)."""
        if not isinstance(data, Mapping):
            raise StructureError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"op", "dilation", "kernel_size", "channels", "dilation2", "branches"}
        if unknown:
            raise StructureError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        fields = dict(data)
        if "branches" in fields and fields["branches"] is not None:
            raw = fields["branches"]
            if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
                raise StructureError(f"{where}.branches: expected a list of branches, got {raw!r}")
            branches = []
            for b, item in enumerate(raw):
                if isinstance(item, Mapping):
                    bad = set(item) - {"op", "kernel_size"}
                    if bad or set(item) != {"op", "kernel_size"}:
                        raise StructureError(
                            f"{where}.branches[{b}]: expected the fields op and kernel_size, got {sorted(item)}"
                        )
                    branches.append((item["op"], item["kernel_size"]))
                elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) == 2:
                    branches.append(tuple(item))
                else:
                    raise StructureError(f"{where}.branches[{b}]: expected {{op, kernel_size}}, got {item!r}")
            fields["branches"] = tuple(branches)
        return cls(**fields)


@dataclass(frozen=True)
class StageSpec:
    """One stage: a non-empty sequence of layers between a 1x1 input and a 1x1 output convolution."""

    layers: tuple[LayerSpec, ...]

    def validate(self, where: str = "stage") -> None:
        if not isinstance(self.layers, tuple) or not self.layers:
            raise StructureError(f"{where}.layers: a stage needs at least one layer (empty stage)")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, LayerSpec):
                raise StructureError(f"{where}.layers[{i}]: expected a LayerSpec, got {type(layer).__name__}")
            layer.validate(f"{where}.layers[{i}]")


@dataclass(frozen=True)
class StructureSpec:
    """A multi-stage temporal model: the first stage sees the features, later stages refine the softmax of the
    previous stage's output.

    Example:
        >>> spec = StructureSpec.mstcn(num_stages=2, num_layers=3)
        >>> [layer.dilation for layer in spec.stages[0].layers]
        [1, 2, 4]
        >>> StructureSpec.from_dict(spec.to_dict()) == spec
        True
    """

    stages: tuple[StageSpec, ...]
    dropout: float = 0.5
    name: str = "custom"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.stages, tuple) or not self.stages:
            raise StructureError("stages: a structure needs at least one stage")
        for s, stage in enumerate(self.stages):
            if not isinstance(stage, StageSpec):
                raise StructureError(f"stages[{s}]: expected a StageSpec, got {type(stage).__name__}")
            stage.validate(f"stages[{s}]")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise StructureError(f"dropout: must be a number in [0, 1), got {self.dropout!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise StructureError(f"dropout: must be in [0, 1), got {self.dropout!r}")

    # -- views ---------------------------------------------------------------------------------------------
    def layers(self) -> list[tuple[int, int, LayerSpec]]:
        """All layers in genome order as ``(stage_index, layer_index, layer)``."""
        return [(s, i, layer) for s, stage in enumerate(self.stages) for i, layer in enumerate(stage.layers)]

    def dilations(self) -> list[list[int]]:
        """The (first) dilation of every layer, per stage."""
        return [[layer.dilation for layer in stage.layers] for stage in self.stages]

    def receptive_field(self, stage: int) -> int:
        """Receptive field in frames of one stage (each layer adds ``dilation * (kernel - 1)``)."""
        return 1 + sum(max(layer.dilations) * (layer.kernel_size - 1) for layer in self.stages[stage].layers)

    def with_layer(self, stage: int, index: int, **changes: Any) -> StructureSpec:
        """A copy with one layer's fields changed (validated)."""
        layers = list(self.stages[stage].layers)
        layers[index] = replace(layers[index], **changes)
        stages = list(self.stages)
        stages[stage] = StageSpec(tuple(layers))
        return replace(self, stages=tuple(stages))

    def with_dilations(self, dilations: Sequence[Sequence[int]]) -> StructureSpec:
        """A copy with every layer's (first) dilation replaced, per stage as :meth:`dilations` gives them."""
        if len(dilations) != len(self.stages):
            raise StructureError(f"dilations: expected {len(self.stages)} stages, got {len(dilations)}")
        spec = self
        for s, stage in enumerate(dilations):
            if len(stage) != len(self.stages[s].layers):
                raise StructureError(f"dilations: stage {s} has {len(self.stages[s].layers)} layers, got {len(stage)}")
            for i, d in enumerate(stage):
                spec = spec.with_layer(s, i, dilation=int(d))
        return spec

    # -- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "dropout": self.dropout,
            "stages": [{"layers": [layer.to_dict() for layer in stage.layers]} for stage in self.stages],
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StructureSpec:
        """Parse :meth:`to_dict` output; errors name the offending field."""
        if not isinstance(data, Mapping):
            raise StructureError(f"structure: expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise StructureError(f"format: unsupported structure format {fmt!r} (expected {FORMAT!r})")
        unknown = set(data) - {"format", "name", "dropout", "stages", "extra"}
        if unknown:
            raise StructureError(f"structure: unknown field(s) {', '.join(sorted(unknown))}")
        stages_data = data.get("stages")
        if not isinstance(stages_data, Sequence) or isinstance(stages_data, (str, bytes)):
            raise StructureError("stages: expected a list of stages")
        stages = []
        for s, stage_data in enumerate(stages_data):
            if not isinstance(stage_data, Mapping) or not isinstance(stage_data.get("layers"), Sequence):
                raise StructureError(f"stages[{s}]: expected an object with a 'layers' list")
            layers = []
            for i, layer_data in enumerate(stage_data["layers"]):
                layers.append(LayerSpec.from_dict(layer_data, f"stages[{s}].layers[{i}]"))
            stages.append(StageSpec(tuple(layers)))
        extra = data.get("extra", {})
        if not isinstance(extra, Mapping):
            raise StructureError("extra: expected an object")
        return cls(
            stages=tuple(stages),
            dropout=data.get("dropout", 0.5),
            name=str(data.get("name", "custom")),
            extra=dict(extra),
        )

    # -- the hand-designed baselines -----------------------------------------------------------------------
    @classmethod
    def mstcn(
        cls,
        num_stages: int = 4,
        num_layers: int = 10,
        channels: int = 64,
        kernel_size: int = 3,
        dropout: float = 0.5,
        dilations: Sequence[int] | None = None,
    ) -> StructureSpec:
        """MS-TCN: ``num_stages`` identical stages of dilated residual layers with dilation ``2**i``
        (or the given per-layer ``dilations``, shared by all stages)."""
        _check_int(num_stages, "num_stages", 1)
        _check_int(num_layers, "num_layers", 1)
        dil = list(dilations) if dilations is not None else [2**i for i in range(num_layers)]
        if len(dil) != num_layers:
            raise StructureError(f"dilations: expected {num_layers} values, got {len(dil)}")
        stage = StageSpec(tuple(LayerSpec(d, kernel_size, channels) for d in dil))
        return cls(stages=(stage,) * num_stages, dropout=dropout, name="mstcn")

    @classmethod
    def mstcn_pp(
        cls,
        num_layers_pg: int = 11,
        num_layers_r: int = 10,
        num_r: int = 3,
        channels: int = 64,
        kernel_size: int = 3,
        dropout: float = 0.5,
    ) -> StructureSpec:
        """MS-TCN++: a prediction-generation stage of dual-dilated layers (``2**(L-1-i)`` and ``2**i``) followed
        by ``num_r`` refinement stages of dilated residual layers (``2**i``)."""
        _check_int(num_layers_pg, "num_layers_pg", 1)
        _check_int(num_layers_r, "num_layers_r", 1)
        _check_int(num_r, "num_r", 0)
        pg = StageSpec(
            tuple(
                LayerSpec(2 ** (num_layers_pg - 1 - i), kernel_size, channels, "dual_conv", 2**i)
                for i in range(num_layers_pg)
            )
        )
        refinement = StageSpec(tuple(LayerSpec(2**i, kernel_size, channels) for i in range(num_layers_r)))
        return cls(stages=(pg,) + (refinement,) * num_r, dropout=dropout, name="mstcn++")

    @classmethod
    def default(cls, name: str) -> StructureSpec:
        """The named hand-designed default: ``mstcn`` or ``mstcn++``."""
        if name == "mstcn":
            return cls.mstcn()
        if name in ("mstcn++", "mstcn_pp"):
            return cls.mstcn_pp()
        raise StructureError(f"default: unknown default structure {name!r} (choose mstcn or mstcn++)")
