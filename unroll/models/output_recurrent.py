"""Output-to-hidden recurrence (Goodfellow et al. §10.2.1, fig. 10.4; seed 004): the only recurrence runs from
the previous OUTPUT to the hidden state, never from hidden to hidden. A tagger of that form::

    f_t = [E[x_{t-w}] ; ... ; E[x_{t+w}]]          a window of 2w+1 input embeddings     (T, N, (2w+1)·E)
                                                   (positions outside the sequence read the pad row E[V])
    a_t = f_t W_in + P[y_{t-1}] + b                P: one row per tag, row K = <start> (y_0)   (T, N, H)
    h_t = tanh(a_t)
    o_t = h_t W_out + b_out                        logits                                (T, N, K)
    L   = mean over real steps of -log softmax(o_t)[y_t]

Teacher forcing feeds the true y_{t-1}, so every a_t is known before anything is computed: the T steps
decouple, training is one batched pass over all T·N rows, and backward has no backpropagation through time
(``backward`` has no time loop). Free running (``predict``) must feed its own guess ŷ_{t-1} = argmax o_{t-1}
back one step at a time; a model trained only on true outputs never saw its own mistakes (exposure bias).

Parameters: ``embed.W (V+1, E)``, ``in.W ((2w+1)·E, H)``, ``prev.W (K+1, H)``, ``in.b (H,)``, ``out.W (H, K)``,
``out.b (K,)``. Cache memory: the window ids (T, N, 2w+1), f (T, N, (2w+1)·E) and h (T, N, H).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.models import common
from unroll.nn import ops


class OutputRecurrentCache(NamedTuple):
    window: np.ndarray           # int (T, N, 2w+1) input ids around each step (V = pad)
    prev: np.ndarray             # int (T, N) y_{t-1} (K = <start>)
    f: np.ndarray                # (T, N, (2w+1)·E)
    h: np.ndarray                # (T, N, H)


class OutputRecurrentTagger:
    """Tags each step from a window of inputs and the previous tag; see the module docstring.

    vocab_size V, num_tags K, hidden_size H, embedding_size E, window w (inputs t-w..t+w), seed, dtype.
    """

    def __init__(self, vocab_size: int, num_tags: int, hidden_size: int = 128, embedding_size: int = 16,
                 window: int = 2, seed: int = 0, dtype=np.float32):
        if not isinstance(window, (int, np.integer)) or window < 0:
            raise ValueError(f"window must be a non-negative integer, got {window!r}")
        V, K, H, E = int(vocab_size), int(num_tags), int(hidden_size), int(embedding_size)
        self.config = dict(vocab_size=V, num_tags=K, hidden_size=H, embedding_size=E, window=int(window))
        self.dtype = common.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        width = (2 * window + 1) * E
        self.params = {"embed.W": common.embedding_init(self.rng, V + 1, E, self.dtype)}
        self.params["in.W"], self.params["in.b"] = common.linear_init(self.rng, width, H, self.dtype)
        self.params["prev.W"] = common.linear_init(self.rng, K + 1, H, self.dtype)[0]
        self.params["out.W"], self.params["out.b"] = common.linear_init(self.rng, H, K, self.dtype)

    # ------------------------------------------------------------------------------------------------
    # Teacher forcing: one batched pass.

    def forward(self, ids, prev, mask=None):
        """ids int (T, N), prev int (T, N) the previous tags (K at t = 0) -> logits (T, N, K), cache."""
        window, _ = self._window(ids, mask)
        f = self.params["embed.W"][window].reshape(*window.shape[:2], -1)
        h = np.tanh(ops.linear_forward(f, self.params["in.W"], self.params["in.b"]) + self.params["prev.W"][prev])
        return ops.linear_forward(h, self.params["out.W"], self.params["out.b"]), OutputRecurrentCache(window, prev, f, h)

    def backward(self, d_logits: np.ndarray, cache: OutputRecurrentCache) -> dict:
        """d_logits (T, N, K) -> grads; no loop over time."""
        p, (T, N, W) = self.params, cache.window.shape
        dh, g_out_W, g_out_b = ops.linear_backward(d_logits, cache.h, p["out.W"])     # o = h W_out + b_out
        da = dh * ops.tanh_grad_from_output(cache.h)                                   # h = tanh(a)
        df, g_in_W, g_in_b = ops.linear_backward(da, cache.f, p["in.W"])               # a = f W_in + P[y] + b
        g_prev = ops.embedding_backward(da, cache.prev, p["prev.W"].shape[0])
        g_embed = ops.embedding_backward(df.reshape(T, N * W, -1), cache.window.reshape(T, N * W),
                                         p["embed.W"].shape[0])                        # f = [E[x_{t+j}]]
        return {"embed.W": g_embed, "in.W": g_in_W, "in.b": g_in_b, "prev.W": g_prev, "out.W": g_out_W,
                "out.b": g_out_b}

    def loss_and_grads(self, batch, state=None):
        """batch: (ids, mask, tags), each (T, N) -> (mean NLL over real steps, grads, None), teacher forced."""
        ids, mask, tags = batch
        tags = common.check_ids("tags", tags, self.config["num_tags"])
        logits, cache = self.forward(ids, self.shift(tags), mask)
        m = common.check_mask(mask, *tags.shape, self.dtype)
        loss, d_logits = ops.softmax_cross_entropy(logits, tags, m)
        return loss, self.backward(d_logits, cache), None

    def shift(self, tags: np.ndarray) -> np.ndarray:
        """y_{t-1} for every t: <start> (= K) at t = 0, then tags[:-1]."""
        return np.concatenate([np.full((1, tags.shape[1]), self.config["num_tags"]), tags[:-1]]).astype(np.int64)

    # ------------------------------------------------------------------------------------------------
    # Free running: each step waits for the previous guess.

    def predict(self, ids, mask=None) -> np.ndarray:
        """Greedy free-running tags int (T, N): ŷ_{t-1} = argmax o_{t-1} is fed back."""
        window, m = self._window(ids, mask)
        T, N, _ = window.shape
        p = self.params
        f = p["embed.W"][window].reshape(T, N, -1)
        a_in = ops.linear_forward(f, p["in.W"], p["in.b"])                              # leaves the loop
        out, prev = np.zeros((T, N), np.int64), np.full(N, self.config["num_tags"])
        for t in range(T):
            logits = np.tanh(a_in[t] + p["prev.W"][prev]) @ p["out.W"] + p["out.b"]
            out[t] = prev = logits.argmax(axis=1)
        return out * m.astype(np.int64)

    def _window(self, ids, mask):
        """ids (T, N) -> window ids (T, N, 2w+1) with pad id V outside each sequence, and the mask (T, N)."""
        V, w = self.config["vocab_size"], self.config["window"]
        ids = common.check_ids("ids", ids, V)
        T, N = ids.shape
        m = common.check_mask(mask, T, N, self.dtype)
        padded = np.concatenate([np.full((w, N), V), np.where(m > 0, ids, V), np.full((w, N), V)])
        return np.stack([padded[j:j + T] for j in range(2 * w + 1)], axis=2), m
