"""Sequences of real vectors for classify, tag and the source side of seq2seq (issue 22).

    unroll train --task classify --data walks.csv          a long CSV, a .ts archive file or an .npz:
    unroll train --task tag --data frames.npz              the suffix picks vector input (or --input vectors)
    unroll train --task seq2seq --data clips.csv           vector sources, text targets (the label column)
    unroll eval RUN [--data test.ts]    unroll predict RUN test.csv     the same formats, the run's columns

Each of the three tasks has one more settings section, ``vectors`` (VectorConfig), and reads its data
through one input part, ``tasks/inputs.py``'s TokenInputs or VectorInputs, chosen when the task is made:
one prepare, batches, build_model, metrics and predict serve both kinds. A new run refuses, in one line
naming it, a flag of the other input kind (``refuse_unread``); a token run whose text is numbers gets a
warning that points here (a TSV of numbers used to train silently on digit words).

What a vector run stores in config.json (beside the task's settings)::

    "input": "vectors", "features": D, "feature_names": [...], "max_length": longest training sequence,
    "scaler": {"mean": [D], "std": [D]} fitted on the training split only (null with --no-standardize),
    "data_sha256", and the task's label set ("labels" | "tags" | "tgt_vocab").

The model reads standardised x (T, N, D) through ``models.inputs.VectorInput``: "linear" (the stack's own
W_x reads the features) or "mlp" (one tanh layer of --input-width units first).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields

from unroll.config import flag_of, option
from unroll.data import vectors as V
from unroll.models.inputs import KINDS, MLP_ACTIVATIONS
from unroll.tasks import labelled as L

INPUTS = ("auto", "tokens", "vectors")


@dataclass(frozen=True)
class VectorConfig:
    input: str = option("auto", help="tokens | vectors | auto (vectors for .csv, .ts and .npz data; a .tsv long "
                                            "file needs vectors)",
                        choices=INPUTS)
    id_col: str | None = option(None, help="vector CSV: the sequence id column (default: id, series_id, ...)")
    time_col: str | None = option(None, help="vector CSV: the time column, increasing within a sequence "
                                             "(default: time, timestamp, t, step, ... if present)")
    label_col: str | None = option(None, help="vector CSV: the label column (default: label, class, target, tag)")
    feature_cols: str | None = option(None, help="vector CSV: comma-separated feature columns (default: the rest)")
    missing: str = option("none", help="missing or NaN values: none (refuse) | ffill | zero", choices=V.MISSING)
    input_layer: str = option("linear", help="vectors: linear (the stack reads the features) | mlp (one layer "
                                             "first)", choices=KINDS)
    input_width: int | None = option(None, help="vectors, --input-layer mlp: its units (default: --hidden)")
    input_activation: str = option("tanh", help="vectors, --input-layer mlp: tanh | relu", choices=MLP_ACTIVATIONS)
    no_standardize: bool = option(False, help="vectors: feed raw features (default: standardise with the "
                                              "training split's mean and std)")


def refuse_unread(section, token_only: tuple[str, ...], vectors: VectorConfig, reads_vectors: bool) -> None:
    """A flag of the other input kind, changed from its default, is refused in one line naming it."""
    if reads_vectors:
        given = [n for n in token_only if getattr(section, n) != getattr(type(section)(), n)]
        if given:
            raise ValueError(f"{flag_of(section, given[0])} applies to token input, and this run reads vectors")
        return
    given = [f.name for f in fields(VectorConfig) if f.name != "input" and getattr(vectors, f.name) != f.default]
    if given:
        raise ValueError(f"{flag_of(vectors, given[0])} applies to vector input (.csv, .ts, .npz data or --input "
                         "vectors), and this run reads tokens")


def warn_if_numeric(path, task_name: str) -> None:
    """A token task given a text of numbers: say where the vector input is (it would train on digit words)."""
    files = L.data_files(path) if path else []
    for file in files[:1]:
        try:
            with open(file, encoding="utf-8", errors="replace") as f:
                lines = [line.split("\t", 1)[-1] for _, line in zip(range(200), f)]
        except OSError:
            return
        if V.looks_numeric(lines):
            print(f"unroll: warning: {file}: the examples are numbers; --task {task_name} reads them as word tokens. "
                  "For sequences of real vectors use a .csv (long format), .ts or .npz file, or --input vectors "
                  "(docs/vectors.md)", file=sys.stderr)
