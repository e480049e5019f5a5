"""Turning next-token logits into text: greedy, temperature, top-k sampling and beam search.

Two kinds of model are driven here. A language model continues a priming text (``generate``,
``beam_search``). An encoder-decoder (``unroll.models.Seq2Seq``) runs free from its context C
(``greedy_translate``, ``sample_translate``, ``beam_translate``); it provides ``start(src (T, N), mask)
-> (memory, state)``, ``decode_step(memory, ids (N,), state) -> (logits (N, V), state, alpha (N, T) or
None)``, ``select(memory, state, rows)`` and ``bos_id`` / ``eos_id``. A translation stops at EOS (which is
scored but not returned) or after ``max_len`` tokens.

A model used here provides ``forward(ids (T, N), state, training=False) -> (logits, state, cache)`` to
read a priming text in one pass, and ``step_logits(ids (N,), state) -> (logits (N, V), state)`` for one
step at a time, the way ``unroll.models.LanguageModel`` does; or, for one decoding run, ``stepper()``
returning such a function (the language model's folds layer 0's input projection into a table once).

Sampling with temperature τ draws from softmax(ŷ / τ): τ < 1 sharpens the distribution, τ > 1 flattens it,
τ -> 0 approaches greedy. Top-k keeps only the k largest logits before drawing.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from unroll.nn import ops


def next_token(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None, greedy: bool = False,
               rng: np.random.Generator | None = None) -> int:
    """Pick one id from a (V,) vector of logits."""
    if greedy:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < scaled.size:
        kth_largest = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled >= kth_largest, scaled, -np.inf)
    probs = ops.softmax(scaled)
    return int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right").clip(0, probs.size - 1))


def stepper(model):
    """The model's one-step function for a decoding run: ``model.stepper()`` where it has one, else
    ``model.step_logits``."""
    make = getattr(model, "stepper", None)
    return make() if make is not None else model.step_logits


def check_settings(length: int, temperature: float, top_k: int | None) -> None:
    """One-line errors for bad decoding settings, naming the option."""
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def generate(model, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
             greedy: bool = False, rng: np.random.Generator | None = None) -> Iterator[int]:
    """Read ``prime_ids`` (at least one id), then yield ``length`` new ids one at a time."""
    check_settings(length, temperature, top_k)
    prime = np.asarray(prime_ids, dtype=np.int64).reshape(-1, 1)
    if prime.size == 0:
        raise ValueError("prime must hold at least one token")
    rng = rng if rng is not None else np.random.default_rng()
    logits, state, _ = model.forward(prime, None, training=False)
    last = logits[-1, 0]
    step = stepper(model)
    for _ in range(length):
        token = next_token(last, temperature, top_k, greedy, rng)
        yield token
        step_logits, state = step(np.array([token]), state)
        last = step_logits[0]


class Continues:
    """``generate`` and ``sample`` for a model that ``generate`` drives (a language model, an ensemble of them)."""

    def generate(self, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
                 greedy: bool = False, seed: int | None = None) -> Iterator[int]:
        """Yield ``length`` token ids continuing ``prime_ids`` one at a time (for streaming output)."""
        return generate(self, prime_ids, length, temperature, top_k, greedy, np.random.default_rng(seed))

    def sample(self, prime_ids, length: int, temperature: float = 1.0, top_k: int | None = None,
               greedy: bool = False, seed: int | None = None) -> np.ndarray:
        """Like ``generate`` but returns all ``length`` ids at once as an int array."""
        return np.fromiter(self.generate(prime_ids, length, temperature, top_k, greedy, seed), dtype=np.int64)


def beam_search(model, prime_ids, length: int, beam_width: int = 5) -> tuple[list[int], float]:
    """The most likely continuation of ``length`` ids among ``beam_width`` beams.

    Every step extends each beam by every token, keeps the ``beam_width`` best by summed log-probability,
    and runs the beams as one batch. Returns (ids, total log-probability).
    """
    check_settings(length, 1.0, None)
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    prime = np.asarray(prime_ids, dtype=np.int64).reshape(-1, 1)
    if prime.size == 0:
        raise ValueError("prime must hold at least one token")
    logits, state, _ = model.forward(prime, None, training=False)
    logp = ops.log_softmax(logits[-1].astype(np.float64))          # (1, V)
    scores, beams = np.zeros(1), [[]]
    step = stepper(model)
    for _ in range(length):
        total = scores[:, None] + logp                              # (B, V)
        best = np.argsort(total, axis=None)[::-1][:beam_width]
        rows, tokens = np.unravel_index(best, total.shape)
        scores = total[rows, tokens]
        beams = [beams[r] + [int(t)] for r, t in zip(rows, tokens)]
        state = _select_state(state, rows)
        step_logits, state = step(tokens.astype(np.int64), state)
        logp = ops.log_softmax(step_logits.astype(np.float64))
    return beams[0], float(scores[0])


def _select_state(state, rows: np.ndarray):
    """Keep the state rows (batch axis 1 of (L, N, H) arrays) of the surviving beams."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]


# ----------------------------------------------------------------------------------------------------
# Encoder-decoder models running free.

class Hypothesis(NamedTuple):
    tokens: list              # output ids, EOS excluded
    log_prob: float           # Σ log p of every emitted id, EOS included when emitted
    score: float              # log_prob / len^length_penalty (len counts EOS), the beam's ranking
    attention: np.ndarray | None   # (len, T) weights of each emitted id over the source, or None
    finished: bool            # True if EOS was emitted before max_len


def _score(log_prob: float, length: int, length_penalty: float) -> float:
    return log_prob / max(length, 1) ** length_penalty


def _free_run(model, src, src_mask, max_len: int, pick) -> list[Hypothesis]:
    """Run a batch of sources (T, N) free, ``pick(logp (N, V)) -> ids (N,)`` choosing each next id."""
    if not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    memory, state = model.start(src, src_mask)
    N = np.asarray(src).shape[1]
    tokens = np.full(N, model.bos_id, dtype=np.int64)
    outs, logps, alphas = [], np.zeros(N), []
    done = np.zeros(N, bool)
    for _ in range(max_len):
        logits, state, alpha = model.decode_step(memory, tokens, state)
        logp = ops.log_softmax(logits.astype(np.float64))
        tokens = np.asarray(pick(logp), dtype=np.int64)
        logps += np.where(done, 0.0, logp[np.arange(N), tokens])
        outs.append(np.where(done, -1, tokens))
        alphas.append(alpha)
        done |= tokens == model.eos_id
        if done.all():
            break
    hyps = []
    for n in range(N):
        ids = [int(t[n]) for t in outs if t[n] >= 0]
        finished = bool(ids) and ids[-1] == model.eos_id
        att = None if alphas[0] is None else np.stack([a[n] for a in alphas[:len(ids)]])
        hyps.append(Hypothesis(ids[:-1] if finished else ids, float(logps[n]), float(logps[n]), att, finished))
    return hyps


def greedy_translate(model, src, src_mask=None, max_len: int = 100) -> list[Hypothesis]:
    """The most likely next id at every step, for a batch of sources src int (T, N)."""
    return _free_run(model, src, src_mask, max_len, lambda logp: logp.argmax(axis=1))


def sample_translate(model, src, src_mask=None, max_len: int = 100, temperature: float = 1.0,
                     rng: np.random.Generator | None = None) -> list[Hypothesis]:
    """Draw every next id from softmax(logits / temperature); log_prob is the model's own (τ = 1)."""
    check_settings(1, temperature, None)
    rng = rng if rng is not None else np.random.default_rng()

    def pick(logp):
        probs = ops.softmax(logp / temperature)
        return np.minimum((probs.cumsum(axis=1) < rng.random((len(probs), 1))).sum(axis=1), probs.shape[1] - 1)
    return _free_run(model, src, src_mask, max_len, pick)


def beam_translate(model, src_ids, beam_width: int = 5, max_len: int = 100,
                   length_penalty: float = 0.0) -> Hypothesis:
    """Beam search for one source src_ids int (T,) (or real vectors (T, D) for a vector-source model).

    Each step extends every live beam by every id and keeps the ``beam_width`` best by summed
    log-probability; a beam that emits EOS moves to the finished set. The search stops when
    ``beam_width`` beams have finished, when (for length_penalty = 0) no live beam can still beat the
    best finished one (log-probabilities only fall), or at ``max_len`` (live beams then count as
    unfinished hypotheses). The result is the best by score = log_prob / len^length_penalty. The greedy
    output is a candidate too, so with length_penalty = 0 the result is never less probable than
    greedy's: plain beam search can prune the greedy path early and end below it.
    """
    if not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
    src = np.asarray(src_ids)
    src = src[:, None] if src.ndim == 2 else src.astype(np.int64).reshape(-1, 1)           # (T, 1[, D])
    if src.size == 0:
        raise ValueError("the source must hold at least one token")
    candidates = [greedy_translate(model, src, None, max_len)[0]]
    memory, state = model.start(src, None)                                         # one row: N = 1
    beams, scores, alphas = [[]], np.zeros(1), [[]]
    tokens = np.array([model.bos_id], dtype=np.int64)
    finished = []
    for _ in range(max_len):
        logits, state, alpha = model.decode_step(memory, tokens, state)
        total = scores[:, None] + ops.log_softmax(logits.astype(np.float64))      # (B, V)
        order = np.argsort(-total, axis=None, kind="stable")
        keep_rows, keep_ids = [], []
        for flat in order[:2 * beam_width]:
            row, tok = divmod(int(flat), total.shape[1])
            att = alphas[row] + ([] if alpha is None else [alpha[row]])
            if tok == model.eos_id:
                finished.append(_hyp(beams[row], total[row, tok], att, True, length_penalty))
            else:
                keep_rows.append(row)
                keep_ids.append(tok)
            if len(keep_rows) == beam_width:
                break
        rows = np.array(keep_rows, dtype=np.int64)
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_ids)]
        alphas = [alphas[r] + ([] if alpha is None else [alpha[r]]) for r in keep_rows]
        scores = total[rows, keep_ids]
        tokens = np.array(keep_ids, dtype=np.int64)
        if len(finished) >= beam_width or not beams:
            break
        if length_penalty == 0 and finished and max(h.log_prob for h in finished) >= scores.max():
            break
        memory, state = model.select(memory, state, rows)                       # rows of the live beams
    else:
        finished += [_hyp(b, s, a, False, length_penalty) for b, s, a in zip(beams, scores, alphas)]
    candidates[0] = candidates[0]._replace(score=_score(candidates[0].log_prob, len(candidates[0].tokens)
                                                        + candidates[0].finished, length_penalty))
    return max(finished + candidates, key=lambda h: h.score)


def _hyp(tokens, log_prob, alphas, finished, length_penalty) -> Hypothesis:
    att = np.stack(alphas) if alphas else None
    lp = float(log_prob)
    return Hypothesis(list(tokens), lp, _score(lp, len(tokens) + finished, length_penalty), att, finished)
