"""Many-to-one: read a whole sequence, emit one label (the seeds' sentiment classification).

For sequence n with T_n real steps (mask (T, N) marks them)::

    e_t = dropout_e(E[x_t])                              embedding (dropout: training)  (T, N, E)
    y_t = Stack(e_t)                                     [→h_t ; ←h_t], zero on pad (T, N, dirs·H)
    r   = readout(y)                                                                (N, dirs·H)
          "last": [→h_{T_n} ; ←h_1]   each direction's own final state (the reverse one ends at step 1)
          "mean": Σ_{t ≤ T_n} y_t / T_n
          "max" : max_{t ≤ T_n} y_t   elementwise
    z   = dropout(r) W_out + b_out                       logits                     (N, C)
    L   = mean_n -log softmax(z_n)[label_n]

With ``adversarial`` ε > 0 (``--adversarial``, training only) the loss is J = L(e) + L(e + r), r = ε g_n/‖g_n‖
per sequence from g = ∂L/∂e, held constant (unroll/nn/adversarial.py): two passes a step.

Backward of the readouts: "last" puts dr into the two rows it read, "mean" spreads dr / T_n over the real
steps, "max" routes each element of dr to the step that won it. Then the stack backpropagates through time.

Parameters: ``embed.W (V, E)``, the stack's ``layer{l}.{cell}[_reverse].*``, ``out.W (dirs·H, C)``,
``out.b (C,)``. Cache memory: the stack's caches plus (T, N, dirs·H) for the readout.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.models import common
from unroll.models.inputs import TokenInput
from unroll.nn import network as N
from unroll.nn import adversarial as adv
from unroll.nn import ops, regularize
from unroll.nn.stack import Stack

READOUTS = ("last", "mean", "max")
# The defaults are the measured settings of docs/tasks.md's sentence-polarity table (benchmarks/sentiment.py:
# bidirectional GRU 100, embedding 128, max readout, dropout 0.5 / 0.3); `--task classify` uses the same.
NETWORK = N.network_section("ClassifierNetwork", hidden_size=100, embedding_size=128, cell="gru",
                            bidirectional=True, dropout=0.5)
_D = N.defaults(NETWORK)
DEFAULTS = {"readout": "max", "embedding_dropout": 0.3}     # the model's own settings (ClassifyConfig's defaults)


class ClassifyBatch(NamedTuple):
    ids: np.ndarray              # int (T, N) token ids, padded with any valid id; or (T, N, D) vectors
    mask: np.ndarray             # (T, N) 1 on real steps
    labels: np.ndarray           # int (N,) class of each sequence


class ClassifierCache(NamedTuple):
    ids: object                  # the input layer's cache (token ids (T, N))
    mask: np.ndarray             # (T, N) float
    emb_keep: np.ndarray | None  # (T, N, E) scaled embedding dropout keep-mask, or None
    stack_cache: object
    hs: np.ndarray               # (T, N, dirs·H) stack outputs
    pick: np.ndarray | None      # "max": (N, dirs·H) winning step per element
    r_dropped: np.ndarray        # (N, dirs·H) readout after dropout
    keep: np.ndarray | None      # (N, dirs·H) scaled dropout keep-mask, or None


class SequenceClassifier:
    """Embedding -> Stack (optionally bidirectional) -> readout -> linear -> softmax.

    vocab_size V, num_classes C, hidden_size H, embedding_size E (default H), num_layers, cell (any
    registered cell), bidirectional, readout ("last" | "mean" | "max"), dropout (between layers and
    before the output layer), seed (initialisation and dropout), dtype (float32 to train, float64 to check),
    embedding_dropout (on the embedded tokens), weight_drop (DropConnect on W_h), locked_dropout (the embedding
    and between-layer dropouts keep one mask per sequence for every step; unroll/nn/regularize.py);
    adversarial: ε of adversarial training on the embedded inputs (0: none; unroll/nn/adversarial.py);
    input_layer: a ``models.inputs`` layer in place of the embedding (``VectorInput`` for real vectors: then
    vocab_size is None and embedding_size unused); **variant: the other network settings (nn/network.py:
    alpha, skip_every, depth, init, forget_bias, embedding_init_scale ...). The defaults are ``--task classify``'s
    (NETWORK).
    """

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = _D["hidden_size"],
                 embedding_size: int | None = _D["embedding_size"], num_layers: int = _D["num_layers"],
                 cell: str = _D["cell"], bidirectional: bool = _D["bidirectional"], readout: str = DEFAULTS["readout"],
                 dropout: float = _D["dropout"], seed: int = 0, dtype=np.float32,
                 embedding_dropout: float = DEFAULTS["embedding_dropout"], weight_drop: float = _D["weight_drop"],
                 locked_dropout: bool = _D["locked_dropout"], input_layer=None, adversarial: float = 0.0,
                 **variant):
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        net = N.of_keywords(NETWORK, dict(hidden_size=hidden_size, embedding_size=embedding_size, cell=cell,
                            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                            weight_drop=weight_drop, locked_dropout=locked_dropout), variant, "SequenceClassifier")
        N.check_read(net, dropout_elsewhere=True, embedding=input_layer is None, other_dropout=embedding_dropout)
        self.network = net
        self.input = input_layer or TokenInput(vocab_size, embedding_size or hidden_size)
        E = self.input.size
        self.config = dict(vocab_size=None if input_layer else int(vocab_size), num_classes=int(num_classes),
                           hidden_size=int(hidden_size),
                           embedding_size=E, num_layers=int(num_layers), cell=cell,
                           bidirectional=bool(bidirectional), readout=readout, dropout=float(dropout),
                           embedding_dropout=float(embedding_dropout), weight_drop=float(weight_drop),
                           locked_dropout=bool(locked_dropout), adversarial=adv.check_epsilon(adversarial))
        self.dtype = common.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.stack = Stack.from_config(net, E)
        self.stack_keys = tuple(self.stack.param_shapes())
        width = self.stack.dirs * hidden_size
        self.params = self.input.init(self.rng, self.dtype)
        self.params.update(self.stack.init(self.rng, self.dtype))
        self.params["out.W"], self.params["out.b"] = common.linear_init(self.rng, width, num_classes, self.dtype)
        self.params = N.initialise(net, self.params, self.rng, self.dtype)

    @classmethod
    def from_config(cls, network, vocab_size, num_classes: int, **rest) -> "SequenceClassifier":
        """The classifier of a network section (``--task classify``'s ``network``); rest: readout, seed ..."""
        return cls(vocab_size, num_classes, **N.stack_fields(network), **rest)

    # ------------------------------------------------------------------------------------------------

    def forward(self, ids, mask=None, training: bool = True, perturb=None):
        """ids int (T, N) (or vectors (T, N, D)), mask (T, N) or None -> logits (N, C), cache.

        perturb: r (T, N, E) added to the embedded inputs after their dropout (adversarial training), or None."""
        T, N = self.input.shape(ids)
        m = common.check_mask(mask, T, N, self.dtype)
        emb, ids = self.input.forward(self.params, ids)
        emb, emb_keep = regularize.dropout(emb, self.config["embedding_dropout"], self.rng, training,
                                           self.config["locked_dropout"])
        if perturb is not None:
            emb = emb + perturb                                              # e + r
        hs, _, stack_cache = self.stack.forward(emb, self._stack_params(), None, m, rng=self.rng, training=training)
        r, pick = self._readout(hs, m)
        r_dropped, keep = ops.dropout_forward(r, self.config["dropout"], self.rng, training)
        logits = ops.linear_forward(r_dropped, self.params["out.W"], self.params["out.b"])
        return logits, ClassifierCache(ids, m, emb_keep, stack_cache, hs, pick, r_dropped, keep)

    def backward(self, d_logits: np.ndarray, cache: ClassifierCache, inputs: bool = False):
        """d_logits (N, C) -> grads with the keys of params; inputs: (grads, ∂L/∂e (T, N, E)), e the embedded
        inputs after dropout (where ``forward``'s perturb is added)."""
        d_r_dropped, dW, db = ops.linear_backward(d_logits, cache.r_dropped, self.params["out.W"])
        d_r = ops.dropout_backward(d_r_dropped, cache.keep)                  # r_dropped = dropout(r)
        d_hs = self._readout_backward(d_r, cache)                            # r = readout(y)
        d_e, _, grads = self.stack.backward(d_hs, cache.stack_cache)         # y = Stack(e)
        d_emb = ops.dropout_backward(d_e, cache.emb_keep)                    # e = dropout_e(E[x])
        grads.update(self.input.backward(self.params, d_emb, cache.ids))
        grads["out.W"], grads["out.b"] = dW, db
        grads = {k: grads[k] for k in self.params}
        return (grads, d_e) if inputs else grads

    def loss_and_grads(self, batch, state=None, perturb=None):
        """batch: ClassifyBatch (ids (T, N), mask (T, N), labels (N,)) -> (mean NLL, grads, None); with
        adversarial ε > 0: (J = L(e) + L(e + r), ∂J/∂θ, None), r from this batch's ∂L/∂e and held constant.
        perturb: r to use for the second pass instead (centred-difference checks hold it fixed)."""
        ids, mask, labels = batch
        labels = common.check_ids("labels", labels, self.config["num_classes"], ndim=1)
        epsilon = self.config["adversarial"]
        loss, grads, d_e, m = self._pass(ids, mask, labels, None)
        if epsilon == 0.0 and perturb is None:
            return loss, grads, None
        r = adv.direction(d_e, m, epsilon) if perturb is None else perturb
        adv_loss, adv_grads, _, _ = self._pass(ids, mask, labels, r)        # L(e + r), r constant
        return loss + adv_loss, {k: g + adv_grads[k] for k, g in grads.items()}, None

    def _pass(self, ids, mask, labels, perturb):
        """One forward and backward pass of the mean NLL -> (loss, grads, ∂L/∂e (T, N, E), mask (T, N))."""
        logits, cache = self.forward(ids, mask, training=True, perturb=perturb)
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(f"labels must have shape (N,) = ({logits.shape[0]},), got {labels.shape}")
        loss, d_logits = ops.softmax_cross_entropy(logits[None], labels[None])
        grads, d_e = self.backward(d_logits[0], cache, inputs=True)
        return loss, grads, d_e, cache.mask

    def predict_proba(self, ids, mask=None) -> np.ndarray:
        """Class probabilities (N, C), no dropout."""
        logits, _ = self.forward(ids, mask, training=False)
        return ops.softmax(logits.astype(np.float64))

    # ------------------------------------------------------------------------------------------------

    def _readout(self, hs: np.ndarray, m: np.ndarray):
        """hs (T, N, dirs·H), m (T, N) -> r (N, dirs·H), pick (N, dirs·H) for max or None."""
        kind, H = self.config["readout"], self.config["hidden_size"]
        if kind == "mean":
            return (hs * m[:, :, None]).sum(axis=0) / m.sum(axis=0)[:, None], None
        if kind == "max":
            masked = np.where(m[:, :, None] > 0, hs, -np.inf)
            pick = masked.argmax(axis=0)                                     # (N, dirs·H)
            return np.take_along_axis(hs, pick[None], axis=0)[0], pick
        last, cols = common.lengths(m) - 1, np.arange(hs.shape[1])
        r = hs[last, cols].copy()                                            # →h at T_n
        if self.stack.dirs == 2:
            r[:, H:] = hs[0, :, H:]                                          # ←h after reading step 1
        return r, None

    def _readout_backward(self, d_r: np.ndarray, cache: ClassifierCache) -> np.ndarray:
        kind, H, hs, m = self.config["readout"], self.config["hidden_size"], cache.hs, cache.mask
        if kind == "mean":
            return d_r[None] * (m / m.sum(axis=0))[:, :, None]
        d_hs = np.zeros_like(hs)
        if kind == "max":
            np.put_along_axis(d_hs, cache.pick[None], d_r[None], axis=0)
            return d_hs
        last, cols = common.lengths(m) - 1, np.arange(hs.shape[1])
        d_hs[last, cols, :H] = d_r[:, :H]
        if self.stack.dirs == 2:
            d_hs[0, :, H:] += d_r[:, H:]
        return d_hs

    def _stack_params(self) -> dict:
        return {k: self.params[k] for k in self.stack_keys}
