"""What the split tests share: one training step of a small float64 language model under a strategy, and
the check that two strategies train alike (float64, 1e-12: the parts' δP sums reorder additions)."""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn.kernels import split


def train_step(strategy: str | None, monkeypatch, cell: str = "lstm", parts: int = 2, dropout: float = 0.2):
    """(loss, grads) of a 2-layer ``cell`` language model (V = 9, H = 5, batch 10, sequence 6, the embedding
    folded) on fixed data, under ``split.use(strategy)`` with ``parts`` threads' worth of parts. dropout: the
    model's default draws masks, which "data" draws from other generators (compare it with dropout 0)."""
    from unroll.models import LanguageModel
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 9, (6, 10)), rng.integers(0, 9, (6, 10))
    model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell=cell, dtype=np.float64, dropout=dropout)
    assert model.forward(x)[2].folded
    return model.loss_and_grads(x, y)


def assert_trains_alike(got, expected) -> None:
    """The loss and every gradient of ``got`` equal ``expected``'s to 1e-12."""
    assert got[0] == pytest.approx(expected[0], rel=1e-12)
    assert set(got[1]) == set(expected[1])
    for key, g in expected[1].items():
        np.testing.assert_allclose(got[1][key], g, rtol=1e-12, atol=1e-12, err_msg=key)
