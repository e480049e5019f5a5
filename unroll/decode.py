"""Turning next-token logits into text: greedy, temperature, top-k sampling and beam search.

A model used here provides ``forward(ids (T, N), state, training=False) -> (logits, state, cache)`` to
read a priming text in one pass, and ``step_logits(ids (N,), state) -> (logits (N, V), state)`` for one
step at a time, the way ``unroll.models.LanguageModel`` does.

Sampling with temperature τ draws from softmax(ŷ / τ): τ < 1 sharpens the distribution, τ > 1 flattens it,
τ -> 0 approaches greedy. Top-k keeps only the k largest logits before drawing.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from unroll.nn import ops


def next_token(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None, greedy: bool = False,
               rng: np.random.Generator | None = None) -> int:
    """Pick one id from a (V,) vector of logits."""
    if greedy:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < scaled.size:
        kth_largest = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled >= kth_largest, scaled, -np.inf)
    probs = ops.softmax(scaled)
    return int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right").clip(0, probs.size - 1))


def check_settings(length: int, temperature: float, top_k: int | None) -> None:
    """One-line errors for bad decoding settings, naming the option."""
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def generate(model, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
             greedy: bool = False, rng: np.random.Generator | None = None) -> Iterator[int]:
    """Read ``prime_ids`` (at least one id), then yield ``length`` new ids one at a time."""
    check_settings(length, temperature, top_k)
    prime = np.asarray(prime_ids, dtype=np.int64).reshape(-1, 1)
    if prime.size == 0:
        raise ValueError("prime must hold at least one token")
    rng = rng if rng is not None else np.random.default_rng()
    logits, state, _ = model.forward(prime, None, training=False)
    last = logits[-1, 0]
    for _ in range(length):
        token = next_token(last, temperature, top_k, greedy, rng)
        yield token
        step_logits, state = model.step_logits(np.array([token]), state)
        last = step_logits[0]


def beam_search(model, prime_ids, length: int, beam_width: int = 5) -> tuple[list[int], float]:
    """The most likely continuation of ``length`` ids among ``beam_width`` beams.

    Every step extends each beam by every token, keeps the ``beam_width`` best by summed log-probability,
    and runs the beams as one batch. Returns (ids, total log-probability).
    """
    check_settings(length, 1.0, None)
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    prime = np.asarray(prime_ids, dtype=np.int64).reshape(-1, 1)
    if prime.size == 0:
        raise ValueError("prime must hold at least one token")
    logits, state, _ = model.forward(prime, None, training=False)
    logp = ops.log_softmax(logits[-1].astype(np.float64))          # (1, V)
    scores, beams = np.zeros(1), [[]]
    for _ in range(length):
        total = scores[:, None] + logp                              # (B, V)
        best = np.argsort(total, axis=None)[::-1][:beam_width]
        rows, tokens = np.unravel_index(best, total.shape)
        scores = total[rows, tokens]
        beams = [beams[r] + [int(t)] for r, t in zip(rows, tokens)]
        state = _select_state(state, rows)
        step_logits, state = model.step_logits(tokens.astype(np.int64), state)
        logp = ops.log_softmax(step_logits.astype(np.float64))
    return beams[0], float(scores[0])


def _select_state(state, rows: np.ndarray):
    """Keep the state rows (batch axis 1 of (L, N, H) arrays) of the surviving beams."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]
