"""Many-to-many language model: predict the next token at every step (the seeds' char-level example).

    e_t   = E[x_t]                                  embedding          (T, N, E)
    h_t   = Stack(e_t, h_{t-1})                     recurrent layers   (T, N, H)
    ŷ_t   = dropout(h_t) W_out + b_out              logits             (T, N, V)
            (--locked-dropout: every dropout keeps one mask per sequence for all steps; --weight-drop p:
             DropConnect on each layer's W_h; unroll/nn/regularize.py)
    L     = mean over real tokens of -log softmax(ŷ_t)[y_t]

Parameters live in one flat dict: ``embed.W (V, E)``, the stack's ``layer{l}.{cell}.{W_x, W_h, b, ...}``,
``out.W (H, V)``, ``out.b (V,)``. ``loss_and_grads`` returns gradients with exactly these keys and the
final recurrent state, which truncated BPTT carries into the next batch.

Embedding fold. Layer 0 of an rnn/lstm/gru stack starts with the input projection ``e_t W_x + b`` of every
token, a (T·N × E) @ (E × G) product (G = H, 3H or 4H). As e_t = E[x_t] is a row of the table, this is
row x_t of the small table ``P = E W_x + b`` (V × G)::

    forward     P = E W_x + b;   xw_t = P[x_t]                            (a gather instead of a product)
    backward    δP = Σ_t scatter-add of δ^{xw_t} into row x_t             (V × G)
                ∂L/∂E = δP W_xᵀ,   ∂L/∂W_x = Eᵀ δP,   ∂L/∂b = Σ_rows δP

This is exact (the same sums in another order) and pays when V < T·N, i.e. when the table is smaller than
the batch's projection (65 characters against 2,500 tokens per batch in the char-rnn setting); larger
vocabularies take the general path. ``model.fold`` = "auto" (that rule) | True | False.
"""

from __future__ import annotations

from dataclasses import fields
from typing import NamedTuple

import numpy as np

from unroll import decode
from unroll.nn import ops, regularize
from unroll.nn.kernels import data_parallel, split
from unroll.nn.cells import takes_row_gather     # cells whose forward takes a precomputed input projection xw
from unroll.nn import network as N
from unroll.nn.network import ModelConfig, initialise
from unroll.nn.stack import Stack




_D = {f.name: f.default for f in fields(ModelConfig)}


class LMCache(NamedTuple):
    ids: np.ndarray              # (T, N) input token ids
    stack_cache: object          # the Stack's cache
    hs_dropped: np.ndarray       # (T, N, H) last layer's outputs after dropout
    keep: np.ndarray | None      # (T, N, H) scaled dropout keep-mask, or None
    folded: bool = False         # True when the embedding was folded into layer 0 (see the module docstring)


class LanguageModel(decode.Continues):
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
    **variant : the cell variants and initialisers of ModelConfig (``VARIANT_FIELDS``): alpha, alpha_range (leaky),
        skip_every and skip_only (skip), depth and shortcut (deep_transition, deep_output),
        init (``unroll.nn.init.by_name``), forget_bias (lstm); bidirectional is refused with the reason
    """

    def __init__(self, vocab_size: int, hidden_size: int = _D["hidden_size"], num_layers: int = _D["num_layers"],
                 cell: str = _D["cell"], dropout: float = _D["dropout"], seed: int = 0, dtype=np.float32,
                 embedding_size: int | None = _D["embedding_size"], activation: str = _D["activation"],
                 init_scale: float | None = _D["init_scale"], **variant):
        self.config = ModelConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                                  embedding_size=embedding_size, dropout=dropout, activation=activation,
                                  init_scale=init_scale, **_variant_fields(variant))
        if vocab_size is None:
            raise ValueError("vocab_size must be a positive integer, got None")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.rng = np.random.default_rng(seed)
        E = embedding_size or hidden_size
        N.check_read(self.config, dropout_elsewhere=True, padded=False)   # e.g. --locked-dropout without dropout
        self.stack = Stack.from_config(self.config, E)
        self.params = self._init_params(E)
        self.stack_keys = tuple(self.stack.param_shapes())
        self.fold = "auto"     # embedding fold: "auto" (when V < T·N) | True | False; see the module docstring

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
        return initialise(self.config, params, self.rng, self.dtype)   # --init, --forget-bias, --init-scale

    # ------------------------------------------------------------------------------------------------
    # Forward and backward.

    def forward(self, ids: np.ndarray, state=None, training: bool = True, rng: np.random.Generator | None = None):
        """ids: int (T, N) -> logits (T, N, V), final state, cache. rng draws the dropout masks (default: the
        model's own; a split step's part has its own, kernels/data_parallel.py)."""
        ids = self._check_ids("x", ids)
        rng = self.rng if rng is None else rng
        folded = self._folds(ids.size)
        if folded:                                   # xw_t = (E W_x + b)[x_t], layer 0's input projection
            W_x, b = self.params[self._layer0("W_x")], self.params[self._layer0("b")]
            xw0 = ops.RowGather(self.params["embed.W"] @ W_x + b, ids)   # gathered inside the loop where it can
            hs, state, stack_cache = self.stack.forward(None, self._stack_params(), state, rng=rng,
                                                        training=training, xw0=xw0)
        else:
            emb = ops.embedding_forward(ids, self.params["embed.W"])
            hs, state, stack_cache = self.stack.forward(emb, self._stack_params(), state, rng=rng,
                                                        training=training)
        hs_dropped, keep = regularize.dropout(hs, self.config.dropout, rng, training, self.config.locked_dropout)
        logits = ops.linear_forward(hs_dropped, self.params["out.W"], self.params["out.b"])
        return logits, state, LMCache(ids, stack_cache, hs_dropped, keep, folded)

    def backward(self, d_logits: np.ndarray, cache: LMCache, dstate=None):
        """d_logits (T, N, V) -> grads (keys of params), d initial state."""
        d_hs_dropped, dW_out, db_out = ops.linear_backward(d_logits, cache.hs_dropped, self.params["out.W"])
        d_hs = ops.dropout_backward(d_hs_dropped, cache.keep)
        d_emb, dstate0, grads = self.stack.backward(d_hs, cache.stack_cache, dstate)
        if cache.folded:                             # d_emb is δP (V, G), the scatter of δ^{xw}: two small products
            d_table = d_emb
            W_x = self.params[self._layer0("W_x")]
            grads[self._layer0("W_x")] = self.params["embed.W"].T @ d_table
            grads[self._layer0("b")] = d_table.sum(axis=0)
            grads["embed.W"] = d_table @ W_x.T
        else:
            grads["embed.W"] = ops.embedding_backward(d_emb, cache.ids, self.config.vocab_size)
        grads["out.W"], grads["out.b"] = dW_out, db_out
        return grads, dstate0

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, state=None, mask=None):
        """Mean cross-entropy over the real tokens, its gradients, and the final state.

        x, y: int (T, N); state: the stack's state or None (zeros); mask: (T, N) loss weights or None
        returns loss (float, nats/token), grads (dict with the keys of params), state
        """
        parts = self.step_parts(np.shape(x)[1] if np.ndim(x) == 2 else 0)
        if parts:                                    # "data": each thread its rows, the whole step (lever 17)
            return data_parallel.run(self._loss_and_grads, parts, np.asarray(x), np.asarray(y), state,
                                     None if mask is None else np.asarray(mask), rng=self.draws_rng())
        return self._loss_and_grads(x, y, state, mask)

    def _loss_and_grads(self, x, y, state, mask, rng=None):
        logits, state, cache = self.forward(x, state, training=True, rng=rng)
        loss, d_logits = ops.softmax_cross_entropy(logits, self._check_ids("y", y), mask, inplace=True)
        grads, _ = self.backward(d_logits, cache)
        return loss, grads, state

    def step_parts(self, N: int) -> list[tuple[int, int]] | None:
        """Row ranges when a training step of N rows splits across threads (strategy "data",
        kernels/data_parallel.py), else None. Weight drop runs whole: its one mask per batch would be one
        per part. A model that draws masks (``draws_rng``) splits only where "data" is forced: its parts draw
        other numbers than the whole batch would, and auto's choice, made by a timing, must not change what a
        run computes beyond rounding (a fresh machine may calibrate differently)."""
        if self.stack.weight_drop or (self.draws_rng() is not None and split.strategy() != "data"):
            return None
        return split.step_parts(self.stack.cell, self.stack.hidden_size, N)

    def draws_rng(self) -> np.random.Generator | None:
        """The model's generator when a training step draws from it (dropout, recurrent dropout, zoneout):
        a split step seeds each part's generator from it (data_parallel.run); None when nothing is drawn."""
        s = self.stack
        return self.rng if self.config.dropout or s.dropout or s.recurrent_dropout or s.zoneout else None

    def evaluate(self, x: np.ndarray, y: np.ndarray, state=None, mask=None):
        """Summed negative log-likelihood and token count (no dropout), and the final state."""
        logits, state, _ = self.forward(x, state, training=False)
        return (*summed_nll(ops.log_softmax(logits), self._check_ids("y", y), mask), state)

    # ------------------------------------------------------------------------------------------------
    # Generation.

    def step_logits(self, token_ids: np.ndarray, state):
        """One step for decoding: token_ids int (N,) -> logits (N, V), new state."""
        emb = self.params["embed.W"][token_ids]
        out, state = self.stack.step(emb, self._stack_params(), state)
        return out @ self.params["out.W"] + self.params["out.b"], state

    def stepper(self):
        """``step_logits`` for one decoding run (decode.generate, beam_search): layer 0's input projection
        folded into a table (E W_x + b, (V, G·H)) made once here, so each step gathers a row of it instead
        of the product x_t W_x (forward's fold, lever 2; for a 2x512 LSTM one of the four (1, 512)·(512, 2048)
        products a character). The table holds the parameters of now: a stepper is for one run, while the
        parameters do not change. Cells without the fold (and bidirectional stacks): ``step_logits``."""
        if not takes_row_gather(self.stack.cell) or self.stack.bidirectional:
            return self.step_logits
        table = self.params["embed.W"] @ self.params[self._layer0("W_x")] + self.params[self._layer0("b")]
        W_out, b_out, stack_params = self.params["out.W"], self.params["out.b"], self._stack_params()

        def step(token_ids: np.ndarray, state):
            out, state = self.stack.step(None, stack_params, state, xw0=table[token_ids])
            return out @ W_out + b_out, state
        return step

    # ------------------------------------------------------------------------------------------------

    def zero_state(self, N: int):
        return self.stack.zero_state(N, self.dtype)

    def _folds(self, tokens: int) -> bool:
        """Whether forward folds the embedding into layer 0 for a batch of ``tokens`` ids."""
        if self.fold != "auto":
            return bool(self.fold) and takes_row_gather(self.stack.cell) and not self.stack.bidirectional
        return takes_row_gather(self.stack.cell) and not self.stack.bidirectional and self.config.vocab_size < tokens

    def _layer0(self, name: str) -> str:
        return f"{self.stack.prefix(0, 0)}.{name}"

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


def summed_nll(logp: np.ndarray, y: np.ndarray, mask=None) -> tuple[float, float]:
    """(Σ -log p(y) over the real tokens, their count): logp (T, N, V), y ids (T, N), mask (T, N) or None."""
    rows_t, rows_n = np.indices(y.shape)
    weights = np.ones(y.shape) if mask is None else np.asarray(mask, dtype=float)
    return float((-logp[rows_t, rows_n, y] * weights).sum()), float(weights.sum())


NAMED_FIELDS = ("vocab_size", "hidden_size", "num_layers", "cell", "dropout", "embedding_size", "activation", "init_scale")
VARIANT_FIELDS = tuple(f.name for f in fields(ModelConfig) if f.name not in NAMED_FIELDS)   # the rest of the section


def _variant_fields(variant: dict) -> dict:
    """ModelConfig's cell-variant settings passed to LanguageModel as keywords; anything else is named."""
    unknown = sorted(set(variant) - set(VARIANT_FIELDS))
    if unknown:
        raise ValueError(f"LanguageModel takes no option {', '.join(unknown)} (cell variants: {', '.join(VARIANT_FIELDS)})")
    return variant
