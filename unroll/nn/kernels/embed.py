"""Scatter-add of rows by token id (the embedding's backward, and the embedding fold's)."""

from __future__ import annotations

from numba import njit

from unroll.nn.kernels.mathfn import OPTIONS


@njit(**OPTIONS)
def scatter_add(table, ids, rows):
    """table[ids[k]] += rows[k] for k in order: table (V, E), ids int (K,), rows (K, E) C-contiguous."""
    E = table.shape[1]
    for k in range(ids.shape[0]):
        dst, src = table[ids[k]], rows[k]
        for j in range(E):
            dst[j] += src[j]
