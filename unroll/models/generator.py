"""One-to-many: a fixed vector v conditions a decoder that writes a sequence (seed 004's vector-to-sequence,
seed 000's image captioning). v is a class label, embedded (``cond.W`` (K, F), v = cond.W[label]), or a row
of F numbers given with the batch. The seeds' three ways to condition, plus seed 002's fourth::

    "h0":    h_0 = v W_h0 + b_h0            affine, no tanh (cs231n captioning); every layer, reshaped
                                            (N, L·H) -> (L, N, H); an LSTM's c_0 stays 0
    "input": x_t = [E[w_{t-1}] ; v]         v is an extra input at every step
    "both":  both of the above
    "first": x_t = [E[w_{t-1}] ; s_t v]     s_1 = 1, s_t = 0 after: v is the first input only

then, with teacher forcing (w_0 = <bos>, the inputs are the targets shifted right)::

    h_t = Stack(x_t, h_{t-1}),   z_t = h_t W_out + b_out,   L = mean over real steps of -log softmax(z_t)[w_t]

Backward: dv collects dh_0 W_h0ᵀ (from the initial state) and Σ_t s_t dx_t[:, E:] (from the inputs); for a
label, dv scatters into the rows of cond.W that were read.

Parameters: ``cond.W (K, F)`` (labels only), ``embed.W (V, E)``, ``h0.W (F, L·H)``, ``h0.b (L·H,)``
("h0", "both"), the stack's keys (input width E + F in "input" | "both" | "first"), ``out.W (H, V)``, ``out.b``.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from unroll.models import common
from unroll.nn import ops
from unroll.nn import network as N
from unroll.nn.stack import Stack

NETWORK = N.network_section("GeneratorNetwork")      # `--task generate`'s network defaults: StackConfig's own
_D = N.defaults(NETWORK)

MODES = ("h0", "input", "both", "first")


class GenerateBatch(NamedTuple):
    cond: np.ndarray             # int (N,) labels, or float (N, F) vectors
    inputs: np.ndarray           # int (T, N): <bos>, w_1, ..., w_{T-1}
    targets: np.ndarray          # int (T, N): w_1, ..., w_T (<eos> last), any valid id on padding
    mask: np.ndarray             # (T, N) 1 on real steps


class GeneratorCache(NamedTuple):
    cond: np.ndarray             # (N,) labels or (N, F) vectors
    inputs: np.ndarray           # (T, N)
    v: np.ndarray                # (N, F) the conditioning vector
    steps: np.ndarray            # (T, 1, 1) s_t, where v enters the input
    stack_cache: object
    hs: np.ndarray               # (T, N, H)


class ConditionalGenerator:
    """A decoder conditioned on a label or a vector; see the module docstring.

    vocab_size V; num_classes K (labels) or cond_size F (vectors), exactly one; cond_embedding F for labels
    (default H); mode: "h0" | "input" | "both" | "first"; hidden_size H, embedding_size E (default H),
    num_layers, cell, dropout (between layers), seed, dtype.
    """

    def __init__(self, vocab_size: int, num_classes: int | None = None, cond_size: int | None = None,
                 mode: str = "both", hidden_size: int = _D["hidden_size"], embedding_size: int | None = _D["embedding_size"],
                 cond_embedding: int | None = None, num_layers: int = _D["num_layers"], cell: str = _D["cell"],
                 dropout: float = _D["dropout"], seed: int = 0, dtype=np.float32, **variant):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if (num_classes is None) == (cond_size is None):
            raise ValueError("give exactly one of num_classes (label conditioning) and cond_size (vector conditioning)")
        net = N.of_keywords(NETWORK, dict(hidden_size=hidden_size, embedding_size=embedding_size, cell=cell,
                            num_layers=num_layers, dropout=dropout), variant, "ConditionalGenerator")
        if net.bidirectional:
            raise ValueError("--bidirectional: a generator writes left to right, and a backward direction would "
                             "read the tokens it must predict")
        N.check_read(net, state_of="the condition's initial state")
        self.network = net
        E, L, H = embedding_size or hidden_size, int(num_layers), int(hidden_size)
        F = int(cond_size) if cond_size is not None else int(cond_embedding or hidden_size)
        self.config = dict(vocab_size=int(vocab_size), num_classes=num_classes, cond_size=cond_size, mode=mode,
                           hidden_size=H, embedding_size=E, cond_embedding=F, num_layers=L, cell=cell,
                           dropout=float(dropout))
        self.dtype = common.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.uses_h0, self.uses_input = mode in ("h0", "both"), mode != "h0"
        self.stack = Stack.from_config(net, E + F * self.uses_input)
        self.stack_keys = tuple(self.stack.param_shapes())
        p = {}
        if num_classes is not None:
            p["cond.W"] = common.embedding_init(self.rng, int(num_classes), F, self.dtype)
        p["embed.W"] = common.embedding_init(self.rng, int(vocab_size), E, self.dtype)
        if self.uses_h0:
            p["h0.W"], p["h0.b"] = common.linear_init(self.rng, F, L * H, self.dtype)
        p.update(self.stack.init(self.rng, self.dtype))
        p["out.W"], p["out.b"] = common.linear_init(self.rng, H, int(vocab_size), self.dtype)
        self.params = N.initialise(net, p, self.rng, self.dtype)

    @classmethod
    def from_config(cls, network, vocab_size: int, **rest) -> "ConditionalGenerator":
        """The generator of a network section (``--task generate``'s ``network``); rest: mode, num_classes ..."""
        return cls(vocab_size, **N.stack_fields(network), **rest)

    # ------------------------------------------------------------------------------------------------

    def forward(self, cond, inputs, mask=None, training: bool = True):
        """cond (N,) | (N, F), inputs int (T, N), mask (T, N) or None -> logits (T, N, V), cache."""
        inputs = common.check_ids("inputs", inputs, self.config["vocab_size"])
        T, N = inputs.shape
        m = common.check_mask(mask, T, N, self.dtype)
        v = self._vector(cond, N)
        steps = np.ones((T, 1, 1), self.dtype)
        if self.config["mode"] == "first":
            steps[1:] = 0.0
        x = self._inputs(inputs, v, steps)
        hs, _, stack_cache = self.stack.forward(x, self._stack_params(), self._state0(v), m, rng=self.rng,
                                                training=training)
        logits = ops.linear_forward(hs, self.params["out.W"], self.params["out.b"])
        return logits, GeneratorCache(cond, inputs, v, steps, stack_cache, hs)

    def backward(self, d_logits: np.ndarray, cache: GeneratorCache) -> dict:
        """d_logits (T, N, V) -> grads with the keys of params."""
        p, E, (L, N, H) = self.params, self.config["embedding_size"], (self.config["num_layers"], *cache.hs.shape[1:])
        d_hs, grads_out_W, grads_out_b = ops.linear_backward(d_logits, cache.hs, p["out.W"])
        dx, dstate0, grads = self.stack.backward(d_hs, cache.stack_cache)            # h = Stack(x, h_0)
        grads["embed.W"] = ops.embedding_backward(dx[..., :E], cache.inputs, self.config["vocab_size"])
        dv = np.zeros_like(cache.v)
        if self.uses_input:                                                           # x_t = [E w ; s_t v]
            dv += (dx[..., E:] * cache.steps).sum(axis=0)
        if self.uses_h0:                                                              # h_0 = v W_h0 + b_h0
            dh0 = dstate0[0] if isinstance(dstate0, tuple) else dstate0               # (L, N, H)
            dh0 = dh0.transpose(1, 0, 2).reshape(N, L * H)
            dv += dh0 @ p["h0.W"].T
            grads["h0.W"], grads["h0.b"] = cache.v.T @ dh0, dh0.sum(axis=0)
        if "cond.W" in p:                                                             # v = cond.W[label]
            grads["cond.W"] = ops.embedding_backward(dv[None], cache.cond[None], p["cond.W"].shape[0])
        grads["out.W"], grads["out.b"] = grads_out_W, grads_out_b
        return {k: grads[k] for k in p}

    def loss_and_grads(self, batch, state=None):
        """batch: GenerateBatch (cond, inputs, targets, mask) -> (mean NLL over real steps, grads, None)."""
        cond, inputs, targets, mask = batch
        logits, cache = self.forward(cond, inputs, mask, training=True)
        targets = common.check_ids("targets", targets, self.config["vocab_size"])
        m = common.check_mask(mask, *targets.shape, self.dtype)
        loss, d_logits = ops.softmax_cross_entropy(logits, targets, m)
        return loss, self.backward(d_logits, cache), None

    # ------------------------------------------------------------------------------------------------
    # Free running, one step at a time.

    def start(self, cond):
        """The decoding state for a batch of conditions: (v (N, F), stack state, step index)."""
        cond = np.asarray(cond)
        N = cond.shape[0]
        v = self._vector(cond, N)
        state = self._state0(v)
        return v, state if state is not None else self.stack.zero_state(N, self.dtype), 0

    def step_logits(self, token_ids, state):
        """token_ids int (N,), state from ``start`` -> logits (N, V), the next state."""
        v, stack_state, t = state
        x = self.params["embed.W"][np.asarray(token_ids)]
        if self.uses_input:
            x = np.concatenate([x, v * (1.0 if (t == 0 or self.config["mode"] != "first") else 0.0)], axis=1)
        out, stack_state = self.stack.step(x.astype(self.dtype), self._stack_params(), stack_state)
        return out @ self.params["out.W"] + self.params["out.b"], (v, stack_state, t + 1)

    def generate(self, cond, bos: int, eos: int, max_len: int, temperature: float = 1.0, top_k: int | None = None,
                 greedy: bool = False, rng: np.random.Generator | None = None) -> Iterator[int]:
        """Yield token ids for ONE condition (cond: a label, or a (F,) vector) until <eos> or max_len."""
        from unroll.decode import check_settings, next_token   # decode imports models; deferred
        check_settings(max_len, temperature, top_k)
        rng = rng if rng is not None else np.random.default_rng()
        state, token = self.start(np.asarray(cond)[None]), bos
        for _ in range(max_len):
            logits, state = self.step_logits(np.array([token]), state)
            token = next_token(logits[0], temperature, top_k, greedy, rng)
            if token == eos:
                return
            yield token

    def beam_generate(self, cond, bos: int, eos: int, max_len: int, beam: int = 5, length_penalty: float = 0.0):
        """The most probable continuation for ONE condition found by beam search (``unroll.decode``'s
        beam_translate, greedy's output a candidate too): a Hypothesis (tokens, log_prob, score, ...)."""
        from unroll.decode import beam_translate
        return beam_translate(_Conditioned(self, cond, bos, eos), [0], beam, max_len, length_penalty)

    # ------------------------------------------------------------------------------------------------

    def _vector(self, cond, N: int) -> np.ndarray:
        """The conditioning vector v (N, F)."""
        if "cond.W" in self.params:
            cond = common.check_ids("cond", cond, self.config["num_classes"], ndim=1)
            v = self.params["cond.W"][cond]
        else:
            v = np.asarray(cond)
            if v.ndim != 2 or v.shape[1] != self.config["cond_size"] or not np.issubdtype(v.dtype, np.floating):
                raise ValueError(f"cond must be a float array of shape (N, F) = (N, {self.config['cond_size']}), "
                                 f"got {v.dtype} {v.shape}")
            v = v.astype(self.dtype, copy=False)
        if v.shape[0] != N:
            raise ValueError(f"cond has {v.shape[0]} rows but the batch has N = {N} sequences")
        return v

    def _inputs(self, inputs: np.ndarray, v: np.ndarray, steps: np.ndarray) -> np.ndarray:
        emb = ops.embedding_forward(inputs, self.params["embed.W"])
        if not self.uses_input:
            return emb
        return np.concatenate([emb, np.broadcast_to(v[None], (*inputs.shape, v.shape[1])) * steps], axis=2)

    def _state0(self, v: np.ndarray):
        if not self.uses_h0:
            return None
        L, H = self.config["num_layers"], self.config["hidden_size"]
        h0 = (v @ self.params["h0.W"] + self.params["h0.b"]).reshape(v.shape[0], L, H).transpose(1, 0, 2)
        h0 = np.ascontiguousarray(h0)
        return (h0, np.zeros_like(h0)) if self.stack.kind.state_parts == 2 else h0

    def _stack_params(self) -> dict:
        return {k: self.params[k] for k in self.stack_keys}


class _Conditioned:
    """A generator with a fixed condition, seen through the decoder interface that ``unroll.decode``'s
    free-running and beam functions use (start, decode_step, select, bos_id, eos_id); the "source" is a
    dummy (T, N) array whose N says how many rows to start."""

    def __init__(self, model: ConditionalGenerator, cond, bos: int, eos: int):
        self.model, self.cond, self.bos_id, self.eos_id = model, np.asarray(cond), bos, eos

    def start(self, src, src_mask=None):
        N = np.asarray(src).shape[1]
        return None, self.model.start(np.repeat(self.cond[None], N, axis=0))

    def decode_step(self, memory, tokens, state):
        logits, state = self.model.step_logits(tokens, state)
        return logits, state, None

    @staticmethod
    def select(memory, state, rows):
        v, stack_state, t = state
        pick = tuple(a[:, rows] for a in stack_state) if isinstance(stack_state, tuple) else stack_state[:, rows]
        return memory, (v[rows], pick, t)
