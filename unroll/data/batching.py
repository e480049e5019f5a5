"""Batches for language models: char-rnn style contiguous streams, time-major ``(T, N)``.

Training (``StreamBatcher``): the K ids are cut into N parallel streams of L = K // N ids each
(the last K mod N ids are dropped), stream n being ids[n·L : (n+1)·L]. Batch b of an epoch is::

    x[t, n] = stream_n[b·T + t],    y[t, n] = stream_n[b·T + t + 1],    t = 0..T-1

so y is x shifted by one step, and batch b + 1 continues every stream where batch b stopped:
``x_{b+1}[0] == y_b[T-1]``. A hidden state carried from batch to batch therefore sees each stream as
one long sequence (truncated BPTT). An epoch has ``(L - 1) // T`` batches; the few ids of each stream
that do not fill a last whole batch are skipped. Iteration never stops: after the last batch of an epoch
the next one starts again at the beginning of the streams, and ``reset_state`` tells the trainer that
the batch it just received starts an epoch, so it must zero the carried state.

Validation (``eval_batches``): every id except the first is a target exactly once. The K - 1
(input, target) pairs are dealt into N contiguous streams whose lengths differ by at most one (the first
(K - 1) mod N streams get one pair more), and the streams are walked T steps at a time. The last batch
is padded to ``(T, N)`` with id 0 and a ``mask`` marks the real steps (a prefix of ones in each column),
so summing ``mask * nll`` over all batches and dividing by ``mask.sum()`` (= K - 1) gives the loss over
the whole validation text. When (K - 1) mod N != 0 and the stream length is a multiple of T, the
shorter streams are all padding in the last batch (a column of zeros): use the mask in the loss.
"""

from __future__ import annotations

import numpy as np


class StreamBatcher:
    """Endless (x, y) batches of shape (T, N) over N contiguous streams, resumable exactly.

    ids: int (K,); batch_size: N; seq_len: T.  ``next(batcher)`` -> (x: (T, N), y: (T, N)).
    """

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = _check_ids(ids)
        N, T = _positive("batch_size", batch_size), _positive("seq_len", seq_len)
        K = len(ids)
        if K < N * (T + 1):
            raise ValueError(f"corpus of {K} tokens is too short for batch {N} × seq-len {T} "
                             f"(needs at least N·(T+1) = {N * (T + 1)} tokens)")
        L = K // N
        self.streams = ids[: N * L].reshape(N, L)        # (N, L) row n = stream n
        self.batch_size, self.seq_len, self.num_tokens = N, T, K
        self.batches_per_epoch = (L - 1) // T
        self.step = 0                                     # batches returned so far, over all epochs

    @property
    def epoch(self) -> int:
        """Epochs completed (the epoch the next batch belongs to)."""
        return self.step // self.batches_per_epoch

    @property
    def position(self) -> int:
        """Index within its epoch of the next batch, in [0, batches_per_epoch)."""
        return self.step % self.batches_per_epoch

    @property
    def reset_state(self) -> bool:
        """True when the batch returned last is the first of an epoch (or none was returned yet):
        the state carried from the previous batch belongs to other text, so start from zeros."""
        return self.step == 0 or (self.step - 1) % self.batches_per_epoch == 0

    def batch_at(self, position: int):
        """Batch ``position`` of an epoch, without moving the batcher: (x: (T, N), y: (T, N))."""
        if not 0 <= position < self.batches_per_epoch:
            raise ValueError(f"position must lie in [0, {self.batches_per_epoch}), got {position}")
        start = position * self.seq_len
        x = self.streams[:, start: start + self.seq_len].T
        y = self.streams[:, start + 1: start + self.seq_len + 1].T
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.batch_at(self.position)
        self.step += 1
        return batch

    def state_dict(self) -> tuple[dict, dict]:
        """(no arrays, plain ints) that ``load_state_dict`` needs to resume at exactly the same batch."""
        return {}, {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size,
                    "seq_len": self.seq_len, "num_tokens": self.num_tokens}

    def load_state_dict(self, arrays: dict, state: dict) -> None:
        """Resume from ``state_dict()``; the batcher must be built over the same corpus and shape."""
        keys = ("epoch", "position", "batch_size", "seq_len", "num_tokens")
        missing = [k for k in keys if not isinstance(state.get(k), int)]
        if missing:
            raise ValueError(f"batcher state lacks the integer field(s) {', '.join(missing)}")
        saved = (state["batch_size"], state["seq_len"], state["num_tokens"])
        if saved != (self.batch_size, self.seq_len, self.num_tokens):
            raise ValueError(f"batcher state was saved for batch {saved[0]} × seq-len {saved[1]} over {saved[2]} "
                             f"tokens, but this batcher has batch {self.batch_size} × seq-len {self.seq_len} "
                             f"over {self.num_tokens} tokens")
        if state["epoch"] < 0 or not 0 <= state["position"] < self.batches_per_epoch:
            raise ValueError(f"batcher state has epoch {state['epoch']}, position {state['position']}: "
                             f"need epoch >= 0 and position in [0, {self.batches_per_epoch})")
        self.step = state["epoch"] * self.batches_per_epoch + state["position"]

    def __repr__(self) -> str:
        return (f"StreamBatcher(batch {self.batch_size} × seq-len {self.seq_len}, {self.num_tokens} tokens, "
                f"{self.batches_per_epoch} batches per epoch, epoch {self.epoch}, position {self.position})")


def eval_batches(ids, batch_size: int, seq_len: int):
    """Yield (x, y, mask), each (T, N), covering every target of ``ids`` exactly once (module docstring).

    ids: int (K,) with K >= N + 1.  x, y: ids (padding is 0);  mask: bool, True on real steps.
    Carry the state from batch to batch (each column continues its stream); never reset it in between.
    """
    ids = _check_ids(ids)
    N, T = _positive("batch_size", batch_size), _positive("seq_len", seq_len)
    pairs = len(ids) - 1
    if pairs < N:
        raise ValueError(f"validation corpus of {len(ids)} tokens is too short for batch {N} "
                         f"(needs at least N + 1 = {N + 1} tokens)")
    q, r = divmod(pairs, N)
    lengths = np.full(N, q)
    lengths[:r] += 1
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    steps = int(lengths.max())
    offsets = np.arange(steps)[:, None]                              # (S, 1)
    mask = offsets < lengths[None, :]                                # (S, N)
    index = np.where(mask, starts[None, :] + offsets, 0)             # (S, N) input positions
    x_all, y_all = np.where(mask, ids[index], 0), np.where(mask, ids[index + 1], 0)
    for s in range(0, steps, T):
        x, y, m = x_all[s: s + T], y_all[s: s + T], mask[s: s + T]
        if len(x) < T:
            pad = ((0, T - len(x)), (0, 0))
            x, y, m = np.pad(x, pad), np.pad(y, pad), np.pad(m, pad)
        yield x.astype(ids.dtype), y.astype(ids.dtype), m


# ----------------------------------------------------------------------------------------------------

def _check_ids(ids) -> np.ndarray:
    """A 1-D array of non-negative integer ids."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"ids must be non-negative, got {ids.min()}")
    return ids


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
