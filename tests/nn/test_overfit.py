"""Tiny models that must overfit "hello": the seeds' toy example, every cell, and bit-identical reruns.

The model is the seeds' Figure 3: one-hot characters over {h, e, l, o} -> one recurrent layer -> a linear
output layer -> softmax cross-entropy against the next character. The optimizer is a few lines of plain
Adam written here, so these tests depend on nothing but the engine (unroll.nn).
"""

import numpy as np
import pytest

from unroll.nn import gru, lstm, ops, rnn

VOCAB = "helo"
CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def one_hot(text: str, dtype) -> np.ndarray:
    """text -> (T, 1, V) one-hot inputs, time-major with a batch of one."""
    x = np.zeros((len(text), 1, len(VOCAB)), dtype)
    x[np.arange(len(text)), 0, [VOCAB.index(ch) for ch in text]] = 1.0
    return x


def targets_of(text: str) -> np.ndarray:
    return np.array([[VOCAB.index(ch)] for ch in text])


def make_model(cell, hidden_size, seed, dtype):
    rng = np.random.default_rng(seed)
    params = {f"cell.{k}": v for k, v in cell.init(len(VOCAB), hidden_size, rng, dtype).items()}
    bound = 1.0 / np.sqrt(hidden_size)
    params["out.W"] = rng.uniform(-bound, bound, (hidden_size, len(VOCAB))).astype(dtype)
    params["out.b"] = np.zeros(len(VOCAB), dtype)
    return params


def loss_and_grads(cell, params, x, y):
    """Forward through cell and output layer, then backward; returns (loss, grads, logits)."""
    cell_params = {k[len("cell."):]: v for k, v in params.items() if k.startswith("cell.")}
    hs, _, cache = cell.forward(x, cell_params)
    logits = ops.linear_forward(hs, params["out.W"], params["out.b"])
    loss, d_logits = ops.softmax_cross_entropy(logits, y)
    dhs, dW, db = ops.linear_backward(d_logits, hs, params["out.W"])
    _, _, cell_grads = cell.backward(dhs, cache)
    grads = {f"cell.{k}": v for k, v in cell_grads.items()} | {"out.W": dW, "out.b": db}
    return loss, grads, logits


class PlainAdam:
    """Adam (Kingma & Ba) in a few lines, updating params in place."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.lr, self.beta1, self.beta2, self.eps = params, lr, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        for k, p in self.params.items():
            self.m[k] = self.beta1 * self.m[k] + (1 - self.beta1) * grads[k]
            self.v[k] = self.beta2 * self.v[k] + (1 - self.beta2) * grads[k] ** 2
            m_hat = self.m[k] / (1 - self.beta1 ** self.t)
            v_hat = self.v[k] / (1 - self.beta2 ** self.t)
            p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype)


def train(cell, hidden_size, steps, seed=0, lr=0.05, dtype=np.float64, text="hello"):
    """Train on text[:-1] -> text[1:] for ``steps`` Adam steps; returns (params, losses, final logits)."""
    x, y = one_hot(text[:-1], dtype), targets_of(text[1:])
    params = make_model(cell, hidden_size, seed, dtype)
    optimizer = PlainAdam(params, lr)
    losses = []
    for _ in range(steps):
        loss, grads, _ = loss_and_grads(cell, params, x, y)
        losses.append(loss)
        optimizer.step(grads)
    loss, _, logits = loss_and_grads(cell, params, x, y)
    losses.append(loss)
    return params, losses, logits


def test_seeds_toy_example_rnn_hidden_3_learns_hell_to_ello():
    _, losses, logits = train(rnn, hidden_size=3, steps=200, seed=0, lr=0.05)
    assert losses[-1] < 0.05, losses[-1]
    assert "".join(VOCAB[i] for i in logits[:, 0].argmax(axis=-1)) == "ello"
    assert losses[0] > 1.0  # it started from chance-ish (ln 4 ≈ 1.39), so the drop is real


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_cell_overfits_hello(name):
    _, losses, logits = train(CELLS[name], hidden_size=8, steps=300, seed=1, lr=0.05)
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    assert losses[-1] < 0.05, losses[-1]
    assert "".join(VOCAB[i] for i in logits[:, 0].argmax(axis=-1)) == "ello"


@pytest.mark.parametrize("name", sorted(CELLS))
def test_same_seed_gives_bit_identical_parameters(name):
    first, losses_a, _ = train(CELLS[name], hidden_size=8, steps=25, seed=3, dtype=np.float32)
    second, losses_b, _ = train(CELLS[name], hidden_size=8, steps=25, seed=3, dtype=np.float32)
    assert losses_a == losses_b
    assert first.keys() == second.keys()
    assert all(first[k].dtype == np.float32 and np.array_equal(first[k], second[k]) for k in first)
    other, _, _ = train(CELLS[name], hidden_size=8, steps=25, seed=4, dtype=np.float32)
    assert not np.array_equal(first["out.W"], other["out.W"])  # the seed does matter
