"""One recurrent cell and a linear readout: the model of the long-term-dependency experiments.

    h_t = cell(x_t, h_{t-1})                                      (T, N, H)
    "last":  ŷ = h_T W + b,   L = mean over N, K of (ŷ - y)²       regression on the final state (adding)
    "every": ŷ_t = h_t W + b, L = mean over T, N of -log softmax(ŷ_t)[y_t]   a class per step (copying)

The cell is one layer of the network section (``nn/network.py``'s StackConfig): any registered cell with its
options (``--alpha``, ``--alpha-range``, ``--skip-every``, ``--depth`` ...), its activation and its
initialiser (``--init identity:0.001 --activation relu --cell rnn`` is the IRNN of Le et al. 2015: W_h = I,
b = 0, W_x ~ N(0, 0.001²)). One layer, one direction, no dropout: the diagnostics read the cell's own cache
and state (``last_step_state_grad``), so the task refuses the stack settings in one line
(``tasks/longterm.py``). Parameters: ``cell.<name>`` of the cell, ``out.W (H, K)``, ``out.b (K,)``.
"""

from __future__ import annotations

import math

import numpy as np

from unroll.nn import ops
from unroll.nn.network import StackConfig, initialise
from unroll.nn.stack import Stack

READOUTS = ("last", "every")


class TaskModel:
    """One layer of ``network`` (StackConfig, num_layers 1) on D inputs, read out to K outputs.

    readout: "last" (MSE on h_T, y (N, K)) or "every" (cross-entropy at every step, y int (T, N))
    """

    def __init__(self, network: StackConfig, input_size: int, output_size: int, readout: str,
                 rng: np.random.Generator, dtype=np.float32):
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if network.num_layers != 1 or network.bidirectional:
            raise ValueError("TaskModel reads out one layer in one direction (give --layers 1, no --bidirectional)")
        stack = Stack.from_config(network, input_size)
        self.cell, self.readout, self.kind, self.module = network.cell, readout, stack.kind, stack.kind.load()
        self.options = stack.options                                   # forward / step options (d, activation ...)
        params = initialise(network, stack.init(rng, dtype), rng, dtype)   # --init (identity:S ...), --forget-bias
        self.params = {f"cell.{k.rsplit('.', 1)[1]}": v for k, v in params.items()}   # layer0.lstm.b -> cell.b
        H, bound = network.hidden_size, 1.0 / math.sqrt(network.hidden_size)
        self.params["out.W"] = rng.uniform(-bound, bound, (H, output_size)).astype(dtype)
        self.params["out.b"] = np.zeros(output_size, dtype)

    def astype(self, dtype) -> "TaskModel":
        """A copy with every parameter cast to ``dtype`` (float64 for diagnostics and gradient checks)."""
        copy = object.__new__(TaskModel)
        copy.__dict__.update(self.__dict__)
        copy.params = {k: v.astype(dtype) for k, v in self.params.items()}
        return copy

    def cell_params(self) -> dict:
        return {k[5:]: v for k, v in self.params.items() if k.startswith("cell.")}

    def hidden_states(self, x: np.ndarray):
        """x (T, N, D) -> hs (T, N, H), the cell's cache."""
        hs, _, cache = self.module.forward(x, self.cell_params(), None, None, **self.options)
        return hs, cache

    def loss_and_grads(self, batch, state=None):
        """The protocol's step: batch (x, y) -> (loss, grads with the keys of params, None)."""
        loss, grads, _ = self.forward_loss(*batch)
        return loss, grads, None

    def forward_loss(self, x: np.ndarray, y: np.ndarray, need_grads: bool = True):
        """returns loss, grads (None without need_grads), dhs (T, N, H): the loss's gradient w.r.t. hs."""
        hs, cache = self.hidden_states(x)
        W, b = self.params["out.W"], self.params["out.b"]
        if self.readout == "last":
            diff = hs[-1] @ W + b - y                          # ŷ - y, (N, K)
            loss = float(np.mean(diff ** 2))
            dpred = (2.0 / diff.size) * diff
            dhs = np.zeros_like(hs)
            dhs[-1] = dpred @ W.T
            dW, db = hs[-1].T @ dpred, dpred.sum(axis=0)
        else:
            logits = ops.linear_forward(hs, W, b)              # (T, N, K)
            loss, dlogits = ops.softmax_cross_entropy(logits, y)
            dhs, dW, db = ops.linear_backward(dlogits, hs, W)
        if not need_grads:
            return loss, None, dhs
        _, _, g = self.module.backward(dhs.astype(hs.dtype), cache)
        grads = {f"cell.{k}": v for k, v in g.items()} | {"out.W": dW.astype(W.dtype), "out.b": db.astype(b.dtype)}
        return loss, grads, dhs

    def last_step_state_grad(self, x: np.ndarray, y: np.ndarray):
        """∂L_T/∂s_T in the cell's state layout, L_T the loss of the last step ("last": the only one)."""
        if self.readout == "last":
            dh = self.forward_loss(x, y, need_grads=False)[2][-1]
        else:
            hs, _ = self.hidden_states(x)
            logits = hs[-1:] @ self.params["out.W"] + self.params["out.b"]
            _, dlogits = ops.softmax_cross_entropy(logits, y[-1:])
            dh = dlogits[0] @ self.params["out.W"].T
        if self.kind.state_parts == 2:                       # (h, c): nothing flows into c from the readout
            return dh, np.zeros_like(dh)
        if self.kind.window is not None:                     # a window (d, N, H) of the last d states
            d = self.options[self.kind.window]
            return np.concatenate([np.zeros((d - 1,) + dh.shape, dh.dtype), dh[None]])
        return dh

    def evaluate(self, x: np.ndarray, y: np.ndarray, chunk: int = 500, last: int = 0) -> dict:
        """Loss on a fixed set, in chunks; for "every" with last > 0 also the accuracy on the last steps."""
        total, correct, n = 0.0, 0, x.shape[1]
        W, b = self.params["out.W"], self.params["out.b"]
        for s in range(0, n, chunk):
            hs, _ = self.hidden_states(x[:, s:s + chunk])
            if self.readout == "last":
                loss = float(np.mean((hs[-1] @ W + b - y[s:s + chunk]) ** 2))
            else:
                logits = ops.linear_forward(hs, W, b)
                loss, _ = ops.softmax_cross_entropy(logits, y[:, s:s + chunk])
                if last:
                    correct += int(np.sum(np.argmax(logits[-last:], axis=-1) == y[-last:, s:s + chunk]))
            total += loss * hs.shape[1]
        out = {"loss": total / n}
        if self.readout == "every" and last:
            out["accuracy"] = correct / (n * last)
        return out
