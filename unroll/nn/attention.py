"""Additive attention (Bahdanau, Cho and Bengio, 2015), forward and backward by hand.

A decoder output s_u (a query) scores every encoder output m_t (the memory) of the same sequence with
a one-hidden-layer network, the scores are normalised over the source's real steps, and the context
a_u is the weighted mean of the memory::

    k_t     = m_t W_k                                   keys, once per source          (T, N, A)
    q_u     = s_u W_q                                   queries                        (U, N, A)
    z_ut    = tanh(q_u + k_t + b)                                                     (U, T, N, A)
    e_ut    = z_ut · v                                  scores                         (U, T, N)
    α_ut    = exp(e_ut) / Σ_{t' real} exp(e_ut')        weights; α = 0 on padding      (U, T, N)
    a_u     = Σ_t α_ut m_t                              context                        (U, N, Hm)

Backward, each line differentiating the forward line it names::

    dα_ut  = da_u · m_t                                 (a_u = Σ α m)
    dm_t  += Σ_u α_ut da_u                              (a_u = Σ α m)
    de_ut  = α_ut (dα_ut - Σ_t' α_ut' dα_ut')           (softmax)
    dz     = de ⊗ v,   dv = Σ de z                      (e = z · v)
    dpre   = dz (1 - z²)                                (z = tanh(pre))
    db     = Σ dpre,   dq_u = Σ_t dpre,   dk_t = Σ_u dpre
    dW_q   = sᵀ dq,    ds = dq W_qᵀ,      dW_k = mᵀ dk,   dm += dk W_kᵀ

Parameters: ``W_q (Hq, A)``, ``W_k (Hm, A)``, ``b (A,)``, ``v (A,)``.
Cache memory: z, (U·T·N·A) floats, dominates; plus α (U·T·N).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops


class AttentionCache(NamedTuple):
    queries: np.ndarray      # (U, N, Hq) decoder outputs s
    memory: np.ndarray       # (T, N, Hm) encoder outputs m
    z: np.ndarray            # (U, T, N, A) tanh(q + k + b)
    alpha: np.ndarray        # (U, T, N) attention weights


def param_shapes(query_size, memory_size, attention_size) -> dict[str, tuple]:
    return {"W_q": (query_size, attention_size), "W_k": (memory_size, attention_size),
            "b": (attention_size,), "v": (attention_size,)}


def init(query_size: int, memory_size: int, attention_size: int, rng: np.random.Generator,
         dtype=np.float32) -> dict:
    """Uniform(±1/sqrt(fan_in)) like torch.nn.Linear; b starts at zero."""
    shapes = param_shapes(query_size, memory_size, attention_size)
    out = {}
    for name, shape in shapes.items():
        bound = 1.0 / np.sqrt(shape[0] if name.startswith("W") else attention_size)
        out[name] = (np.zeros(shape) if name == "b" else rng.uniform(-bound, bound, shape)).astype(dtype)
    return out


def keys(memory: np.ndarray, params: dict) -> np.ndarray:
    """k = m W_k: memory (T, N, Hm) -> (T, N, A), computed once per source for step-by-step decoding."""
    return ops.linear_forward(memory, params["W_k"])


def forward(queries: np.ndarray, memory: np.ndarray, params: dict, mask=None, memory_keys=None):
    """Context vectors of every query over the real steps of its own source.

    queries: (U, N, Hq), memory: (T, N, Hm), mask: (T, N) source mask or None (all real),
    memory_keys: ``keys(memory, params)`` if already computed
    returns context (U, N, Hm), alpha (U, T, N), cache
    """
    U, N, Hq = queries.shape
    T, N_m, Hm = memory.shape
    dtype = checks.params_of("params", params, param_shapes(Hq, Hm, params["b"].shape[0]))
    checks.float_array("queries", queries, ("U", "N", Hq), dtype)
    checks.float_array("memory", memory, ("T", N, Hm), dtype)
    m = checks.mask_array(mask, T, N, dtype)
    k = keys(memory, params) if memory_keys is None else memory_keys
    q = ops.linear_forward(queries, params["W_q"])                          # (U, N, A)
    z = np.tanh(q[:, None] + k[None] + params["b"])                           # (U, T, N, A)
    e = z @ params["v"]                                                       # (U, T, N)
    if m is not None:
        e = np.where(m[None, :, :, 0] > 0, e, -np.inf)
    e = e - e.max(axis=1, keepdims=True)
    w = np.exp(e)
    alpha = w / w.sum(axis=1, keepdims=True)                                  # softmax over t
    context = np.einsum("utn,tnh->unh", alpha, memory)                        # a_u = Σ_t α_ut m_t
    return context, alpha, AttentionCache(queries, memory, z, alpha)


def backward(d_context: np.ndarray, cache: AttentionCache, params: dict):
    """d_context (U, N, Hm) -> d_queries (U, N, Hq), d_memory (T, N, Hm), grads (keys of params)."""
    s, mem, z, alpha = cache
    d_alpha = np.einsum("unh,tnh->utn", d_context, mem)                     # a_u = Σ α m
    d_memory = np.einsum("utn,unh->tnh", alpha, d_context)
    de = alpha * (d_alpha - (alpha * d_alpha).sum(axis=1, keepdims=True))   # softmax (0 on padding)
    dv = np.einsum("utn,utna->a", de, z)                                      # e = z · v
    dpre = de[..., None] * params["v"] * (1.0 - z * z)                        # z = tanh(pre)
    db = dpre.sum(axis=(0, 1, 2))
    dq, dk = dpre.sum(axis=1), dpre.sum(axis=0)                               # pre = q_u + k_t + b
    d_queries, dW_q, _ = ops.linear_backward(dq, s, params["W_q"])
    d_mem_k, dW_k, _ = ops.linear_backward(dk, mem, params["W_k"])
    grads = {"W_q": dW_q, "W_k": dW_k, "b": db, "v": dv}
    return d_queries, d_memory + d_mem_k, grads
