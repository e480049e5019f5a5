"""Aligned many-to-many: one label per input step (the seeds' POS tagging / frame-level classification).

For sequence n with T_n real steps (mask (T, N))::

    e_t = E[x_t]                                   embedding                        (T, N, E)
    y_t = Stack(e_t)                               [→h_t ; ←h_t] (bidirectional: ←h_t has read x_t..x_{T_n})
    z_t = dropout(y_t) W_out + b_out               logits                           (T, N, K)
    L   = Σ_{n, t ≤ T_n} -log softmax(z_t)[tag_t] / Σ_n T_n      mean over real steps only

A unidirectional tagger decides tag t from x_1..x_t; a bidirectional one from the whole sequence.

Parameters: ``embed.W (V, E)``, the stack's keys, ``out.W (dirs·H, K)``, ``out.b (K,)``.
Cache memory: the stack's caches plus (T, N, dirs·H) for the dropped outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.models import common
from unroll.models.inputs import TokenInput
from unroll.nn import ops
from unroll.nn import network as N
from unroll.nn import regularize
from unroll.nn.stack import Stack

# Defaults: the measured bidirectional LSTM of docs/tasks.md's word-segmentation table (H 64, E 32), and
# for `--task tag` dropout 0.2 before the output layer (with the task's cosine schedule): docs/tune.md's "Tag
# defaults" study (#30); a config.json stores its dropout, so an older run keeps its 0.
NETWORK = N.network_section("TaggerNetwork", hidden_size=64, embedding_size=32, bidirectional=True, dropout=0.2)
_D = N.defaults(NETWORK)


class TagBatch(NamedTuple):
    ids: np.ndarray              # int (T, N) token ids, padded with any valid id; or (T, N, D) vectors
    mask: np.ndarray             # (T, N) 1 on real steps
    tags: np.ndarray             # int (T, N) tag ids (any valid id on padding)


class TaggerCache(NamedTuple):
    ids: object                  # the input layer's cache (token ids (T, N))
    stack_cache: object
    hs_dropped: np.ndarray       # (T, N, dirs·H)
    keep: np.ndarray | None      # (T, N, dirs·H) scaled keep-mask or None


class SequenceTagger:
    """Embedding -> Stack (optionally bidirectional) -> linear -> softmax at every step.

    vocab_size V, num_tags K, hidden_size H, embedding_size E (default H), num_layers, cell, bidirectional,
    dropout (between layers and before the output layer), seed, dtype; input_layer: a ``models.inputs``
    layer in place of the embedding (``VectorInput`` for real vectors: vocab_size None); **variant: the
    other network settings (nn/network.py). The defaults are ``--task tag``'s (NETWORK).
    """

    def __init__(self, vocab_size: int, num_tags: int, hidden_size: int = _D["hidden_size"],
                 embedding_size: int | None = _D["embedding_size"], num_layers: int = _D["num_layers"],
                 cell: str = _D["cell"], bidirectional: bool = _D["bidirectional"], dropout: float = _D["dropout"],
                 seed: int = 0, dtype=np.float32, input_layer=None, **variant):
        if not isinstance(num_tags, (int, np.integer)) or num_tags < 2:
            raise ValueError(f"num_tags must be an integer >= 2, got {num_tags!r}")
        net = N.of_keywords(NETWORK, dict(hidden_size=hidden_size, embedding_size=embedding_size, cell=cell,
                            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout), variant,
                            "SequenceTagger")
        N.check_read(net, dropout_elsewhere=True, embedding=input_layer is None)
        self.network = net
        self.input = input_layer or TokenInput(vocab_size, embedding_size or hidden_size)
        E = self.input.size
        self.config = dict(vocab_size=None if input_layer else int(vocab_size), num_tags=int(num_tags),
                           hidden_size=int(hidden_size),
                           embedding_size=E, num_layers=int(num_layers), cell=cell,
                           bidirectional=bool(bidirectional), dropout=float(dropout))
        self.dtype = common.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.stack = Stack.from_config(net, E)
        self.stack_keys = tuple(self.stack.param_shapes())
        self.params = self.input.init(self.rng, self.dtype)
        self.params.update(self.stack.init(self.rng, self.dtype))
        self.params["out.W"], self.params["out.b"] = common.linear_init(
            self.rng, self.stack.dirs * hidden_size, num_tags, self.dtype)
        self.params = N.initialise(net, self.params, self.rng, self.dtype)

    @classmethod
    def from_config(cls, network, vocab_size, num_tags: int, **rest) -> "SequenceTagger":
        """The tagger of a network section (``--task tag``'s ``network``); rest: seed, dtype, input_layer."""
        return cls(vocab_size, num_tags, **N.stack_fields(network), **rest)

    def forward(self, ids, mask=None, training: bool = True):
        """ids int (T, N), mask (T, N) or None -> logits (T, N, K), cache."""
        T, N = self.input.shape(ids)
        m = common.check_mask(mask, T, N, self.dtype)
        emb, ids = self.input.forward(self.params, ids)
        stack_params = {k: self.params[k] for k in self.stack_keys}
        hs, _, stack_cache = self.stack.forward(emb, stack_params, None, m, rng=self.rng, training=training)
        hs_dropped, keep = regularize.dropout(hs, self.config["dropout"], self.rng, training,
                                              self.network.locked_dropout)
        logits = ops.linear_forward(hs_dropped, self.params["out.W"], self.params["out.b"])
        return logits, TaggerCache(ids, stack_cache, hs_dropped, keep)

    def backward(self, d_logits: np.ndarray, cache: TaggerCache) -> dict:
        """d_logits (T, N, K) -> grads with the keys of params."""
        d_hs_dropped, dW, db = ops.linear_backward(d_logits, cache.hs_dropped, self.params["out.W"])
        d_hs = ops.dropout_backward(d_hs_dropped, cache.keep)
        d_emb, _, grads = self.stack.backward(d_hs, cache.stack_cache)
        grads.update(self.input.backward(self.params, d_emb, cache.ids))
        grads["out.W"], grads["out.b"] = dW, db
        return {k: grads[k] for k in self.params}

    def loss_and_grads(self, batch, state=None):
        """batch: TagBatch (ids, mask, tags), each (T, N) -> (mean NLL over real steps, grads, None)."""
        ids, mask, tags = batch
        logits, cache = self.forward(ids, mask, training=True)
        tags = common.check_ids("tags", tags, self.config["num_tags"])
        m = common.check_mask(mask, *tags.shape, self.dtype)
        loss, d_logits = ops.softmax_cross_entropy(logits, tags, m)
        return loss, self.backward(d_logits, cache), None

    def predict_proba(self, ids, mask=None) -> np.ndarray:
        """Tag probabilities (T, N, K), no dropout."""
        logits, _ = self.forward(ids, mask, training=False)
        return ops.softmax(logits.astype(np.float64))
