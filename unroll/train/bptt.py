"""Full and truncated backpropagation through time.

Full BPTT is one ``model.loss_and_grads`` over a whole sequence. Truncated BPTT(k1, k2) (Williams & Peng
1990) reads a long stream k1 new steps at a time and, after each k1 steps, backpropagates the losses of
those k1 steps through the last k2 ≥ k1 steps. k1 = k2 = T is char-rnn's scheme: batches of T steps,
the hidden state carried from batch to batch, the gradient stopped at the batch boundary.

For k2 > k1 the driver keeps the previous k2 - k1 input steps (the "history") and the state at the
history's start. Each call runs the window [history, new k1 steps] in two segments:

    A = window[:W - h]   starts from the stored state; its final state is carried to the next call
    B = window[W - h:]   becomes the next call's history (h = min(k2 - k1, W))

the loss is taken on the last k1 steps only, and B's backward hands its δ^{h} to A's backward, so the
gradient flows through all W ≤ k2 steps. The cost is k2 / k1 forward-backward steps per new step.
"""

from __future__ import annotations

import numpy as np

from unroll.nn import ops
from unroll.nn.kernels import data_parallel


class TruncatedBPTT:
    """Drive a model through a token stream with BPTT(k1, k2).

    model: provides forward(ids, state, training) -> (logits, state, cache) and
           backward(d_logits, cache, dstate) -> (grads, dstate0), like LanguageModel.
    """

    def __init__(self, model, k1: int, k2: int | None = None):
        k2 = k1 if k2 is None else k2
        if k1 < 1 or k2 < k1:
            raise ValueError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
        self.model, self.k1, self.k2 = model, k1, k2
        self.reset()

    def reset(self) -> None:
        """Forget the carried state and history (a new epoch starts the streams again)."""
        self.state = None
        self.history = None   # (x, y) int arrays (h, N) of the last k2 - k1 steps, or None

    def step(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator | None = None):
        """Take k1 (or fewer) new steps x, y (T, N); return (loss over those steps, grads). rng: a split
        step's part's generator for the dropout masks (default: the model's own)."""
        parts = getattr(self.model, "step_parts", lambda N: None)(x.shape[1])
        if parts:                                    # "data": each thread its rows (kernels/data_parallel.py)
            loss, grads, carry = data_parallel.run(self._part_step, parts, x, y, self.carry(), rows=_carry_rows,
                                                   join=_join_carries, rng=self.model.draws_rng())
            self.set_carry(carry)
            return loss, grads
        window_x, window_y = self._window(x, y)
        W = window_x.shape[0]
        keep = min(self.k2 - self.k1, W)
        drawn = {} if rng is None else {"rng": rng}
        logits_a, state_mid, cache_a = self.model.forward(window_x[:W - keep], self.state, training=True, **drawn)
        segments = [(logits_a, cache_a)]
        if keep:
            logits_b, _, cache_b = self.model.forward(window_x[W - keep:], state_mid, training=True, **drawn)
            segments.append((logits_b, cache_b))
        logits = np.concatenate([s[0] for s in segments]) if keep else logits_a
        loss, d_new = ops.softmax_cross_entropy(logits[-len(x):], y)
        d_logits = np.zeros_like(logits)
        d_logits[-len(x):] = d_new
        grads = self._backward(d_logits, segments)
        self.state = state_mid
        self.history = (window_x[W - keep:], window_y[W - keep:]) if keep else None
        return loss, grads

    def _part_step(self, x, y, carry, _mask, rng=None):
        """One part's step: a driver of its own over its rows (data_parallel.run)."""
        driver = TruncatedBPTT(self.model, self.k1, self.k2)
        driver.set_carry(carry)
        loss, grads = driver.step(x, y, rng)
        return loss, grads, driver.carry()

    def _window(self, x, y):
        if self.history is None:
            return x, y
        return np.concatenate([self.history[0], x]), np.concatenate([self.history[1], y])

    def _backward(self, d_logits, segments):
        """Backward through B (if any) then A, handing δ^{h} at the segment boundary to A."""
        split = segments[0][0].shape[0]
        dstate, total = None, None
        for (logits, cache), d in reversed(list(zip(segments, (d_logits[:split], d_logits[split:])))):
            grads, dstate = self.model.backward(d, cache, dstate)
            total = grads if total is None else {k: total[k] + grads[k] for k in total}
        return total

    # ------------------------------------------------------------------------------------------------
    # The carry: what the trainer keeps between steps and saves in checkpoints (unroll.train.state).

    def carry(self):
        """{"state": the stack's state, "history": (x, y) (h, N) or None}, or None before the first step."""
        return None if self.state is None else {"state": self.state, "history": self.history}

    def set_carry(self, carry) -> None:
        """Continue from ``carry()``'s value (None: start from zeros)."""
        self.state = None if carry is None else carry["state"]
        self.history = None if carry is None or carry["history"] is None else tuple(carry["history"])


def _carry_rows(carry, r0: int, r1: int):
    """Rows r0..r1 of a carry (``TruncatedBPTT.carry``): the state's rows and the history's columns."""
    if carry is None:
        return None
    history = carry["history"]
    return {"state": data_parallel.state_rows(carry["state"], r0, r1),
            "history": None if history is None else tuple(h[:, r0:r1] for h in history)}


def _join_carries(carries: list):
    """The parts' carries joined back in row order."""
    history = carries[0]["history"]
    return {"state": data_parallel.join_states([c["state"] for c in carries]),
            "history": None if history is None else tuple(np.concatenate([c["history"][i] for c in carries], axis=1)
                                                          for i in range(len(history)))}
