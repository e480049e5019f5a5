"""What a wiring reads at each step: token ids through an embedding, or real vectors (issue 22).

A wiring (classifier, tagger, seq2seq encoder) turns its input into e (T, N, E) and hands e to a Stack;
these two input layers are the only part that differs between tokens and vectors::

    TokenInput    e_t = E[x_t]                        x int (T, N),   E (V, E)          the embedding
    VectorInput   "linear": e_t = x_t                 x (T, N, D),    no parameters, E = D
                  "mlp":    e_t = f(x_t W_in + b_in)  W_in (D, E), b_in (E,), f = tanh | relu

"linear" adds no layer on purpose: the stack's layer 0 already computes x_t W_x + b (W_x (D, 4H) for the
LSTM), so a linear map x W_lin + b_lin in front of it would compose into one linear map of the same
inputs (W_lin W_x has rank <= min(D, E, 4H)) and could only restrict it. The seeds' equations with
x_t a real vector are exactly the stack reading x directly. "mlp" is the one genuinely new layer: a
nonlinearity between the features and the gates (torch: nn.Linear -> f -> nn.LSTM).

Backward of "mlp" (a = x W_in + b_in, e = f(a))::

    da = de ⊙ f'(a)         f' from the output: 1 - e² (tanh), [e > 0] (relu)
    dW_in = Σ_{t,n} x_tᵀ da_t,   db_in = Σ_{t,n} da_t,   (dx is not needed: x is data)

On padded steps the stack sends back de = 0, so padding adds nothing to dW_in or db_in.

Each layer has ``init(rng, dtype) -> params``, ``forward(params, x) -> (e, cache)``,
``backward(params, de, cache) -> grads`` (keys of its params) and ``shape(x) -> (T, N)``.
"""

from __future__ import annotations

import numpy as np

from unroll.models import common
from unroll.nn import ops

KINDS = ("linear", "mlp")
MLP_ACTIVATIONS = ("tanh", "relu")


class TokenInput:
    """e_t = E[x_t]: ids int (T, N) with values in [0, V) -> (T, N, E); the parameter ``{key}`` (V, E)."""

    def __init__(self, vocab_size: int, size: int, key: str = "embed.W"):
        self.vocab_size, self.size, self.key = int(vocab_size), int(size), key

    def init(self, rng: np.random.Generator, dtype) -> dict:
        return {self.key: common.embedding_init(rng, self.vocab_size, self.size, dtype)}

    def shape(self, ids, name: str = "ids") -> tuple[int, int]:
        return common.check_ids(name, ids, self.vocab_size).shape

    def forward(self, params: dict, ids):
        ids = common.check_ids("ids", ids, self.vocab_size)
        return ops.embedding_forward(ids, params[self.key]), ids

    def backward(self, params: dict, de: np.ndarray, ids) -> dict:
        return {self.key: ops.embedding_backward(np.ascontiguousarray(de), ids, self.vocab_size)}


class VectorInput:
    """Real vectors x (T, N, D) -> e (T, N, E): the identity ("linear", E = D) or one MLP layer ("mlp").

    features D, kind "linear" | "mlp", width E of the MLP (default D), activation f of the MLP,
    prefix of the parameter names (``{prefix}.W``, ``{prefix}.b``).
    """

    def __init__(self, features: int, kind: str = "linear", width: int | None = None, activation: str = "tanh",
                 prefix: str = "input"):
        if kind not in KINDS:
            raise ValueError(f"input layer must be one of {', '.join(KINDS)}, got {kind!r}")
        if activation not in MLP_ACTIVATIONS:
            raise ValueError(f"input activation must be one of {', '.join(MLP_ACTIVATIONS)}, got {activation!r}")
        if not isinstance(features, (int, np.integer)) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        self.features, self.kind, self.activation, self.prefix = int(features), kind, activation, prefix
        self.size = int(width or features) if kind == "mlp" else int(features)

    def config(self) -> dict:
        return {"features": self.features, "kind": self.kind, "width": self.size, "activation": self.activation}

    def init(self, rng: np.random.Generator, dtype) -> dict:
        if self.kind == "linear":
            return {}
        W, b = common.linear_init(rng, self.features, self.size, dtype)       # torch.nn.Linear's default
        return {f"{self.prefix}.W": W, f"{self.prefix}.b": b}

    def shape(self, x, name: str = "x") -> tuple[int, int]:
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != self.features or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{name} must be a float array of shape (T, N, D) with D = {self.features} features, "
                             f"got {x.dtype} {x.shape}")
        return x.shape[:2]

    def forward(self, params: dict, x):
        """x (T, N, D) -> e (T, N, E), cache (x, e)."""
        self.shape(x)
        if self.kind == "linear":
            return x, None
        a = ops.linear_forward(x, params[f"{self.prefix}.W"], params[f"{self.prefix}.b"])     # a = x W_in + b_in
        e = np.tanh(a) if self.activation == "tanh" else ops.relu(a)                          # e = f(a)
        return e, (x, e)

    def backward(self, params: dict, de: np.ndarray, cache) -> dict:
        """de (T, N, E) -> {W_in, b_in} (empty for "linear")."""
        if self.kind == "linear":
            return {}
        x, e = cache
        grad = ops.tanh_grad_from_output(e) if self.activation == "tanh" else ops.relu_grad_from_output(e)
        da = de * grad                                                                        # da = de ⊙ f'(a)
        _, dW, db = ops.linear_backward(da, x, params[f"{self.prefix}.W"], need_dx=False)      # a = x W_in + b_in
        return {f"{self.prefix}.W": dW, f"{self.prefix}.b": db}
