"""Viterbi decoding of a layered lattice: the maximum-sum path through a chain of edge-weight matrices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from g2l_automl.errors import SpaceError


def viterbi(weights: Sequence[np.ndarray], initial: Sequence[float] | None = None) -> tuple[list[int], float]:
    """The path of maximum total weight through a lattice of ``len(weights) + 1`` layers.

    ``weights[k][i, j]`` is the weight of the edge from node ``i`` of layer ``k`` to node ``j`` of layer
    ``k + 1`` (so ``weights[k]`` has shape ``(n_k, n_{k+1})``); ``initial[i]`` is an optional weight of node ``i``
    of layer 0 (default 0). Dynamic programming keeps, for every node, the best path ending there, so the cost is
    ``sum_k n_k * n_{k+1}`` instead of the ``prod_k n_k`` paths. With log-probabilities as weights the result is
    the most probable path of the Markov chain they define. Ties go to the lowest node index.

    Returns:
        ``(path, score)``: one node index per layer, and the path's total weight.

    Example:
        >>> path, score = viterbi([np.array([[0.0, 1.0]]), np.array([[5.0, 0.0], [0.0, 2.0]])])
        >>> path, score
        ([0, 0, 0], 5.0)
    """
    if len(weights) == 0:
        raise SpaceError("viterbi: weights: give at least one edge-weight matrix")
    mats = [np.asarray(w, dtype=np.float64) for w in weights]
    for k, w in enumerate(mats):
        if w.ndim != 2 or 0 in w.shape:
            raise SpaceError(f"viterbi: weights[{k}]: expected a non-empty 2-D matrix, got shape {w.shape}")
        if k and w.shape[0] != mats[k - 1].shape[1]:
            raise SpaceError(
                f"viterbi: weights[{k}] has {w.shape[0]} rows but weights[{k - 1}] has {mats[k - 1].shape[1]} columns"
            )
        if not np.all(np.isfinite(w) | (w == -np.inf)):
            raise SpaceError(f"viterbi: weights[{k}]: NaN or +inf weights")
    score = np.zeros(mats[0].shape[0]) if initial is None else np.asarray(initial, dtype=np.float64)
    if score.shape != (mats[0].shape[0],):
        raise SpaceError(f"viterbi: initial: expected {mats[0].shape[0]} node weights, got shape {score.shape}")
    back = []
    for w in mats:
        total = score[:, None] + w  # (n_k, n_{k+1}): best path to i, then edge i -> j
        best = np.argmax(total, axis=0)  # argmax returns the first maximum: ties go to the lowest index
        back.append(best)
        score = total[best, np.arange(w.shape[1])]
    node = int(np.argmax(score))
    best_score = float(score[node])
    path = [node]
    for best in reversed(back):
        node = int(best[node])
        path.append(node)
    return path[::-1], best_score
