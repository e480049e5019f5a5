"""A stack's layers (or a bidirectional layer's two directions) on two threads at once: the wavefront.

In a stack of L >= 2 layers, layer l+1 can run steps t0..t1 while layer l runs the next chunk of steps, and
the backward pass the same way top-down (layer l's chunk needs only layer l+1's δ for that chunk and its own
δ state from the chunk after)::

    forward  task (l, k):  x^(l)[chunk k] = dropout(y^(l-1)[chunk k]);  cell over chunk k from the state
                           that chunk k-1 left                          needs (l, k-1) and (l-1, k)
    backward task (l, k):  the cell's backward over chunk k from the δ state that chunk k+1 left
                                                                        needs (l, k+1) and (l+1, k)

Each thread runs its layers (layer l on thread l mod W) with a **one-thread BLAS**, so both cores are busy
without splitting a 50-row product between them; W = numpy's BLAS threads, at most the cores. A
bidirectional layer's two directions are independent: they run at once (the chunk is then the whole
sequence, because the reverse direction reads its input reversed within each sequence's own length).

Why chunks and not a per-step spin: each chunk is one call of the cell's own ``forward``/``backward``
(the whole-layer numba loops of ``lstm_layer.py`` and its twins), started from the state the chunk before
left, so every cell, mask, row gather and dropout keeps its tested code and its numbers (a cell over steps
1..T equals the cell over 1..t then t+1..T from the state at t; the weight gradients are summed over the
chunks, which reorders additions only). Handing a chunk over is a ``threading.Event`` (one futex wake-up per
chunk of ``chunk_steps(T)`` steps, not one per step). A per-step hand-over would need an atomic load in
numba (not in its public API) and new wavefront loops in every cell's kernels.

Selected by ``UNROLL_SPLIT=wave`` (``split.py``; ``auto`` picks it where the calibration measured it
faster, ``split.calibrate``); ``applies`` says when a stack runs here.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from unroll.nn import ops, regularize
from unroll.nn.kernels import blas, split
from unroll.nn.stack import StackCache

CELLS = ("rnn", "lstm", "gru")       # cells whose state carries everything between chunks
CHUNKS = 10                          # chunks per sequence (the pipeline fills in one chunk of steps)


def chunk_steps(T: int) -> int:
    """Steps per chunk: ``UNROLL_WAVE_STEPS`` when set, else T / CHUNKS rounded up."""
    value = os.environ.get("UNROLL_WAVE_STEPS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else max(1, -(-T // CHUNKS))


def chunks(T: int, dirs: int) -> list[tuple[int, int]]:
    """The chunks' step ranges [(t0, t1), ...]: the whole sequence when bidirectional (one empty chunk when
    T = 0), else steps of ``chunk_steps(T)``."""
    step = max(1, T if dirs == 2 else chunk_steps(T))
    return [(t, min(T, t + step)) for t in range(0, T, step)] or [(0, 0)]


def applies(stack, N: int, masked: bool = False) -> bool:
    """True when ``stack`` runs on the wavefront: the strategy chose it, the cell is rnn/lstm/gru on the
    whole-layer loops, there are two layers (unmasked: a chunk of a padded batch may hold no real step of a
    sequence, which the cells refuse) or two directions to overlap, and two threads to run them."""
    from unroll.nn import kernels
    overlap = stack.dirs == 2 or (stack.num_layers >= 2 and not masked)
    return (stack.cell in CELLS and overlap and workers(stack) >= 2 and kernels.layer_loop(N)
            and split.stack_strategy(stack.cell, stack.hidden_size, N) == "wave")


def workers(stack) -> int:
    """Threads the wavefront uses: numpy's BLAS threads (at most the cores), at most the layers or dirs."""
    return min(split.max_parts(), stack.num_layers if stack.dirs == 1 else 2)


class Chunks(list):
    """caches[l][d] of a stack that ran here: the list of its chunks' caches (``owns`` tells them apart)."""


def owns(cache) -> bool:
    return bool(cache.caches) and isinstance(cache.caches[0][0], Chunks)


def forward(stack, module, x, xw0, gather, params, states0, mask, rev, rng, training, dtype, T, N):
    """Stack.forward's layer loop on the wavefront (the arguments are Stack.forward's, checked and split
    there); returns Stack.forward's (hs, state, StackCache)."""
    L, dirs, H = stack.num_layers, stack.dirs, stack.hidden_size
    bounds = chunks(T, dirs)
    keeps, wkeeps, cell_params = [None], [], {}
    for l in range(L):                                             # the masks, drawn in Stack's order
        if l > 0:
            keeps.append(regularize.dropout(np.broadcast_to(np.zeros((), dtype), (T, N, dirs * H)), stack.dropout,
                                            rng, training, stack.locked)[1])
        wkeeps.append([])
        for d in range(dirs):
            p = cell_params[l, d] = stack._cell_params(params, l, d)
            if stack.weight_drop:
                p["W_h"], wkeep = regularize.weight_drop(p["W_h"], stack.weight_drop, rng, training)
                wkeeps[l].append(wkeep)
            else:
                wkeeps[l].append(None)
    outs, finals, caches = {}, {}, {(l, d): Chunks() for l in range(L) for d in range(dirs)}
    state = {(l, d): states0[l * dirs + d] for l in range(L) for d in range(dirs)}

    def task(l, d, k):
        t0, t1 = bounds[k]
        fold = {}
        if l == 0 and xw0 is not None:
            fold = {"xw": ops.RowGather(xw0.table, xw0.ids[t0:t1]) if isinstance(xw0, ops.RowGather)
                    else xw0[t0:t1]}
            inp = None
        elif l == 0:
            inp = x[t0:t1]
        else:
            below = outs[l - 1, 0, k] if dirs == 1 else np.concatenate([outs[l - 1, 0, k], outs[l - 1, 1, k]], -1)
            inp = below if keeps[l] is None else below * (keeps[l] if keeps[l].shape[0] == 1 else keeps[l][t0:t1])
        if d == 1:
            inp = ops.time_gather(inp, rev)                                # the reverse direction reads x[R]
        hs, final, cache = module.forward(inp, cell_params[l, d], state[l, d],
                                          None if mask is None else mask[t0:t1], **stack.options, **fold)
        state[l, d] = final
        outs[l, d, k] = hs if d == 0 else ops.time_gather(hs, rev)
        caches[l, d].append(cache)
        finals[l, d] = final

    keys = [(l, d, k) for l in range(L) for d in range(dirs) for k in range(len(bounds))]
    deps = {(l, d, k): [(l, d, k - 1)] * (k > 0) + [(l - 1, e, k) for e in range(dirs)] * (l > 0)
            for l, d, k in keys}
    _run(keys, deps, task, lambda key: (key[0] + key[2], key[0], key[1]), workers(stack), dirs)
    top = [np.concatenate([outs[L - 1, d, k] for k in range(len(bounds))]) for d in range(dirs)]
    hs = top[0] if dirs == 1 else np.concatenate(top, axis=-1)
    state = stack._join_state([finals[l, d] for l in range(L) for d in range(dirs)])
    return hs, state, StackCache([[caches[l, d] for d in range(dirs)] for l in range(L)], keeps, rev, dtype, gather,
                                 wkeeps)


def backward(stack, module, dhs, cache, dstates):
    """Stack.backward's layer loop for a forward that ran here; returns Stack.backward's (dx, dstate0, grads)."""
    L, dirs, H = stack.num_layers, stack.dirs, stack.hidden_size
    K = len(cache.caches[0][0])
    T = dhs.shape[0]
    bounds = chunks(T, dirs)
    dstate = {(l, d): dstates[l * dirs + d] for l in range(L) for d in range(dirs)}
    dins, grads = {}, {}

    def task(l, d, k):
        t0, t1 = bounds[k]
        if l == L - 1:
            dy = dhs[t0:t1]
        else:                                                      # both directions of l+1 read y^(l)
            dy = dins[l + 1, 0, k] if dirs == 1 else dins[l + 1, 0, k] + dins[l + 1, 1, k]
            keep = cache.keeps[l + 1]
            dy = dy if keep is None else dy * (keep if keep.shape[0] == 1 else keep[t0:t1])
        dh = dy[..., d * H:(d + 1) * H]
        if d == 1:
            dh = ops.time_gather(dh, cache.rev)
        dx, dstate[l, d], g = module.backward(np.ascontiguousarray(dh), cache.caches[l][d][k], dstate[l, d])
        dins[l, d, k] = dx if d == 0 else ops.time_gather(dx, cache.rev)
        total = grads.setdefault((l, d), {})
        for name, value in g.items():
            total[name] = value if total.get(name) is None else (None if value is None else total[name] + value)

    keys = [(l, d, k) for l in range(L) for d in range(dirs) for k in range(K)]
    deps = {(l, d, k): [(l, d, k + 1)] * (k < K - 1) + [(l + 1, e, k) for e in range(dirs)] * (l < L - 1)
            for l, d, k in keys}
    _run(keys, deps, task, lambda key: (L - 1 - key[0] + K - 1 - key[2], -key[0], key[1]), workers(stack), dirs)
    flat = {}
    for (l, d), g in grads.items():
        if cache.weight_keeps and cache.weight_keeps[l][d] is not None:
            g["W_h"] = regularize.weight_drop_backward(g["W_h"], cache.weight_keeps[l][d])
        flat.update({f"{stack.prefix(l, d)}.{name}": v for name, v in g.items()})
    parts = [dins[0, 0, k] if dirs == 1 else dins[0, 0, k] + dins[0, 1, k] for k in range(K)]
    if parts[0].ndim == 2:                                         # the row gather's δtable (V, G): summed
        dx = parts[0]
        for extra in parts[1:]:
            dx = dx + extra
    else:                                                          # dx or δxw per chunk: in time order
        dx = np.concatenate(parts)
    if cache.gather is not None:                                   # xw0 = table[ids], materialised: scatter
        dx = ops.embedding_backward(dx, cache.gather.ids, cache.gather.table.shape[0])
    return dx, stack._join_state([dstate[l, d] for l in range(L) for d in range(dirs)]), \
        {k: flat[k] for k in stack.param_shapes()}


def _run(keys, deps, task, order, W: int, dirs: int) -> None:
    """Run ``task(*key)`` for every key on W threads (this one and the split's pool), each key after its
    ``deps``; worker of (l, d, k): l mod W (unidirectional) or d mod W; each worker in ``order``."""
    done = {key: threading.Event() for key in keys}
    failed: list = []
    plan = [sorted((k for k in keys if (k[0] if dirs == 1 else k[1]) % W == w), key=order) for w in range(W)]

    def worker(mine):
        for key in mine:
            for dep in deps[key]:
                done[dep].wait()
            if failed:
                return
            try:
                task(*key)
            except BaseException as err:   # noqa: BLE001 - re-raised on the calling thread
                failed.append(err)
                for event in done.values():
                    event.set()            # wake every waiting worker, which then stops
                return
            done[key].set()

    with blas.single_thread():
        futures = [split._executor(W - 1).submit(_on_worker, worker, mine) for mine in plan[1:]]
        try:
            worker(plan[0])
        finally:
            for f in futures:
                f.result()
    if failed:
        raise failed[0]


def _on_worker(worker, mine):
    blas.limit_this_thread()
    return worker(mine)
