"""One training step's batch split across threads once, each part the whole model: the strategy "data"
(``split.py``; #34 lever 17).

The rows of a batch are independent through the whole model, not only inside a layer's time loop: row n's
logits, loss and gradient read only row n's inputs and state. So a step of N rows can run as k parts of N/k
rows, each on its own thread from the embedding to the loss and back (``split.run``: part 0 on this
thread), every product inside at one BLAS thread (MKL's, with W_h packed once per layer call, lever 15).
One hand-over per step, where "own" makes 12-15 (one per split loop or product, 50-90 µs each: the
waiting thread's wake-up; docs/performance.md, lever 16), and the elementwise work (gates outside the
loops, softmax, bias sums) runs on both cores. The parts' results are combined as the whole batch's::

    loss  = Σ_i c_i · loss_i / Σ_i c_i          c_i: part i's token count (its mask's sum)
    ∂L/∂θ = Σ_i c_i · ∂loss_i/∂θ / Σ_i c_i       each loss_i the mean over part i's tokens
    state = [state_1 | state_2 | ...]           the rows back in order (axis -2 of the stack's state)

equal to the unsplit step's up to the order of float additions (tests/nn/test_data_parallel.py: float64
to 1e-12). A model that draws random numbers in training (dropout masks) cannot let its parts share one
generator (they would draw in the order the threads run): ``run`` draws one seed per part from the
model's generator, on this thread, and each part draws its masks from a generator of its own. The masks
are then other numbers than "off"'s (the same distribution, row by row); a run is still reproducible from
its seed, and resumes exactly (the model's generator is checkpointed), at the same strategy. So such a model
splits only where ``UNROLL_SPLIT=data`` is forced: auto's choice comes from a timing, which must not change
what a run computes beyond rounding (``LanguageModel.step_parts``).

    parts = model.step_parts(N)                 # None: run whole
    loss, grads, state = data_parallel.run(step, parts, x, y, state, mask, rng=model.draws_rng())
"""

from __future__ import annotations

import numpy as np

from unroll.nn.kernels import split


def run(step, parts, x, y, carry=None, mask=None, rows=None, join=None, rng=None):
    """``step(x_i, y_i, carry_i, mask_i, rng_i) -> (loss_i, grads_i, carry_i)`` on each part of ``parts``
    [(r0, r1), ...] (columns of x, y, mask: (T, N)), on threads; returns the whole batch's (loss, grads,
    carry). rng: the model's generator when the step draws from it (each part then gets a generator
    seeded from it, ``rng_i``; else rng_i is None).

    rows(carry, r0, r1) / join([carry_i, ...]) slice and concatenate the carry (default ``state_rows`` /
    ``join_states``: the stack's state). A part with no real token (its mask all zero) cannot have a mean
    loss: then the step runs whole."""
    rows, join = rows or state_rows, join or join_states
    counts = [float(b - a) * x.shape[0] if mask is None else float(np.sum(mask[:, a:b])) for a, b in parts]
    if min(counts) <= 0:
        return step(x, y, carry, mask, rng)
    seeds = [None] * len(parts) if rng is None else rng.integers(0, 2 ** 63, size=len(parts))

    def part(i, a, b):
        return step(x[:, a:b], y[:, a:b], rows(carry, a, b), None if mask is None else mask[:, a:b],
                    None if seeds[i] is None else np.random.default_rng(seeds[i]))

    results = split.run(part, parts)
    total = sum(counts)
    loss = sum(c * r[0] for c, r in zip(counts, results)) / total
    return loss, combine([r[1] for r in results], [c / total for c in counts]), join([r[2] for r in results])


def combine(grads: list[dict], weights: list[float]) -> dict:
    """Σ_i weights[i] · grads[i], key by key, in each gradient's dtype."""
    total = {}
    for k, g in grads[0].items():
        acc = g * g.dtype.type(weights[0])
        for other, w in zip(grads[1:], weights[1:]):
            acc += other[k] * g.dtype.type(w)
        total[k] = acc
    return total


def state_rows(state, r0: int, r1: int):
    """Rows r0..r1 of the stack's state (arrays (..., N, H), or a tuple of them; None stays None)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(state_rows(s, r0, r1) for s in state)
    return np.ascontiguousarray(state[..., r0:r1, :])


def join_states(states: list):
    """The parts' states concatenated back along the rows (axis -2), in part order."""
    if states[0] is None:
        return None
    if isinstance(states[0], tuple):
        return tuple(join_states([s[i] for s in states]) for i in range(len(states[0])))
    return np.concatenate(states, axis=-2)
