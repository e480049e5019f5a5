"""Variable-length sequences in masked, length-bucketed batches, time-major, resumable exactly.

Training (``BucketBatches``): each epoch e draws a permutation of the examples from
``default_rng([seed, e])``, cuts it into pools of ``pool`` batches, sorts each pool by length and cuts it
into batches of ``batch_size``, then shuffles the order of the batches. Sequences in a batch therefore have
similar lengths (little padding) while the epoch stays random. The whole state is (epoch, position in
the epoch): ``state_dict`` / ``load_state_dict`` resume so that the next batch is exactly the one an
uninterrupted run would have drawn. Iteration never ends; ``epoch`` counts completed passes.

Evaluation (``eval_order``): every example once, sorted by length, in batches of ``batch_size``.

``pad(seqs)`` turns a list of 1-D int arrays into ``ids (T, N)`` and ``mask (T, N)`` (1 on the real steps),
T the longest length, padding with ``pad_id``.
"""

from __future__ import annotations

import numpy as np


def pad(seqs, pad_id: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """[int (T_n,)] -> ids int64 (T, N), mask (T, N) of ``dtype``; every sequence needs T_n >= 1."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    if lengths.size == 0:
        raise ValueError("pad needs at least one sequence")
    if lengths.min() < 1:
        raise ValueError(f"sequence {int(np.argmin(lengths))} is empty: every sequence needs length >= 1")
    T, N = int(lengths.max()), len(seqs)
    ids = np.full((T, N), pad_id, dtype=np.int64)
    for n, s in enumerate(seqs):
        ids[:len(s), n] = s
    return ids, (np.arange(T)[:, None] < lengths[None]).astype(dtype)


def eval_order(lengths, batch_size: int) -> list[np.ndarray]:
    """Every index once, by ascending length (ties by index), in batches of ``batch_size``."""
    lengths = np.asarray(lengths)
    order = np.lexsort((np.arange(lengths.size), lengths))
    return [order[i:i + batch_size] for i in range(0, order.size, batch_size)]


class BucketBatches:
    """Endless index batches (int arrays of up to ``batch_size`` example indices) grouped by length.

    lengths: int (M,) per example; batch_size: N; seed: the shuffling seed; pool: batches per sorting pool;
    make: optional function index-array -> batch (applied by ``__next__``; None returns the indices).
    """

    reset_state = False

    def __init__(self, lengths, batch_size: int, seed: int = 0, pool: int = 50, make=None):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or self.lengths.size == 0:
            raise ValueError("lengths must be a non-empty 1-D array of sequence lengths")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size, self.seed, self.pool, self.make = int(batch_size), int(seed), int(pool), make
        self.epoch, self.position, self._legacy_rng = 0, 0, None
        self._order = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        if self._legacy_rng is not None:
            return legacy_epoch(self.lengths, self.batch_size, self._legacy_rng)
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(self.lengths.size)
        size, batches = self.batch_size * self.pool, []
        for i in range(0, perm.size, size):
            chunk = perm[i:i + size]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[j:j + self.batch_size] for j in range(0, chunk.size, self.batch_size))
        return [batches[k] for k in rng.permutation(len(batches))]

    @property
    def batches_per_epoch(self) -> int:
        return len(self._order)

    @property
    def drawn(self) -> int:
        """Batches handed out so far (every epoch has ``batches_per_epoch``: the pools depend on M only)."""
        return self.epoch * len(self._order) + self.position

    def __iter__(self):
        return self

    def __next__(self):
        if self.position == len(self._order):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._epoch_batches(self.epoch)
        index = self._order[self.position]
        self.position += 1
        return index if self.make is None else self.make(index)

    def state_dict(self) -> tuple[dict, dict]:
        if self._legacy_rng is not None:                       # a run begun before issue 28 keeps its order
            sizes = np.array([len(g) for g in self._order], dtype=np.int64)
            return ({"groups": np.concatenate(self._order), "group_sizes": sizes},
                    {"epoch": self.epoch, "position": self.position, "drawn": self.drawn,
                     "pairs": int(self.lengths.size), "rng": self._legacy_rng.bit_generator.state})
        return {}, {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                    "batch_size": self.batch_size, "examples": int(self.lengths.size)}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        if "groups" in arrays:
            return self._load_legacy(arrays, scalars)
        for key, mine in (("batch_size", self.batch_size), ("examples", int(self.lengths.size)), ("seed", self.seed)):
            if scalars.get(key) != mine:
                raise ValueError(f"batch state was saved with {key} {scalars.get(key)}, this run has {mine}")
        self.epoch, self.position = int(scalars["epoch"]), int(scalars["position"])
        self._order = self._epoch_batches(self.epoch)
        if not 0 <= self.position <= len(self._order):
            raise ValueError(f"batch state position {self.position} is outside the epoch's {len(self._order)} batches")

    def _load_legacy(self, arrays: dict, scalars: dict) -> None:
        """The seq2seq batcher's state of unroll before issue 28 (its epoch's batches, the position in them and
        its generator's bit state): the run goes on in that batcher's order (``legacy_epoch``), exactly."""
        if scalars.get("pairs") != self.lengths.size:
            raise ValueError(f"batch state was saved for {scalars.get('pairs')} training pairs, "
                             f"this run has {self.lengths.size}")
        groups = np.split(np.asarray(arrays["groups"], np.int64), np.cumsum(arrays["group_sizes"])[:-1])
        self._legacy_rng = np.random.default_rng()
        self._legacy_rng.bit_generator.state = scalars["rng"]
        self._order, self.epoch, self.position = groups, int(scalars["epoch"]), int(scalars["position"])


def legacy_epoch(lengths, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The pair batcher's epoch of unroll before issue 28, kept so that its run folders resume exactly: a
    permutation from ``rng``, chunks of 20 batches sorted by length (ties by position), and the batches of each
    chunk in an order drawn from ``rng``."""
    order, chunk, groups = rng.permutation(len(lengths)), 20 * batch_size, []
    for start in range(0, len(order), chunk):
        part = np.array(sorted(order[start:start + chunk], key=lambda i: lengths[i]), dtype=np.int64)
        pieces = [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
        groups += [pieces[j] for j in rng.permutation(len(pieces))]
    return groups
