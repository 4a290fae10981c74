"""A composed search space: a base structure plus dimensions, mapping flat parameter dicts <-> structure specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from g2l_automl._checks import check_choice, check_int
from g2l_automl.errors import SpaceError, StructureError
from g2l_automl.spaces._dimensions import LAYER_FIELDS, STAGE_FIELDS, Depths, Dimension, Gene, Ops
from g2l_automl.structure import POOL_OPS, BranchSpec, LayerSpec, StageSpec, StructureSpec, to_g2l_config

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import CategoricalDistribution


def _template(base: StructureSpec, depths: Sequence[Dimension]) -> StructureSpec:
    """``base`` with every stage extended to the largest depth a :class:`Depths` dimension allows; added layers
    copy the stage's last layer and continue the ``2**i`` dilation pattern."""
    stages = list(base.stages)
    for dim in depths:
        for s in dim._stage_indices(base):
            layers = list(stages[s].layers)
            last = layers[-1]
            for i in range(len(layers), max(dim.candidates)):
                extra = {"dilation2": 2**i} if last.op == "dual_conv" else {}
                layers.append(replace(last, dilation=2**i, **extra))
            stages[s] = StageSpec(tuple(layers))
    return replace(base, stages=tuple(stages))


#: How :meth:`SearchSpace.suggest` asks for genes: as categories, or as candidate indices (integers).
ENCODINGS: tuple[str, ...] = ("categorical", "index")


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is one of :data:`ENCODINGS`, else a :class:`SpaceError` naming it."""
    return check_choice(encoding, "encoding", ENCODINGS, error=SpaceError)


#: Module gene fields of pooling branches (:class:`~g2l_automl.spaces.Modules`), by the branch field they set.
_POOL_FIELDS = {"pool_op": "op", "pool_kernel_size": "kernel_size"}
#: Genome order of the fields within a layer's own genes and within one branch.
_FIELD_ORDER: dict[str, float] = {f: k for k, f in enumerate(STAGE_FIELDS + LAYER_FIELDS)}
_FIELD_ORDER.update(
    num_pools=_FIELD_ORDER["num_branches"] + 0.5,
    pool_op=_FIELD_ORDER["op"],
    pool_kernel_size=_FIELD_ORDER["kernel_size"],
)


def split_branches(layer: LayerSpec) -> tuple[list[BranchSpec], list[BranchSpec]]:
    """A ``parallel`` layer's convolution branches and pooling branches (each in their order); empty lists for
    other layers."""
    branches = layer.branches if layer.op == "parallel" and layer.branches is not None else ()
    return [b for b in branches if b.op not in POOL_OPS], [b for b in branches if b.op in POOL_OPS]


def _read_gene(spec: StructureSpec, gene: Gene) -> Any:
    """The value of ``gene`` in ``spec``; None where the gene does not apply: a layer the stage does not have, an
    unset ``dilation2``, module genes of a layer that is not ``parallel`` (or a branch it does not have), and the
    ``kernel_size`` of a ``parallel`` layer (its branches have their own). Branch genes read the layer's
    convolution branches, pool genes its pooling branches."""
    stage = spec.stages[gene.stage]
    if gene.field == "num_layers":
        return len(stage.layers)
    if gene.layer is None:
        return stage.layers[0].channels
    if gene.layer >= len(stage.layers):
        return None
    layer = stage.layers[gene.layer]
    parallel = layer.op == "parallel" and layer.branches is not None
    convs, pools = split_branches(layer)
    if gene.branch is not None:
        group = pools if gene.field in _POOL_FIELDS else convs
        if not parallel or gene.branch >= len(group):
            return None
        return getattr(group[gene.branch], _POOL_FIELDS.get(gene.field, gene.field))
    if gene.field in ("num_branches", "num_pools"):
        return len(convs if gene.field == "num_branches" else pools) if parallel else None
    if gene.field == "kernel_size" and parallel:
        return None
    return getattr(layer, gene.field)


class SearchSpace:
    """Dimensions applied to a base structure; compiles to Optuna distributions, NNI JSON and G2L configs.

    The genome is ordered stage by stage: the stage's ``num_layers`` and ``channels`` genes, then each layer's
    ``op``, ``num_branches``, ``num_pools``, ``dilation``, ``dilation2`` and ``kernel_size`` genes, its
    convolution branch genes (``branchB.op``, ``branchB.kernel_size``) and its pooling branch genes
    (``poolP.op``, ``poolP.kernel_size``). Genes of layers beyond a stage's chosen depth, ``dilation2`` of layers
    whose op is not ``dual_conv``, module genes of layers that are not ``parallel``, branches beyond
    ``num_branches`` / ``num_pools`` and the layer ``kernel_size`` of a ``parallel`` layer are inactive:
    :meth:`suggest` does not ask for them. A module's structure lists its convolution branches, then its pooling
    branches.

    Args:
        base: the structure whose unsearched fields are kept (e.g. ``StructureSpec.mstcn()``).
        dimensions: :class:`Dilations`, :class:`Widths`, :class:`Kernels`, :class:`Ops`, :class:`Depths`,
            :class:`Modules`.
        max_receptive_field: optional cap (frames) on any stage's receptive field; a space whose largest
            structure exceeds it is refused.

    Example:
        >>> from g2l_automl.spaces import Dilations
        >>> space = SearchSpace(StructureSpec.mstcn(num_stages=2, num_layers=3), [Dilations(k=2, T=4)])
        >>> len(space.genes), space.genes[0].name
        (6, 'stage0.layer0.dilation')
        >>> params = space.to_params(space.base)
        >>> params["stage0.layer2.dilation"]
        4
        >>> space.to_structure(params) == space.base
        True
    """

    def __init__(
        self,
        base: StructureSpec,
        dimensions: Sequence[Dimension],
        max_receptive_field: int | None = None,
    ) -> None:
        if not isinstance(base, StructureSpec):
            raise SpaceError(f"base: expected a StructureSpec, got {type(base).__name__}")
        if not dimensions:
            raise SpaceError("dimensions: a search space needs at least one dimension")
        self.base = base
        self.dimensions = tuple(dimensions)
        self.max_receptive_field = max_receptive_field
        self.template = _template(base, [d for d in self.dimensions if isinstance(d, Depths)])
        dual_capable = {(s, i) for s, i, layer in self.template.layers() if layer.op == "dual_conv"}
        for dim in self.dimensions:
            if isinstance(dim, Ops) and "dual_conv" in dim.candidates:
                for s in dim._stage_indices(self.template):
                    dual_capable.update((s, i) for i in range(len(self.template.stages[s].layers)))
        genes: dict[str, Gene] = {}
        for dim in self.dimensions:
            for gene in dim.genes(self.template, dual_capable):
                if gene.name in genes:
                    raise SpaceError(f"dimensions: two dimensions both search {gene.name}")
                genes[gene.name] = gene
        # per layer: its own genes, then the convolution branches' and the pooling branches', branch by branch
        self.genes: tuple[Gene, ...] = tuple(
            sorted(
                genes.values(),
                key=lambda g: (
                    g.stage,
                    -1 if g.layer is None else g.layer,
                    0 if g.branch is None else 2 if g.field in _POOL_FIELDS else 1,
                    -1 if g.branch is None else g.branch,
                    _FIELD_ORDER[g.field],
                ),
            )
        )
        self._by_name = {g.name: g for g in self.genes}
        #: layers with module genes (parallel whenever their op is, always when their op is not searched)
        self._modules = {(g.stage, g.layer) for g in self.genes if g.field == "num_branches"}
        self._check_modules()
        self._check_receptive_field()

    # -- validation ----------------------------------------------------------------------------------------
    def _check_modules(self) -> None:
        """A layer's op gene and its module genes must agree: ``parallel`` needs branches, branches need
        ``parallel`` among the op candidates."""
        for s, i, layer in self.template.layers():
            op_gene = self._by_name.get(f"stage{s}.layer{i}.op")
            if op_gene is None:
                continue
            if (s, i) in self._modules and "parallel" not in op_gene.choices:
                raise SpaceError(
                    f"modules: stage{s}.layer{i} is a module but its op is searched among {list(op_gene.choices)}; "
                    "add 'parallel' to ops.types"
                )
            if "parallel" in op_gene.choices and (s, i) not in self._modules and layer.op != "parallel":
                raise SpaceError(
                    f"ops.types: 'parallel' at stage{s}.layer{i} needs a modules dimension for its branches"
                )

    def _check_receptive_field(self) -> None:
        if self.max_receptive_field is None:
            return
        check_int(self.max_receptive_field, "max_receptive_field", error=SpaceError)
        for s, stage in enumerate(self.template.stages):
            rf = 1
            for i, layer in enumerate(stage.layers):
                dil = max(self._choices(s, i, "dilation", layer.dilation) + self._choices(s, i, "dilation2", 0))
                kernel = max(
                    self._choices(s, i, "kernel_size", layer.kernel_size)
                    + self._choices(s, i, "branch0.kernel_size", 0)
                    + self._choices(s, i, "pool0.kernel_size", 0)
                )
                rf += dil * (kernel - 1)
            if rf > self.max_receptive_field:
                raise SpaceError(
                    f"max_receptive_field: stage {s} can reach a receptive field of {rf} frames, more than the cap "
                    f"of {self.max_receptive_field}; lower dilations.T / kernels.sizes or raise the cap"
                )

    def _choices(self, stage: int, layer: int | None, field: str, default: Any) -> tuple[Any, ...]:
        prefix = f"stage{stage}." if layer is None else f"stage{stage}.layer{layer}."
        gene = self._by_name.get(prefix + field)
        return gene.choices if gene is not None else (default,)

    # -- genes ---------------------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.genes)

    def gene(self, name: str) -> Gene:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpaceError(f"{name}: not a parameter of this search space") from None

    def _value(self, values: Mapping[str, Any], stage: int, layer: int | None, field: str) -> Any:
        prefix = f"stage{stage}." if layer is None else f"stage{stage}.layer{layer}."
        if prefix + field in self._by_name:
            return values[prefix + field]
        if field == "num_layers":
            return len(self.base.stages[stage].layers) if stage < len(self.base.stages) else None
        if layer is None:
            return getattr(self.template.stages[stage].layers[0], field)
        template = self.template.stages[stage].layers[layer]
        if field == "op" and (stage, layer) in self._modules:
            return "parallel"
        convs, pools = split_branches(template)
        if field in ("num_branches", "num_pools"):
            return len(convs if field == "num_branches" else pools)
        for group, name in ((convs, "branch"), (pools, "pool")):
            if field.startswith(name):
                b, sub = field[len(name) :].split(".")
                return getattr(group[int(b)], sub)
        return getattr(template, field)

    def is_active(self, gene: Gene, values: Mapping[str, Any]) -> bool:
        """Whether ``gene`` matters given the values of the genes before it (``values`` in genome order)."""
        if gene.layer is None:
            return True
        if gene.layer >= self._value(values, gene.stage, None, "num_layers"):
            return False
        if gene.field == "op" and gene.branch is None:
            return True
        op = self._value(values, gene.stage, gene.layer, "op")
        if gene.field == "dilation2":
            return op == "dual_conv"
        if gene.branch is not None:
            count = "num_pools" if gene.field in _POOL_FIELDS else "num_branches"
            return op == "parallel" and gene.branch < self._value(values, gene.stage, gene.layer, count)
        if gene.field in ("num_branches", "num_pools"):
            return op == "parallel"
        if gene.field == "kernel_size":
            return op != "parallel"
        return True

    def active_names(self, values: Mapping[str, Any]) -> list[str]:
        """The active genes of a complete genome ``values``."""
        return [g.name for g in self.genes if self.is_active(g, values)]

    # -- compilation ---------------------------------------------------------------------------------------
    def distributions(self) -> dict[str, CategoricalDistribution]:
        """One Optuna ``CategoricalDistribution`` per gene (all genes, active or not)."""
        from optuna.distributions import CategoricalDistribution

        return {g.name: CategoricalDistribution(g.choices) for g in self.genes}

    def suggest(self, trial: optuna.Trial, encoding: str = "categorical") -> StructureSpec:
        """Ask ``trial`` for every active gene (in genome order) and return the structure.

        ``encoding="index"`` asks for each gene's candidate index as an integer instead (``suggest_int(name, 0,
        n - 1)``), for samplers that only search numbers, such as ``CmaEsSampler``; the candidates are ordered,
        so neighbouring indices are neighbouring dilations, widths or kernels.
        """
        check_encoding(encoding)
        values: dict[str, Any] = {}
        for gene in self.genes:
            if self.is_active(gene, values):
                if encoding == "index":
                    values[gene.name] = gene.choices[trial.suggest_int(gene.name, 0, len(gene.choices) - 1)]
                else:
                    values[gene.name] = trial.suggest_categorical(gene.name, gene.choices)
        return self.to_structure(values)

    def sample(self, rng: np.random.RandomState) -> dict[str, Any]:
        """A uniformly random complete genome (inactive genes included)."""
        return {g.name: g.choices[rng.randint(len(g.choices))] for g in self.genes}

    def to_nni(self) -> dict[str, dict[str, Any]]:
        """NNI search-space JSON: ``{"stage0.layer0.dilation": {"_type": "choice", "_value": [1, 2, ...]}, ...}``."""
        return {g.name: {"_type": "choice", "_value": list(g.choices)} for g in self.genes}

    def to_g2l_config(self, params: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The official G2L code's config JSON for the structure of ``params``."""
        return to_g2l_config(self.to_structure(params), settings)

    def defaults(self) -> dict[str, Any]:
        """The template structure's value of every gene whose candidates include it (dormant layers included)."""
        out = {}
        for gene in self.genes:
            # the template is extended to the deepest candidate; the default depth is the base structure's
            spec = self.base if gene.field == "num_layers" else self.template
            value = _read_gene(spec, gene)
            if value in gene.choices:
                out[gene.name] = value
        return out

    # -- params <-> structure ------------------------------------------------------------------------------
    def to_structure(self, params: Mapping[str, Any]) -> StructureSpec:
        """The structure of ``params`` (keys that are not genes, e.g. a learning rate, are ignored)."""
        values: dict[str, Any] = {}
        for gene in self.genes:
            if not self.is_active(gene, values):
                continue
            if gene.name not in params:
                raise SpaceError(f"{gene.name}: missing from the parameters")
            value = params[gene.name]
            if value not in gene.choices:
                raise SpaceError(f"{gene.name}: {value!r} is not one of the candidates {list(gene.choices)}")
            values[gene.name] = value
        stages = []
        for s, stage in enumerate(self.template.stages):
            depth = self._value(values, s, None, "num_layers")
            channels = values.get(f"stage{s}.channels")
            layers = []
            for i in range(depth):
                op = self._value(values, s, i, "op")
                dilation2, branches, kernel_size = None, None, None
                if op == "dual_conv":
                    dilation2 = self._value(values, s, i, "dilation2") or self._value(values, s, i, "dilation")
                if op == "parallel":  # the convolution branches, then the pooling branches
                    branches = tuple(
                        (
                            self._value(values, s, i, f"{name}{b}.op"),
                            self._value(values, s, i, f"{name}{b}.kernel_size"),
                        )
                        for name, count in (("branch", "num_branches"), ("pool", "num_pools"))
                        for b in range(self._value(values, s, i, count))
                    )
                    kernel_size = max((k for _, k in branches), default=1)  # LayerSpec derives it from branches
                else:
                    kernel_size = self._value(values, s, i, "kernel_size")
                layers.append(
                    LayerSpec(
                        dilation=self._value(values, s, i, "dilation"),
                        kernel_size=kernel_size,
                        channels=channels or stage.layers[i].channels,
                        op=op,
                        dilation2=dilation2,
                        branches=branches,
                    )
                )
            stages.append(StageSpec(tuple(layers)))
        try:
            return replace(self.base, stages=tuple(stages))
        except StructureError as exc:
            raise SpaceError(f"parameters give an invalid structure: {exc}") from None

    def to_params(self, spec: StructureSpec) -> dict[str, Any]:
        """The active genes of ``spec`` (e.g. MS-TCN's hand-designed 2**i, to seed a population)."""
        if len(spec.stages) != len(self.template.stages):
            raise SpaceError(f"structure has {len(spec.stages)} stages, the space {len(self.template.stages)}")
        params: dict[str, Any] = {}
        for gene in self.genes:
            value = _read_gene(spec, gene)
            if value is None:  # a layer beyond the structure's depth, or dilation2 of a plain conv layer
                continue
            if value not in gene.choices:
                raise SpaceError(f"{gene.name}: the structure's value {value!r} is not in {list(gene.choices)}")
            params[gene.name] = value
        for s, stage in enumerate(spec.stages):
            if f"stage{s}.num_layers" not in params and len(stage.layers) != len(self.template.stages[s].layers):
                raise SpaceError(f"stage{s}: the structure has {len(stage.layers)} layers, the space a fixed depth")
        for s, i, layer in spec.layers():
            if f"stage{s}.layer{i}.op" in self._by_name or i >= len(self.template.stages[s].layers):
                continue
            fixed = self._value({}, s, i, "op")
            if "parallel" in (fixed, layer.op) and layer.op != fixed:
                raise SpaceError(
                    f"stage{s}.layer{i}.op: the structure's op is {layer.op!r}, the space fixes it to {fixed!r}"
                )
        for s, i, layer in spec.layers():
            pools = split_branches(layer)[1]
            if not pools or f"stage{s}.layer{i}.num_pools" in self._by_name:
                continue
            kept = (
                split_branches(self.template.stages[s].layers[i])[1] if i < len(self.template.stages[s].layers) else []
            )
            if pools != kept:
                raise SpaceError(
                    f"stage{s}.layer{i}: the structure's pooling branches {[tuple(b) for b in pools]} are not "
                    "searched by this space; give modules.max_pools >= 1"
                )
        return params
