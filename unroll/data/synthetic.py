"""Synthetic problems and the batches drawn from them: the adding problem, the copying-memory problem, and
``GeneratedBatches`` (batches made on the fly by any ``make(N, rng)``, resumable exactly).

Both problems are generated on the fly from an explicit ``np.random.Generator``, time-major like the engine.

**Adding problem** (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 and Arjovsky et al. 2016).
Each sequence has T steps of two features: a value drawn from U(0, 1) and a marker that is 1 at exactly
two steps, one in the first half ``[0, T/2)`` and one in the second half ``[T/2, T)``, and 0 elsewhere. The
target is the sum of the two marked values. A model that ignores its input can do no better than
predicting the mean, E[y] = 1, and its mean squared error is Var[y] = Var[u1] + Var[u2] = 2/12 = 1/6 ≈ 0.167.
"Solved" means a test MSE well below that, conventionally < 0.01.

**Copying-memory problem** (Arjovsky, Shah & Bengio 2016). Categories 0..9: 0 is the blank, 1..8 are
data symbols, 9 is the delimiter. The input has T + 20 steps: 10 symbols drawn uniformly from 1..8, then
T - 1 blanks, the delimiter, then 10 blanks. The target is T + 10 blanks followed by the 10 data symbols
in order. A memoryless model predicts blank for the first T + 10 steps (no loss) and the uniform
distribution over the 8 data symbols for the last 10 (ln 8 each); averaged over all T + 20 steps its
cross-entropy is ``10 ln 8 / (T + 20)``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

N_CATEGORIES = 10          # copying: 0 blank, 1..8 data, 9 delimiter
BLANK, DELIMITER = 0, 9
N_DATA_SYMBOLS = 8
N_COPY = 10


def adding_problem(T: int, N: int, rng: np.random.Generator, dtype=np.float32):
    """N sequences of the adding problem.

    returns x: (T, N, 2) with x[..., 0] ~ U(0, 1) and x[..., 1] the two markers, y: (N, 1) the target sum
    """
    if T < 2:
        raise ValueError(f"the adding problem needs T >= 2 (one marker per half), got T={T}")
    values = rng.random((T, N))
    half = T // 2
    first = rng.integers(0, half, size=N)             # marker in the first half [0, T/2)
    second = rng.integers(half, T, size=N)            # marker in the second half [T/2, T)
    markers = np.zeros((T, N))
    cols = np.arange(N)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    y = (values[first, cols] + values[second, cols])[:, None]
    x = np.stack([values, markers], axis=-1)
    return x.astype(dtype), y.astype(dtype)


def adding_baseline_mse() -> float:
    """MSE of always answering E[y] = 1: Var[y] = 2 · Var[U(0, 1)] = 2/12."""
    return 2.0 / 12.0


def copying_problem(T: int, N: int, rng: np.random.Generator, dtype=np.float32):
    """N sequences of the copying-memory problem with T - 1 blanks between the data and the delimiter.

    returns x: (T + 20, N, 10) one-hot inputs, y: int (T + 20, N) target categories
    """
    if T < 1:
        raise ValueError(f"the copying problem needs T >= 1, got T={T}")
    L = T + 2 * N_COPY
    data = rng.integers(1, N_DATA_SYMBOLS + 1, size=(N_COPY, N))
    ids = np.full((L, N), BLANK, dtype=np.int64)
    ids[:N_COPY] = data
    ids[N_COPY + T - 1] = DELIMITER                   # after the 10 symbols and T - 1 blanks
    y = np.full((L, N), BLANK, dtype=np.int64)
    y[-N_COPY:] = data
    return one_hot(ids, N_CATEGORIES, dtype), y


def copying_baseline_loss(T: int) -> float:
    """Cross-entropy per step of the memoryless strategy: 10 ln 8 / (T + 20)."""
    return N_COPY * np.log(N_DATA_SYMBOLS) / (T + 2 * N_COPY)


def one_hot(ids: np.ndarray, V: int, dtype=np.float32) -> np.ndarray:
    """ids: int (T, N) in [0, V) -> (T, N, V) one-hot."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"ids must lie in [0, V) = [0, {V}), got values in [{ids.min()}, {ids.max()}]")
    return np.eye(V, dtype=dtype)[ids]


__all__ = ["adding_problem", "adding_baseline_mse", "copying_problem", "copying_baseline_loss", "one_hot",
           "BLANK", "DELIMITER", "N_CATEGORIES", "N_DATA_SYMBOLS", "N_COPY"]


class GeneratedBatches:
    """Batches drawn on the fly by ``make(N, rng) -> batch`` from one generator, resumable exactly.

    The generator's bit state is the whole state, so a resumed run draws exactly the batches an
    uninterrupted one would have drawn.
    """

    epoch = 0
    reset_state = False

    def __init__(self, make: Callable[[int, np.random.Generator], Any], batch_size: int, rng: np.random.Generator):
        self.make, self.batch_size, self.rng, self.drawn = make, batch_size, rng, 0

    def __iter__(self):
        return self

    def __next__(self):
        self.drawn += 1
        return self.make(self.batch_size, self.rng)

    def state_dict(self) -> tuple[dict, dict]:
        return {}, {"drawn": self.drawn, "batch_size": self.batch_size, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        if scalars.get("batch_size") != self.batch_size:
            raise ValueError(f"batch state was saved for batch {scalars.get('batch_size')}, "
                             f"this run has batch {self.batch_size}")
        self.rng.bit_generator.state = scalars["rng"]
        self.drawn = int(scalars["drawn"])
