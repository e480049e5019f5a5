"""From a run folder to the page and the gate picture: the functions behind ``unroll visualize`` / ``inspect``.

``load_char_lm(run_dir)`` -> (model, vocab, task, info) of a character-level language-model run (other runs
are a one-line error). ``visualize(model, vocab, text, out, ...)`` writes the HTML page (``page``) after
correlating every unit with the features (``features``); ``gates(model, vocab, text, out_dir)`` writes
``gates.json`` and ``gates.png`` (``gates``). ``run_text(model, vocab, task, ...)`` picks the text to look at: a file,
a priming text continued by sampling, or the run's own validation text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from unroll.analysis import activations, features, page
from unroll.analysis import gates as gate_stats
from unroll.models import lm_ensemble


def load_char_lm(run_dir):
    """(model, vocab, task, info) of a character-level language-model run folder, or a one-line ValueError."""
    from unroll.runs import RunFolder, run
    from unroll.tasks import get_task
    from unroll.tasks.lm import LanguageModelTask
    name = RunFolder.named(run_dir).read_config()["task"]
    if not issubclass(get_task(name), LanguageModelTask):
        raise ValueError(f"{run_dir} is a run of task {name!r}; visualize and inspect need a character-level "
                         "language model (task lm)")
    task, model, info = run.load(run_dir)
    vocab = task.vocab
    if getattr(vocab, "kind", None) != "char":
        raise ValueError(f"{run_dir} is a word-level model; visualize and inspect need a character-level one")
    model, note = lm_ensemble.shown(model)
    if note:
        print(f"unroll: {run_dir} is an ensemble (--members): showing its {note}", file=sys.stderr)
    return model, vocab, task, info


def run_text(model, vocab, task, text_file=None, prime=None, length: int = 5000, seed: int = 0) -> str:
    """The text to look at: ``text_file``'s contents, ``prime`` continued by sampling to ``length``
    characters, or else the run's validation text (the last ``valid_fraction`` of its corpus)."""
    from unroll.data import text as text_data
    if text_file is not None and prime is not None:
        raise ValueError("give --text FILE or --prime TEXT, not both")
    if text_file is not None:
        return text_data.read_text(text_file)
    if prime is not None:
        if not prime:
            raise ValueError("--prime is empty: give some text to start from")
        unknown = sorted({ch for ch in prime if ch not in vocab})
        if unknown:
            raise ValueError(f"--prime has characters outside the model's vocabulary: {''.join(unknown)!r}")
        ids = model.sample(vocab.encode(prime), max(0, length - len(prime)), temperature=0.8, seed=seed)
        return prime + vocab.decode(ids) if ids.size else prime
    return vocab.decode(task.splits_ids()[1])


def parse_unit(spec: str, num_layers: int, hidden: int) -> tuple[int, int]:
    """'L:K' -> (layer, unit), both counted from 0, checked against the model's size."""
    try:
        layer, unit = (int(part) for part in spec.split(":"))
    except ValueError:
        raise ValueError(f"--unit must be LAYER:UNIT such as 1:17, got {spec!r}") from None
    if not 0 <= layer < num_layers:
        raise ValueError(f"--unit {spec}: layer {layer} is out of range (the model has layers 0..{num_layers - 1})")
    if not 0 <= unit < hidden:
        raise ValueError(f"--unit {spec}: unit {unit} is out of range (each layer has units 0..{hidden - 1})")
    return layer, unit


def visualize(model, vocab, text: str, out, unit: str | None = None, state: str | None = None,
              find: bool = False, regex: str | None = None, max_chars: int = 5000, title: str = "unroll") -> dict:
    """Write the page to ``out``; returns {"unit", "chars", "unknown", "rows"} (rows: the best units)."""
    acts = activations.collect(model, vocab, text, max_chars=max_chars)
    kinds = acts.kinds()
    state = state or ("c" if "c" in kinds else "h")
    if state not in kinds:
        raise ValueError(f"--state {state}: this {acts.cell_kind} model has only h (tanh(c) is for LSTMs)")
    found = features.find(acts, regex)
    rows = features.best_units(found, top=3)
    if unit is not None:
        layer, k = parse_unit(unit, acts.shape[0], acts.shape[2])
        chosen = (state, layer, k)
    else:                                           # the unit that tracks any feature best
        r = np.abs(found["r"]).max(0)
        candidates = [u for u, label in enumerate(found["units"]) if label[0] == state]
        chosen = found["units"][max(candidates, key=lambda u: r[u])]
    page.write_page(out, acts, vocab, found, chosen, title, rows if find else None)
    return {"unit": chosen, "chars": len(acts.text), "unknown": int((~acts.known).sum()), "rows": rows}


def gates(model, vocab, text: str, out_dir, max_chars: int = 20000) -> dict:
    """Write ``gates.json`` and ``gates.png`` (the paper's scatter) into ``out_dir``; return the saturation."""
    acts = activations.collect(model, vocab, text, max_chars=max_chars)
    sat = gate_stats.saturation(acts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gates.json").write_text(json.dumps(sat, indent=1) + "\n", encoding="utf-8")
    gate_stats.save_scatter(sat, out_dir / "gates.png")
    return sat
