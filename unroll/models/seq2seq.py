"""Encoder-decoder (sequence to sequence): read x into a context C, write y conditioned on C.

The seeds' Figure 10.12, with the conditioning modes of their vector-to-sequence slide and, as an
option, additive attention. For a source x (T_n real steps) and a target y (U_n tokens, then EOS)::

    m_t, S   = Encoder(E_src[x_t])                     Stack, masked; m (T, N, dirs·H), S its final state
    S0       = S                                        unidirectional: the final state as it is
    S0[l]    = tanh([→h_l ; ←h_l] W_b + b_b)            bidirectional (Bahdanau et al.): per layer l, both
               ([→c_l ; ←c_l] W_bc + b_bc for lstm c)   directions joined and projected to H
    C        = h of S0's top layer                                                        (N, H)
    d_u      = [E_tgt[y_{u-1}] ; C]  (C only in modes "input" / "both"; y_0 = BOS)       (U, N, E [+H])
    s_u      = Decoder(d_u), initial state S0 in modes "init" / "both", zeros in "input"  (U, N, H)
    a_u      = Attention(s_u, m, source mask)           only with attention=True         (U, N, dirs·H)
    ŷ_u      = [s_u ; a_u] W_out + b_out                logits                           (U, N, V_tgt)
    L        = mean over real target tokens (EOS included) of -log softmax(ŷ_u)[y_u]

Teacher forcing feeds the true y_{u-1}. Scheduled sampling (Bengio et al., 2015): with probability
``sampling_prob`` each d_u instead reads a token drawn from the model's own prediction at u-1 (drawn in
a free-running pass first; the drawn tokens are constants, so the gradient is the teacher-forced one of
the mixed inputs). The attention is scored with Bahdanau's additive network on the decoder's current
output (the placement of Luong et al., 2015), so the decoder runs as one Stack call.

Parameters (one flat dict): ``src_embed.W (V_src, E)``, ``tgt_embed.W (V_tgt, E)``, ``encoder.<stack
keys>``, ``decoder.<stack keys>``, ``bridge.W (2H, H)``, ``bridge.b (H,)`` [+ ``bridge.W_c``, ``bridge.b_c``]
when bidirectional, ``attn.{W_q, W_k, b, v}`` with attention, ``out.W (H [+ dirs·H], V_tgt)``, ``out.b``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.models.inputs import TokenInput
from unroll.nn import attention, ops
from unroll.nn import network as N
from unroll.nn.stack import Stack

NETWORK = N.network_section("Seq2SeqNetwork")        # `--task seq2seq`'s network defaults: StackConfig's own
_D = N.defaults(NETWORK)

MODES = ("init", "input", "both")


class Memory(NamedTuple):
    """What the decoder reads about a batch of sources (rows can be selected for beam search)."""
    hs: np.ndarray               # (T, N, dirs·H) encoder outputs m
    mask: np.ndarray             # (T, N) source mask
    keys: np.ndarray | None      # (T, N, A) attention keys m W_k, or None without attention
    context: np.ndarray          # (N, H) C


class Seq2Seq:
    """Encoder Stack -> context C -> decoder Stack (-> additive attention) -> linear -> softmax.

    src_vocab_size, tgt_vocab_size : V_src, V_tgt (the target vocabulary holds BOS and EOS)
    hidden_size : H per direction of the encoder, and of the decoder; num_layers : L of each
    cell : "rnn" | "lstm" | "gru"; bidirectional : encoder reads both ways (adds the bridge)
    conditioning : "init" | "input" | "both"; attention : add additive attention
    bos_id, eos_id : target ids that start and end a target; dropout : between stacked layers
    source_input : a ``models.inputs`` layer in place of the source embedding (``VectorInput``: the
    source is real vectors (T, N, D), src_vocab_size None; issue 22's video-captioning wiring)
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, hidden_size: int = _D["hidden_size"],
                 num_layers: int = _D["num_layers"], cell: str = _D["cell"], bidirectional: bool = _D["bidirectional"],
                 conditioning: str = "init", attention: bool = False, embedding_size: int | None = _D["embedding_size"],
                 attention_size: int | None = None, bos_id: int = 1, eos_id: int = 2, dropout: float = _D["dropout"],
                 seed: int = 0, dtype=np.float32, source_input=None, **variant):
        net = N.of_keywords(NETWORK, dict(hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                            bidirectional=bidirectional, embedding_size=embedding_size, dropout=dropout), variant,
                            "Seq2Seq")
        N.check_read(net, state_of="the decoder")      # a source on vectors still embeds its target tokens
        self.network = net
        if conditioning not in MODES:
            raise ValueError(f"conditioning must be one of {', '.join(MODES)}, got {conditioning!r}")
        sizes = (("tgt_vocab_size", tgt_vocab_size),) + (() if source_input else (("src_vocab_size", src_vocab_size),))
        for name, value in sizes:
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= value < tgt_vocab_size:
                raise ValueError(f"{name} must lie in [0, tgt_vocab_size) = [0, {tgt_vocab_size}), got {value}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.V_src = None if source_input else int(src_vocab_size)
        self.V_tgt, self.H, self.L = int(tgt_vocab_size), hidden_size, num_layers
        self.E = embedding_size or hidden_size
        self.source = source_input or TokenInput(self.V_src, self.E, key="src_embed.W")
        self.A = attention_size or hidden_size
        self.cell, self.bidirectional, self.conditioning = cell, bool(bidirectional), conditioning
        self.use_attention, self.bos_id, self.eos_id = bool(attention), int(bos_id), int(eos_id)
        self.dirs = 2 if self.bidirectional else 1
        self.lstm = cell == "lstm"
        self.sampling_prob = 0.0
        self.rng = np.random.default_rng(seed)
        self.encoder = Stack.from_config(net, self.source.size)
        d_in = self.E + (hidden_size if conditioning in ("input", "both") else 0)
        self.decoder = Stack.from_config(N.replace(net, bidirectional=False), d_in)
        self.params = self._init_params()

    def _init_params(self) -> dict:
        rng, dt, H = self.rng, self.dtype, self.H
        p = self.source.init(rng, dt)
        p["tgt_embed.W"] = rng.standard_normal((self.V_tgt, self.E)).astype(dt)
        p.update({f"encoder.{k}": v for k, v in self.encoder.init(rng, dt).items()})
        p.update({f"decoder.{k}": v for k, v in self.decoder.init(rng, dt).items()})
        if self.bidirectional:
            bound = 1.0 / np.sqrt(2 * H)
            for suffix in ("", "_c") if self.lstm else ("",):
                p[f"bridge.W{suffix}"] = rng.uniform(-bound, bound, (2 * H, H)).astype(dt)
                p[f"bridge.b{suffix}"] = rng.uniform(-bound, bound, H).astype(dt)
        if self.use_attention:
            p.update({f"attn.{k}": v for k, v in attention.init(H, self.dirs * H, self.A, rng, dt).items()})
        feat = H + (self.dirs * H if self.use_attention else 0)
        bound = 1.0 / np.sqrt(feat)
        p["out.W"] = rng.uniform(-bound, bound, (feat, self.V_tgt)).astype(dt)
        p["out.b"] = rng.uniform(-bound, bound, self.V_tgt).astype(dt)
        return N.initialise(self.network, p, rng, dt)

    @classmethod
    def from_config(cls, network, src_vocab_size, tgt_vocab_size: int, **rest) -> "Seq2Seq":
        """The model of a network section (``--task seq2seq``'s ``network``); rest: conditioning, attention ..."""
        return cls(src_vocab_size, tgt_vocab_size, **N.stack_fields(network), **rest)

    def _sub(self, prefix: str) -> dict:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.params.items() if k.startswith(prefix + ".")}

    # ------------------------------------------------------------------------------------------------
    # Encoder and bridge.

    def encode(self, src: np.ndarray, src_mask=None, training: bool = False):
        """src int (T, N) (or vectors (T, N, D)), src_mask (T, N) -> Memory, decoder initial state S0, caches."""
        shape = self.source.shape(src, "src")
        mask = np.ones(shape, self.dtype) if src_mask is None else np.asarray(src_mask, self.dtype)
        emb, src = self.source.forward(self.params, src)
        hs, final, enc_cache = self.encoder.forward(emb, self._sub("encoder"), None, mask, self.rng, training)
        state0, bridge_cache = self._bridge_forward(final)
        top_h = state0[0][-1] if self.lstm else state0[-1]
        keys = attention.keys(hs, self._sub("attn")) if self.use_attention else None
        return Memory(hs, mask, keys, top_h), state0, ((src, shape), enc_cache, bridge_cache)

    def _bridge_forward(self, final):
        if not self.bidirectional:
            return final, None
        parts = final if self.lstm else (final,)
        joined = [np.concatenate([s[0::2], s[1::2]], axis=-1) for s in parts]     # (L, N, 2H) [→ ; ←]
        h0 = np.tanh(joined[0] @ self.params["bridge.W"] + self.params["bridge.b"])
        if not self.lstm:
            return h0, (joined, h0)
        c0 = joined[1] @ self.params["bridge.W_c"] + self.params["bridge.b_c"]
        return (h0, c0), (joined, h0)

    def _bridge_backward(self, dstate0, bridge_cache, grads: dict):
        """d S0 (state layout) -> d S (the encoder's final state); bridge grads go into ``grads``."""
        if not self.bidirectional:
            return dstate0
        joined, h0 = bridge_cache
        dh0 = dstate0[0] if self.lstm else dstate0
        dpre = dh0 * (1.0 - h0 * h0)                                       # h0 = tanh(joined W + b)
        grads["bridge.W"] = np.einsum("lni,lnj->ij", joined[0], dpre)
        grads["bridge.b"] = dpre.sum(axis=(0, 1))
        dfinal = [_unjoin(dpre @ self.params["bridge.W"].T)]
        if self.lstm:                                                      # c0 = joined_c W_c + b_c
            dc0 = dstate0[1]
            grads["bridge.W_c"] = np.einsum("lni,lnj->ij", joined[1], dc0)
            grads["bridge.b_c"] = dc0.sum(axis=(0, 1))
            dfinal.append(_unjoin(dc0 @ self.params["bridge.W_c"].T))
            return tuple(dfinal)
        return dfinal[0]

    # ------------------------------------------------------------------------------------------------
    # Teacher-forced loss and its gradients.

    def loss_and_grads(self, batch, state=None):
        """batch: (src (T, N), src_mask (T, N), tgt_in (U, N), tgt_out (U, N), tgt_mask (U, N)).

        returns the mean cross-entropy over real target tokens, grads (keys of params), state=None
        """
        src, src_mask, tgt_in, tgt_out, tgt_mask = batch
        if self.sampling_prob > 0:
            tgt_in = self.scheduled_inputs(src, src_mask, tgt_in)
        logits, cache = self.forward(src, src_mask, tgt_in, training=True)
        loss, d_logits = ops.softmax_cross_entropy(logits, self._ids("tgt_out", tgt_out, self.V_tgt), tgt_mask)
        return loss, self.backward(d_logits, cache), None

    def forward(self, src, src_mask, tgt_in, training: bool = True):
        """Teacher-forced logits (U, N, V_tgt) and the cache for ``backward``."""
        memory, state0, enc = self.encode(src, src_mask, training)
        tgt_in = self._ids("tgt_in", tgt_in, self.V_tgt)
        d = ops.embedding_forward(tgt_in, self.params["tgt_embed.W"])
        if self.conditioning != "init":
            d = np.concatenate([d, np.broadcast_to(memory.context, d.shape[:2] + (self.H,))], axis=-1)
        init = state0 if self.conditioning != "input" else None
        s, _, dec_cache = self.decoder.forward(d, self._sub("decoder"), init, None, self.rng, training)
        feat, attn_cache = s, None
        if self.use_attention:
            ctx, _, attn_cache = attention.forward(s, memory.hs, self._sub("attn"), memory.mask, memory.keys)
            feat = np.concatenate([s, ctx], axis=-1)
        logits = ops.linear_forward(feat, self.params["out.W"], self.params["out.b"])
        return logits, (enc, state0, tgt_in, dec_cache, attn_cache, feat)

    def backward(self, d_logits: np.ndarray, cache) -> dict:
        """d_logits (U, N, V_tgt) -> grads with the keys of params."""
        ((src, shape), enc_cache, bridge_cache), state0, tgt_in, dec_cache, attn_cache, feat = cache
        grads = {}
        d_feat, grads["out.W"], grads["out.b"] = ops.linear_backward(d_logits, feat, self.params["out.W"])
        d_s, d_hs = d_feat[..., :self.H], None
        if self.use_attention:
            d_q, d_hs, g = attention.backward(np.ascontiguousarray(d_feat[..., self.H:]), attn_cache, self._sub("attn"))
            d_s = d_s + d_q
            grads.update({f"attn.{k}": v for k, v in g.items()})
        d_d, dstate0, g = self.decoder.backward(np.ascontiguousarray(d_s), dec_cache, None)
        grads.update({f"decoder.{k}": v for k, v in g.items()})
        if self.conditioning == "input":
            dstate0 = _zeros_like_state(state0)
        dstate0 = _copy_state(dstate0)
        if self.conditioning != "init":                                   # C = h of S0's top layer
            (dstate0[0] if self.lstm else dstate0)[-1] += d_d[..., self.E:].sum(axis=0)
        grads["tgt_embed.W"] = ops.embedding_backward(np.ascontiguousarray(d_d[..., :self.E]), tgt_in, self.V_tgt)
        dfinal = self._bridge_backward(dstate0, bridge_cache, grads)
        d_hs = np.zeros(tuple(shape) + (self.dirs * self.H,), self.dtype) if d_hs is None else d_hs
        d_emb, _, g = self.encoder.backward(d_hs, enc_cache, dfinal)
        grads.update({f"encoder.{k}": v for k, v in g.items()})
        grads.update(self.source.backward(self.params, d_emb, src))
        return {k: grads[k] for k in self.params}

    # ------------------------------------------------------------------------------------------------
    # Free running, one step at a time (unroll.decode drives these).

    def decode_step(self, memory: Memory, tokens: np.ndarray, state):
        """tokens int (N,) -> logits (N, V_tgt), new state, attention weights (N, T) or None."""
        d = self.params["tgt_embed.W"][np.asarray(tokens, dtype=np.int64)]
        if self.conditioning != "init":
            d = np.concatenate([d, memory.context], axis=-1)
        s, state = self.decoder.step(d, self._sub("decoder"), state)
        feat, alpha = s, None
        if self.use_attention:
            ctx, alpha, _ = attention.forward(s[None], memory.hs, self._sub("attn"), memory.mask, memory.keys)
            feat, alpha = np.concatenate([s, ctx[0]], axis=-1), alpha[0].T
        return feat @ self.params["out.W"] + self.params["out.b"], state, alpha

    def start(self, src, src_mask=None):
        """Encode for free running: returns (memory, decoder state before the first step)."""
        memory, state0, _ = self.encode(src, src_mask, training=False)
        return memory, (state0 if self.conditioning != "input" else None)

    @staticmethod
    def select(memory: Memory, state, rows: np.ndarray):
        """Keep (or repeat) the batch rows ``rows`` of a memory and a decoder state."""
        memory = Memory(memory.hs[:, rows], memory.mask[:, rows],
                        None if memory.keys is None else memory.keys[:, rows], memory.context[rows])
        if state is None:
            return memory, None
        return memory, (tuple(s[:, rows] for s in state) if isinstance(state, tuple) else state[:, rows])

    def scheduled_inputs(self, src, src_mask, tgt_in):
        """Bengio et al.'s mixture: each input after the first is, with probability sampling_prob, a token
        drawn from the model's own prediction for that position (free running), else the true one."""
        memory, state = self.start(src, src_mask)
        tgt_in = np.array(tgt_in, dtype=np.int64)
        tokens = tgt_in[0]
        for u in range(1, tgt_in.shape[0]):
            logits, state, _ = self.decode_step(memory, tokens, state)
            probs = ops.softmax(logits.astype(np.float64))
            drawn = (probs.cumsum(axis=1) < self.rng.random((probs.shape[0], 1))).sum(axis=1)
            use = self.rng.random(probs.shape[0]) < self.sampling_prob
            tgt_in[u] = np.where(use, np.minimum(drawn, self.V_tgt - 1), tgt_in[u])
            tokens = tgt_in[u]
        return tgt_in

    def _ids(self, name, ids, V) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array of shape (T, N), got {ids.dtype} {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"{name} must hold ids in [0, {V}), got [{ids.min()}, {ids.max()}]")
        return ids


def scheduled_sampling_prob(step: int, k: float) -> float:
    """Bengio et al.'s inverse-sigmoid schedule: p = 1 - k / (k + exp(step / k)), rising from ~0 to 1."""
    if k <= 1:
        raise ValueError(f"the scheduled-sampling constant k must be > 1, got {k}")
    return 1.0 - k / (k + np.exp(min(step / k, 700.0)))


def _unjoin(d_joined: np.ndarray) -> np.ndarray:
    """(L, N, 2H) [→ ; ←] -> (2L, N, H) in the stack's row order l·2 + d."""
    L, N, H2 = d_joined.shape
    H = H2 // 2
    return np.stack([d_joined[..., :H], d_joined[..., H:]], axis=1).reshape(2 * L, N, H)


def _zeros_like_state(state):
    return tuple(np.zeros_like(s) for s in state) if isinstance(state, tuple) else np.zeros_like(state)


def _copy_state(state):
    return tuple(s.copy() for s in state) if isinstance(state, tuple) else state.copy()
