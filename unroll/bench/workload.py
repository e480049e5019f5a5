"""The benchmark workload: char-rnn batches from the real data pipeline, and one training step of each side.

Batches come from ``CharVocab`` and ``StreamBatcher`` (unroll.data) over the bundled tiny Shakespeare, exactly
as ``unroll train`` reads them: batch N = 50 streams, sequence T = 50, vocabulary V = 65. Both sides train
embedding (width H) -> 2 recurrent layers of H -> linear -> softmax cross-entropy with Adam (lr 2e-3) and
global-norm clipping at 5, carrying the state between batches (truncated BPTT)::

    unroll   LanguageModel(vocab_size=V, hidden_size=H, num_layers=2, cell=...)
             loss, grads, state = model.loss_and_grads(x, y, state); clip_grad_norm(grads, 5.0); adam.step(grads)
    torch    nn.Embedding(V, H) -> nn.RNN/GRU/LSTM(H, H, 2) -> nn.Linear(H, V), Adam, clip_grad_norm_(5),
             the state detached between batches, float32, torch.set_num_threads(threads())
"""

from __future__ import annotations

import os

import numpy as np

from unroll.bench import torch_side

CELLS = ("rnn", "gru", "lstm")
SIZES = (128, 512)
T, N, LAYERS, LR, CLIP = 50, 50, 2, 2e-3, 5.0
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def corpus_batches(count: int, seed: int = 0, N: int = N, T: int = T):
    """``count`` consecutive (x, y) batches, int arrays (T, N), of tiny Shakespeare from a random position of
    an epoch of ``StreamBatcher``; returns (batches, V)."""
    from unroll.data import CharVocab, StreamBatcher, load_bundled
    text = load_bundled()
    vocab = CharVocab.from_text(text)
    batcher = StreamBatcher(vocab.encode(text), N, T)
    if count > batcher.batches_per_epoch:
        raise ValueError(f"count must be at most {batcher.batches_per_epoch} batches (one epoch), got {count}")
    start = int(np.random.default_rng(seed).integers(0, batcher.batches_per_epoch - count + 1))
    return [batcher.batch_at(start + k) for k in range(count)], len(vocab)


def train_flops_per_token(cell: str, H: int, V: int, layers: int = LAYERS, E: int | None = None) -> float:
    """Matrix-product FLOPs of one training token: Σ_l 6·(D_l + H)·G·H + 6·H·V (G gate blocks, D_0 = E).

    Forward: 2 FLOPs per multiply-add of x_t W_x, h_{t-1} W_h and the output layer; backward: the same again
    twice (input and weight gradients). Elementwise work, the embedding and the softmax are not counted.
    """
    G, E = GATES[cell], E or H
    return sum(6.0 * ((E if l == 0 else H) + H) * G * H for l in range(layers)) + 6.0 * H * V


class UnrollTrainer:
    """One training step through unroll's public entry points."""

    def __init__(self, cell: str, H: int, V: int, seed: int = 0, layers: int = LAYERS, lr: float = LR,
                 clip: float = CLIP):
        from unroll.models import LanguageModel
        from unroll.train.optim import Adam, clip_grad_norm
        self.model = LanguageModel(vocab_size=V, hidden_size=H, num_layers=layers, cell=cell, seed=seed,
                                   dtype=np.float32, dropout=0.0)    # as torch's side: no dropout
        self.adam, self.clip, self.state = Adam(self.model.params, lr=lr), clip_grad_norm, None
        self.max_norm = clip

    def step(self, x, y) -> float:
        loss, grads, self.state = self.model.loss_and_grads(x, y, self.state)
        self.clip(grads, self.max_norm)
        self.adam.step(grads)
        return loss


class TorchTrainer(torch_side.TorchTrainer):
    """The same step in torch.nn (``torch_side.py``, which the benchmark runs in a process of its own), with
    this module's settings and torch at ``threads()`` threads."""

    def __init__(self, cell: str, H: int, V: int, seed: int = 0):
        torch_with_threads()
        super().__init__(cell, H, V, LAYERS, LR, CLIP, seed)


def threads() -> int:
    """Threads for both sides: OPENBLAS_NUM_THREADS when set (numpy's BLAS reads it at start), else the cores."""
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def torch_with_threads():
    """torch with ``threads()`` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads())
    return torch
