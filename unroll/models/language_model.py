"""Many-to-many language model: predict the next token at every step (the seeds' char-level example).

    e_t   = E[x_t]                                  embedding          (T, N, E)
    h_t   = Stack(e_t, h_{t-1})                     recurrent layers   (T, N, H)
    ŷ_t   = dropout(h_t) W_out + b_out              logits             (T, N, V)
    L     = mean over real tokens of -log softmax(ŷ_t)[y_t]

Parameters live in one flat dict: ``embed.W (V, E)``, the stack's ``layer{l}.{cell}.{W_x, W_h, b, ...}``,
``out.W (H, V)``, ``out.b (V,)``. ``loss_and_grads`` returns gradients with exactly these keys and the
final recurrent state, which truncated BPTT carries into the next batch.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Iterator, NamedTuple

import numpy as np

from unroll import decode
from unroll.config import ModelConfig
from unroll.nn import ops
from unroll.nn.stack import Stack


class LMCache(NamedTuple):
    ids: np.ndarray              # (T, N) input token ids
    stack_cache: object          # the Stack's cache
    hs_dropped: np.ndarray       # (T, N, H) last layer's outputs after dropout
    keep: np.ndarray | None      # (T, N, H) scaled dropout keep-mask, or None


class LanguageModel:
    """Embedding -> RNN/LSTM/GRU stack -> linear -> softmax, trained by (truncated) BPTT.

    Parameters
    ----------
    vocab_size : V
    hidden_size : H, units per layer
    num_layers : recurrent layers
    cell : "rnn" | "lstm" | "gru"
    dropout : inverted-dropout probability between layers and before the output layer
    seed : seeds the generator used for initialisation and dropout (a run's only randomness)
    dtype : float32 for training, float64 for gradient checks
    embedding_size : E (default H)
    activation : "tanh" | "relu" for cell="rnn"
    init_scale : None for PyTorch's initialisation (embedding N(0, 1), cells and output uniform(±1/sqrt(H)),
        LSTM forget bias 1), or s to draw every parameter from uniform(-s, s) as Zaremba et al. (2014) do
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 2, cell: str = "lstm",
                 dropout: float = 0.0, seed: int = 0, dtype=np.float32, embedding_size: int | None = None,
                 activation: str = "tanh", init_scale: float | None = None):
        self.config = ModelConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                                  embedding_size=embedding_size, dropout=dropout, activation=activation,
                                  init_scale=init_scale)
        if vocab_size is None:
            raise ValueError("vocab_size must be a positive integer, got None")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.rng = np.random.default_rng(seed)
        E = embedding_size or hidden_size
        self.stack = Stack(cell, E, hidden_size, num_layers, dropout=dropout, activation=activation)
        self.params = self._init_params(E)
        self.stack_keys = tuple(self.stack.param_shapes())

    @classmethod
    def from_config(cls, config: ModelConfig, seed: int = 0, dtype=np.float32) -> "LanguageModel":
        return cls(**{f.name: getattr(config, f.name) for f in fields(config)}, seed=seed, dtype=dtype)

    def _init_params(self, E: int) -> dict:
        V, H = self.config.vocab_size, self.config.hidden_size
        bound = 1.0 / np.sqrt(H)
        params = {"embed.W": self.rng.standard_normal((V, E)).astype(self.dtype)}   # like torch.nn.Embedding
        params.update(self.stack.init(self.rng, self.dtype))
        params["out.W"] = self.rng.uniform(-bound, bound, (H, V)).astype(self.dtype)  # like torch.nn.Linear
        params["out.b"] = self.rng.uniform(-bound, bound, V).astype(self.dtype)
        if self.config.init_scale is not None:
            s = self.config.init_scale
            params = {k: self.rng.uniform(-s, s, v.shape).astype(self.dtype) for k, v in params.items()}
        return params

    # ------------------------------------------------------------------------------------------------
    # Forward and backward.

    def forward(self, ids: np.ndarray, state=None, training: bool = True):
        """ids: int (T, N) -> logits (T, N, V), final state, cache."""
        ids = self._check_ids("x", ids)
        emb = ops.embedding_forward(ids, self.params["embed.W"])
        hs, state, stack_cache = self.stack.forward(emb, self._stack_params(), state, rng=self.rng, training=training)
        hs_dropped, keep = ops.dropout_forward(hs, self.config.dropout, self.rng, training)
        logits = ops.linear_forward(hs_dropped, self.params["out.W"], self.params["out.b"])
        return logits, state, LMCache(ids, stack_cache, hs_dropped, keep)

    def backward(self, d_logits: np.ndarray, cache: LMCache, dstate=None):
        """d_logits (T, N, V) -> grads (keys of params), d initial state."""
        d_hs_dropped, dW_out, db_out = ops.linear_backward(d_logits, cache.hs_dropped, self.params["out.W"])
        d_hs = ops.dropout_backward(d_hs_dropped, cache.keep)
        d_emb, dstate0, grads = self.stack.backward(d_hs, cache.stack_cache, dstate)
        grads["embed.W"] = ops.embedding_backward(d_emb, cache.ids, self.config.vocab_size)
        grads["out.W"], grads["out.b"] = dW_out, db_out
        return grads, dstate0

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, state=None, mask=None):
        """Mean cross-entropy over the real tokens, its gradients, and the final state.

        x, y: int (T, N); state: the stack's state or None (zeros); mask: (T, N) loss weights or None
        returns loss (float, nats/token), grads (dict with the keys of params), state
        """
        logits, state, cache = self.forward(x, state, training=True)
        loss, d_logits = ops.softmax_cross_entropy(logits, self._check_ids("y", y), mask)
        grads, _ = self.backward(d_logits, cache)
        return loss, grads, state

    def evaluate(self, x: np.ndarray, y: np.ndarray, state=None, mask=None):
        """Summed negative log-likelihood and token count (no dropout), and the final state."""
        logits, state, _ = self.forward(x, state, training=False)
        logp = ops.log_softmax(logits)
        rows_t, rows_n = np.indices(y.shape)
        nll = -logp[rows_t, rows_n, self._check_ids("y", y)]
        weights = np.ones(y.shape) if mask is None else np.asarray(mask, dtype=float)
        return float((nll * weights).sum()), float(weights.sum()), state

    # ------------------------------------------------------------------------------------------------
    # Generation.

    def step_logits(self, token_ids: np.ndarray, state):
        """One step for decoding: token_ids int (N,) -> logits (N, V), new state."""
        emb = self.params["embed.W"][token_ids]
        out, state = self.stack.step(emb, self._stack_params(), state)
        return out @ self.params["out.W"] + self.params["out.b"], state

    def generate(self, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
                 greedy: bool = False, seed: int | None = None) -> Iterator[int]:
        """Yield ``length`` token ids continuing ``prime_ids`` one at a time (for streaming output)."""
        return decode.generate(self, prime_ids, length, temperature, top_k, greedy, np.random.default_rng(seed))

    def sample(self, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
               greedy: bool = False, seed: int | None = None) -> np.ndarray:
        """Like ``generate`` but returns all ``length`` ids at once as an int array."""
        return np.fromiter(self.generate(prime_ids, length, temperature, top_k, greedy, seed), dtype=np.int64)

    # ------------------------------------------------------------------------------------------------

    def zero_state(self, N: int):
        return self.stack.zero_state(N, self.dtype)

    def _stack_params(self) -> dict:
        return {k: self.params[k] for k in self.stack_keys}

    def _check_ids(self, name: str, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array of shape (T, N), got {ids.dtype} {ids.shape}")
        V = self.config.vocab_size
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"{name} must hold token ids in [0, V) = [0, {V}), got [{ids.min()}, {ids.max()}]")
        return ids
