"""How different two architectures are: the Hamming distance between their genes, for EvaNet's ensemble of
*diverse* top architectures (Sec. 4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from g2l_automl.structure import POOL_OPS, StructureSpec


def structure_genes(spec: StructureSpec) -> dict[str, Any]:
    """``spec`` as named genes, named like a search space's (:class:`~g2l_automl.spaces.SearchSpace`):
    ``dropout``; per stage ``stageS.num_layers`` and ``stageS.channels`` (per layer ``stageS.layerL.channels``
    when the stage's widths differ); per layer ``op``, ``dilation``, ``dilation2`` (``dual_conv``) and
    ``kernel_size``, or for a ``parallel`` layer ``num_branches``, ``num_pools`` and each convolution branch's
    ``branchB.op`` / ``branchB.kernel_size`` and pooling branch's ``poolP.op`` / ``poolP.kernel_size``.

    Example:
        >>> genes = structure_genes(StructureSpec.mstcn(num_stages=1, num_layers=2, channels=8))
        >>> genes["stage0.channels"], genes["stage0.layer1.dilation"], len(genes)
        (8, 2, 9)
    """
    out: dict[str, Any] = {"dropout": float(spec.dropout)}
    for s, stage in enumerate(spec.stages):
        out[f"stage{s}.num_layers"] = len(stage.layers)
        widths = {layer.channels for layer in stage.layers}
        if len(widths) == 1:
            out[f"stage{s}.channels"] = widths.pop()
        for i, layer in enumerate(stage.layers):
            key = f"stage{s}.layer{i}."
            out[key + "op"] = layer.op
            out[key + "dilation"] = layer.dilation
            if len({lay.channels for lay in stage.layers}) > 1:
                out[key + "channels"] = layer.channels
            if layer.dilation2 is not None:
                out[key + "dilation2"] = layer.dilation2
            if layer.op != "parallel" or layer.branches is None:
                out[key + "kernel_size"] = layer.kernel_size
                continue
            convs = [b for b in layer.branches if b.op not in POOL_OPS]
            pools = [b for b in layer.branches if b.op in POOL_OPS]
            out[key + "num_branches"], out[key + "num_pools"] = len(convs), len(pools)
            for name, group in (("branch", convs), ("pool", pools)):
                for b, branch in enumerate(group):
                    out[f"{key}{name}{b}.op"] = branch.op
                    out[f"{key}{name}{b}.kernel_size"] = branch.kernel_size
    return out


def hamming_distance(a: StructureSpec, b: StructureSpec) -> int:
    """The number of genes (:func:`structure_genes`) in which ``a`` and ``b`` differ; a gene only one of them has
    (a layer or branch the other lacks) counts as different. Two equal structures are at distance 0; a single
    mutation of a search space's gene is at distance 1, a layer added or removed at more.

    Example:
        >>> a = StructureSpec.mstcn(num_stages=1, num_layers=3, channels=8)
        >>> hamming_distance(a, a.with_layer(0, 1, dilation=16)), hamming_distance(a, a.with_layer(0, 0, op="tgm"))
        (1, 1)
    """
    genes_a, genes_b = structure_genes(a), structure_genes(b)
    missing = object()
    return sum(genes_a.get(k, missing) != genes_b.get(k, missing) for k in genes_a.keys() | genes_b.keys())


def pairwise_distances(specs: Sequence[StructureSpec]) -> list[list[int]]:
    """The symmetric matrix of :func:`hamming_distance` between every two of ``specs`` (zero diagonal)."""
    return [[hamming_distance(a, b) for b in specs] for a in specs]
