"""Pieces the wirings share: argument checks for token ids, labels and masks, and PyTorch-style initialisers."""

from __future__ import annotations

import numpy as np


def check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def check_ids(name: str, ids, V: int, ndim: int = 2) -> np.ndarray:
    """An int array of ``ndim`` dimensions with values in [0, V)."""
    ids = np.asarray(ids)
    if ids.ndim != ndim or not np.issubdtype(ids.dtype, np.integer):
        letters = ("T", "N")[2 - ndim:] if ndim <= 2 else ("?",) * ndim
        raise ValueError(f"{name} must be an integer array of shape ({', '.join(letters)}{',' if ndim == 1 else ''}), "
                         f"got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"{name} must hold ids in [0, {V}), got values in [{ids.min()}, {ids.max()}]")
    return ids


def check_mask(mask, T: int, N: int, dtype) -> np.ndarray:
    """A (T, N) mask of real steps (prefix of ones per column, every column non-empty), or all ones for None."""
    if mask is None:
        return np.ones((T, N), dtype)
    mask = np.asarray(mask)
    if mask.shape != (T, N):
        raise ValueError(f"mask must have shape (T, N) = ({T}, {N}), got {mask.shape}")
    m = mask.astype(bool)
    if np.any(m[1:] & ~m[:-1]) or not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be 0/1 with the real steps first in each column (a prefix of ones)")
    if N and not np.all(m[0]):
        raise ValueError(f"mask column {int(np.argmin(m[0]))} has no real step: every sequence needs length >= 1")
    return m.astype(dtype)


def lengths(mask: np.ndarray) -> np.ndarray:
    """Per-sequence lengths (N,) int of a (T, N) 0/1 mask."""
    return mask.sum(axis=0).astype(np.int64)


def linear_init(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """torch.nn.Linear's default: W (fan_in, fan_out) and b (fan_out,) from uniform(±1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return (rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype),
            rng.uniform(-bound, bound, fan_out).astype(dtype))


def embedding_init(rng: np.random.Generator, V: int, E: int, dtype) -> np.ndarray:
    """torch.nn.Embedding's default: N(0, 1). ``--embedding-init-scale S`` redraws every token embedding from
    uniform(-S, S) after the model's other parameters (nn/network.py's ``initialise``, the network setting's home)."""
    return rng.standard_normal((V, E)).astype(dtype)
