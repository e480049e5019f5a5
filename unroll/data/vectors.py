"""Sequences of real vectors from the files people have: a long CSV, the UEA/UCR ``.ts`` format, NumPy ``.npz``.

Every reader returns a ``VectorSet``: per sequence its id, its values ``(T_n, D)`` float64 and its label
(one string per sequence, or, ``per_step=True``, one string per row for tagging). Formats::

    long CSV (.csv; .tsv tab-separated)    one row per step, a header naming the columns:
        id,time,f1,f2,label                the id column groups rows into sequences (pandas / tsfresh /
        a,0,0.1,1.2,walk                   sktime "long" layout); the optional time column must increase
        a,1,0.3,1.1,walk                   within each sequence; the label is per sequence (classify,
        b,0,...                            equal on all its rows) or per row (tag). Defaults by header
                                           name: id|series_id|sequence_id|case_id, time|timestamp|t|step,
                                           label|class|target|tag; features: every other column.
    .ts (UEA/UCR archive, sktime/aeon)     @-header lines (@problemName, @dimensions, @classLabel true
                                           1 2 3, @data), then one case a line: the dimensions separated
                                           by ':', each a comma-separated series, the class label last;
                                           lengths may differ between cases ("?" is a missing value).
    .npz (numpy.savez, no pickle)          x_0 .. x_{M-1}: (T_n, D) arrays and labels (M,); or values
                                           (sum T_n, D), lengths (M,) and labels (M,); tag: labels
                                           (sum T_n,) one per row. Labels: strings or integers.

Bad input is a one-line ``ValueError`` naming the file, line and column: a cell that is not a number,
a missing or NaN value (unless ``missing`` is "ffill": carry the last value of the sequence forward,
the first observed value back to the start; or "zero"), a row with the wrong number of fields, a time
that repeats or goes back, a sequence whose label changes (classify), labels that are measurements
(fractional numbers) where classes are expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUFFIXES = (".csv", ".ts", ".npz")         # chosen by suffix; a tab-separated long file (.tsv) needs --input vectors
MISSING = ("none", "ffill", "zero")
ID_NAMES = ("id", "series_id", "sequence_id", "sequence", "seq_id", "case_id", "sample_id")
TIME_NAMES = ("time", "timestamp", "t", "step", "date", "frame")
LABEL_NAMES = ("label", "class", "target", "tag", "y")
NA_CELLS = ("", "na", "nan", "null", "?")


@dataclass(frozen=True)
class Columns:
    """Which CSV columns hold what (None: found by header name); feature_cols: comma-separated names."""
    id_col: str | None = None
    time_col: str | None = None
    label_col: str | None = None
    feature_cols: str | None = None


@dataclass
class VectorSet:
    source: str
    ids: list[str]                     # sequence ids
    xs: list[np.ndarray]               # (T_n, D) float64
    labels: list                       # str per sequence, or (per_step) a list of T_n str
    features: list[str]                # feature names, D of them

    def __len__(self) -> int:
        return len(self.xs)


def is_vector_file(path) -> bool:
    return Path(str(path)).suffix.lower() in SUFFIXES


# ----------------------------------------------------------------------------------------------------
# Cells and missing values.

def parse_cell(text: str, where: str, hint: str = "") -> float:
    """A number, or NaN for a missing cell (empty, NA, NaN, null, ?); text is an error naming ``where``."""
    t = text.strip()
    if t.lower() in NA_CELLS:
        return math.nan
    try:
        value = float(t)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number{hint}") from None
    if math.isinf(value):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return value


def fill_missing(x: np.ndarray, missing: str, where_of) -> np.ndarray:
    """x (T, D) with NaN for missing values -> filled; missing "none": error naming the first gap.

    where_of(t, d) -> the place of value (t, d) in the file, for the message.
    """
    gaps = np.isnan(x)
    if not gaps.any():
        return x
    if missing == "none":
        t, d = np.argwhere(gaps)[0]
        raise ValueError(f"{where_of(t, d)}: missing value (NaN or empty); pass --missing ffill or --missing zero "
                         "to fill gaps")
    if missing == "zero":
        return np.where(gaps, 0.0, x)
    x = x.copy()
    for d in range(x.shape[1]):
        col, seen = x[:, d], ~gaps[:, d]
        if not seen.any():
            col[:] = 0.0
            continue
        last = np.maximum.accumulate(np.where(seen, np.arange(len(col)), -1))
        first = int(np.argmax(seen))
        col[:] = col[np.where(last < 0, first, last)]             # forward fill; the start takes the first value
    return x


# ----------------------------------------------------------------------------------------------------
# Checks across a whole set.

def check_classes(labels, source: str, what: str = "label") -> None:
    """Refuse labels that are measurements: all numbers, some of them fractional (classes are names or integers)."""
    flat = [v for item in labels for v in (item if isinstance(item, list) else [item])]
    numbers = []
    for v in flat:
        try:
            numbers.append(float(v))
        except ValueError:
            return
    fractional = [v for v in numbers if v != int(v)] if all(map(math.isfinite, numbers)) else numbers
    if fractional:
        raise ValueError(f"{source}: the {what}s are numbers such as {fractional[0]:g} ({len(set(flat))} distinct "
                         f"values): classify and tag need classes (names or integers), not measurements")


def looks_numeric(lines, sample: int = 200) -> bool:
    """True when most non-empty lines of a text are numbers only (a token task was given vector data)."""
    seen = numeric = 0
    for line in lines:
        words = line.replace(",", " ").replace("\t", " ").split()
        if not words:
            continue
        seen += 1
        try:
            [float(w) for w in words]
            numeric += len(words) > 1 or "." in words[0]
        except ValueError:
            pass
        if seen >= sample:
            break
    return seen > 0 and numeric >= 0.8 * seen


def check_widths(data: VectorSet, features: int | None) -> None:
    """Every sequence has the features the run was trained on."""
    if features is not None and data.xs and data.xs[0].shape[1] != features:
        raise ValueError(f"{data.source}: {data.xs[0].shape[1]} features per step; the run was trained on {features}")


# ----------------------------------------------------------------------------------------------------
# Standardisation fitted on the training split.

def fit_scaler(xs) -> dict:
    """Per-feature mean and standard deviation over every step of the training sequences (JSON-able)."""
    allx = np.concatenate(xs, axis=0)
    std = allx.std(axis=0)
    return {"mean": allx.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}


def apply_scaler(xs, scaler: dict | None, dtype=np.float32) -> list[np.ndarray]:
    if scaler is None:
        return [x.astype(dtype) for x in xs]
    mean, std = np.array(scaler["mean"]), np.array(scaler["std"])
    return [((x - mean) / std).astype(dtype) for x in xs]


def pad_vectors(xs, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """[(T_n, D)] -> x (T, N, D) zero-padded, mask (T, N) 1 on the real steps (dtype: the sequences' own)."""
    dtype = dtype or xs[0].dtype
    lengths = np.array([len(x) for x in xs])
    T, N, D = int(lengths.max()), len(xs), xs[0].shape[1]
    out = np.zeros((T, N, D), dtype)
    for n, x in enumerate(xs):
        out[:len(x), n] = x
    return out, (np.arange(T)[:, None] < lengths[None]).astype(dtype)
