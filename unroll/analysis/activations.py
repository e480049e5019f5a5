"""What a trained character model does inside, character by character (Karpathy, Johnson, Fei-Fei 2015).

``collect(model, vocab, text)`` runs the model over the text from a zero state, without dropout, and keeps
for every layer l, unit k and character t (the state *after* reading character t)::

    hidden[l, t, k] = h^(l)_t                 every cell
    cell[l, t, k]   = tanh(c^(l)_t)           LSTM only (None otherwise)
    gates[l][g]     = (T, H) post-activation gate g (LSTM i, f, o; GRU r, z)
    top_ids/probs   = the top-k next characters after t and their softmax probabilities

Characters outside the vocabulary are kept in ``text`` and flagged in ``known``; the model reads only the
known ones (T = known.sum()), so the arrays index the known characters in order.

``quantise`` maps values in [-1, 1] to uint8 (step 2/255, error at most half a step) for the HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unroll.models import lm_ensemble
from unroll.nn import ops

QUANT_STEP = 2.0 / 255.0
SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}
GATE_BLOCKS = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass
class Activations:
    """The inside of one pass over a text; see the module docstring for the meaning of each array."""

    text: str                   # the text shown, C characters
    known: np.ndarray           # (C,) bool: the character is in the vocabulary
    ids: np.ndarray             # (T,) token ids of the known characters
    cell_kind: str              # "rnn" | "lstm" | "gru" | ...
    hidden: np.ndarray          # (L, T, H) h_t
    cell: np.ndarray | None     # (L, T, H) tanh(c_t) for an LSTM, else None
    gates: list                 # [l] {gate name: (T, H)} sigmoid gates, empty dicts for gateless cells
    top_ids: np.ndarray         # (T, k) next-character ids, most probable first
    top_probs: np.ndarray       # (T, k) their probabilities

    @property
    def shape(self) -> tuple[int, int, int]:
        """(L, T, H)."""
        return self.hidden.shape

    def kinds(self) -> dict[str, np.ndarray]:
        """{"h": hidden, "c": tanh(c)} (the latter for LSTMs only), each (L, T, H)."""
        return {"h": self.hidden} if self.cell is None else {"h": self.hidden, "c": self.cell}


def known_mask(vocab, text: str) -> np.ndarray:
    """(C,) bool: which characters of ``text`` the character vocabulary holds."""
    return np.fromiter((ch in vocab for ch in text), dtype=bool, count=len(text))


def collect(model, vocab, text: str, max_chars: int = 5000, top_k: int = 5) -> Activations:
    """Run ``model`` (a LanguageModel; an ensemble's member 0) over the first ``max_chars`` characters of ``text``; see the module doc."""
    if getattr(vocab, "kind", None) != "char":
        raise ValueError("activations need a character-level model (this run's vocabulary is not characters)")
    if not isinstance(text, str) or not text:
        raise ValueError("text is empty: give some text to run the model over")
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    text = text[:max_chars]
    known = known_mask(vocab, text)
    if not known.any():
        raise ValueError(f"text has no character in the model's vocabulary of {len(vocab)} characters")
    ids = vocab.encode("".join(ch for ch, k in zip(text, known) if k)).astype(np.int64)
    model, _ = lm_ensemble.shown(model)                     # an ensemble's cells: its member 0's
    stack = model.stack
    if stack.bidirectional:
        raise ValueError("activations need a unidirectional model")
    logits, _, cache = model.forward(ids[:, None], training=False)
    caches = [layer[0] for layer in cache.stack_cache.caches]          # [l] the cell's cache, direction 0
    top_layer = cache.hs_dropped[:, 0, :]                              # no dropout at evaluation
    hidden = np.stack([caches[l + 1].x[:, 0, :] for l in range(len(caches) - 1)] + [top_layer])
    cell = np.stack([c.tanh_c[:, 0, :] for c in caches]) if stack.cell == "lstm" else None
    gates = [_sigmoid_gates(stack.cell, c) for c in caches]
    probs = np.exp(ops.log_softmax(logits[:, 0, :].astype(np.float64)))
    k = min(top_k, probs.shape[1])
    top_ids = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    top_probs = np.take_along_axis(probs, top_ids, axis=1)
    return Activations(text, known, ids, stack.cell, hidden, cell, gates, top_ids, top_probs)


def _sigmoid_gates(cell_kind: str, cache) -> dict:
    """{gate: (T, H)} of a cell cache's sigmoid gates (empty for cells without gates)."""
    if cell_kind not in SIGMOID_GATES:
        return {}
    blocks = np.split(cache.gates[:, 0, :], len(GATE_BLOCKS[cell_kind]), axis=1)
    return {name: block for name, block in zip(GATE_BLOCKS[cell_kind], blocks) if name in SIGMOID_GATES[cell_kind]}


def quantise(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] (clipped) -> uint8 q with value ≈ q · 2/255 - 1, error ≤ 1/255."""
    v = np.clip(np.asarray(values, dtype=np.float64), -1.0, 1.0)
    return np.rint((v + 1.0) / QUANT_STEP).astype(np.uint8)


def dequantise(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float64) * QUANT_STEP - 1.0
