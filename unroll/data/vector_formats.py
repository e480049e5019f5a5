"""The three file formats of ``unroll.data.vectors``: long CSV, the UEA/UCR ``.ts`` format, NumPy ``.npz``.

Each reader returns a ``VectorSet`` and raises one-line ``ValueError``s naming the file, line and column
(the formats and the messages are described in ``unroll.data.vectors``); ``read_vectors`` picks the
reader by the file's suffix.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from unroll.data.columns import lines_of
from unroll.data.text import read_text
from unroll.data.vectors import (ID_NAMES, LABEL_NAMES, MISSING, TIME_NAMES, Columns, VectorSet, fill_missing,
                                 parse_cell)


def read_vectors(path, columns: Columns = Columns(), per_step: bool = False, missing: str = "none",
                 labelled: bool = True) -> VectorSet:
    """The sequences of a .csv / .tsv / .ts / .npz file (any other suffix is read as a CSV).

    labelled=False (predict): the label column / array may be absent; labels are then None.
    """
    if missing not in MISSING:
        raise ValueError(f"--missing must be one of {', '.join(MISSING)}, got {missing!r}")
    path = Path(path)
    if not path.is_file():
        read_text(path)                            # the one message for a missing file, a folder, a device
    suffix = path.suffix.lower()
    if suffix == ".ts":
        if per_step:
            raise ValueError(f"{path}: a .ts file has one label per case; a label per step (--task tag) needs "
                             "a long CSV or an .npz file")
        data = read_ts(path, missing)
    elif suffix == ".npz":
        data = read_npz(path, per_step, missing, labelled)
    else:
        data = read_long_csv(path, columns, per_step, missing, "\t" if suffix == ".tsv" else ",", labelled)
    if not data.xs:
        raise ValueError(f"{path}: no sequences")
    return data


# ----------------------------------------------------------------------------------------------------
# Long CSV.

def _pick(header: list[str], given: str | None, names: tuple, what: str, path, flag: str) -> int | None:
    lower = [h.strip().lower() for h in header]
    if given is not None:
        if given not in header and given.lower() not in lower:
            raise ValueError(f"{path}: {flag} {given!r} is not a column (the header has {', '.join(header)})")
        return header.index(given) if given in header else lower.index(given.lower())
    for name in names:
        if name in lower:
            return lower.index(name)
    return None


def _time_value(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(f"{where}: time {text!r} is neither a number nor an ISO date") from None


def read_long_csv(path, columns: Columns = Columns(), per_step: bool = False, missing: str = "none",
                  delimiter: str = ",", labelled: bool = True) -> VectorSet:
    """One row per step: an id column, an optional time column, feature columns and a label column."""
    rows = list(csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path}: empty file (expected a header line naming the columns)")
    header = [h.strip() for h in rows[0]]
    id_i = _pick(header, columns.id_col, ID_NAMES, "id", path, "--id-col")
    time_i = _pick(header, columns.time_col, TIME_NAMES, "time", path, "--time-col")
    label_i = _pick(header, columns.label_col, LABEL_NAMES, "label", path, "--label-col")
    if id_i is None:
        raise ValueError(f"{path}: no sequence id column (looked for {', '.join(ID_NAMES)}); name it with --id-col")
    if label_i is None and labelled:
        raise ValueError(f"{path}: no label column (looked for {', '.join(LABEL_NAMES)}); name it with --label-col")
    used = {id_i} | {i for i in (time_i, label_i) if i is not None}
    if columns.feature_cols:
        feats = [_pick(header, name.strip(), (), "feature", path, "--feature-cols")
                 for name in columns.feature_cols.split(",") if name.strip()]
    else:
        feats = [i for i in range(len(header)) if i not in used]
    if not feats or used & set(feats):
        raise ValueError(f"{path}: no feature columns besides the id, time and label columns; name them with "
                         "--feature-cols")
    groups: dict[str, dict] = {}
    for line, row in enumerate(rows[1:], 2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        sid = row[id_i].strip()
        g = groups.setdefault(sid, {"values": [], "labels": [], "lines": [], "time": None})
        if time_i is not None:
            t = _time_value(row[time_i], f"{path}:{line}: column {header[time_i]!r} (column {time_i + 1})")
            if g["time"] is not None and t <= g["time"]:
                kind = "repeats" if t == g["time"] else "goes back from"
                raise ValueError(f"{path}:{line}: column {header[time_i]!r} (column {time_i + 1}): sequence {sid!r} "
                                 f"time {row[time_i].strip()} {kind} the time on line {g['lines'][-1]}; "
                                 "rows must be in increasing time within a sequence")
            g["time"] = t
        hint = lambda j: (f" (if {header[j]!r} holds classes, name it with --label-col "  # noqa: E731
                          "or leave it out of --feature-cols)")
        g["values"].append([parse_cell(row[j], f"{path}:{line}: column {header[j]!r} (column {j + 1})", hint(j))
                            for j in feats])
        label = row[label_i].strip() if label_i is not None else None
        if label is None:
            pass
        elif not label:
            raise ValueError(f"{path}:{line}: column {header[label_i]!r} (column {label_i + 1}): empty label")
        if not per_step and g["labels"] and label != g["labels"][0]:
            raise ValueError(f"{path}:{line}: column {header[label_i]!r} (column {label_i + 1}): sequence {sid!r} has "
                             f"the label {label!r} here but {g['labels'][0]!r} on line {g['lines'][0]}; classify "
                             "needs one label per sequence (a label per row: --task tag)")
        g["labels"].append(label)
        g["lines"].append(line)
    ids, xs, labels = list(groups), [], []
    for sid in ids:
        g = groups[sid]
        x = np.array(g["values"], np.float64)
        where = lambda t, d, g=g: (f"{path}:{g['lines'][t]}: column {header[feats[d]]!r} "  # noqa: E731
                                   f"(column {feats[d] + 1})")
        xs.append(fill_missing(x, missing, where))
        labels.append(None if label_i is None else g["labels"] if per_step else g["labels"][0])
    return VectorSet(str(path), ids, xs, labels, [header[j] for j in feats])


# ----------------------------------------------------------------------------------------------------
# The UEA/UCR .ts format.

def read_ts(path, missing: str = "none") -> VectorSet:
    """A .ts file as sktime and aeon write it: @-headers, @data, then ``dim1:dim2:...:label`` a case."""
    info, classes, ids, xs, labels, dims = {}, None, [], [], [], None
    data_started = False
    for line, raw in enumerate(lines_of(read_text(path)), 1):      # lines split at "\n" only
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if not data_started:
            if not text.startswith("@"):
                raise ValueError(f"{path}:{line}: expected an @-header line or @data, got {text[:40]!r}")
            key, _, value = text[1:].partition(" ")
            key = key.lower()
            if key == "data":
                data_started = True
            elif key == "classlabel":
                words = value.split()
                classes = words[1:] if words and words[0].lower() == "true" else None
            info[key] = value.strip()
            continue
        if info.get("timestamps", "false").lower() == "true":
            raise ValueError(f"{path}: @timeStamps true is not supported (write the series without timestamps)")
        parts = text.split(":")
        has_label = classes is not None or info.get("targetlabel", "false").lower().startswith("true")
        series, label = (parts[:-1], parts[-1].strip()) if has_label else (parts, "")
        if not series:
            raise ValueError(f"{path}:{line}: no ':' before the class label (a case is dim1:dim2:...:label)")
        if dims is None:
            dims = int(info["dimensions"]) if "dimensions" in info else len(series)
        if len(series) != dims:
            raise ValueError(f"{path}:{line}: {len(series)} dimensions, the file has {dims} (@dimensions or the "
                             "first case)")
        values = []
        for d, s in enumerate(series):
            cells = s.split(",")
            values.append([parse_cell(c, f"{path}:{line}: dimension {d + 1}, value {k + 1}")
                           for k, c in enumerate(cells)])
            if len(cells) != len(values[0]):
                raise ValueError(f"{path}:{line}: dimension {d + 1} has {len(cells)} values, dimension 1 has "
                                 f"{len(values[0])} (every dimension of a case needs the same length)")
        if classes is not None and label not in classes:
            raise ValueError(f"{path}:{line}: class label {label!r} is not one of @classLabel "
                             f"{' '.join(classes)}")
        x = np.array(values, np.float64).T                                              # (T, D)
        xs.append(fill_missing(x, missing, lambda t, d, line=line: f"{path}:{line}: dimension {d + 1}, "
                                                                    f"value {t + 1}"))
        ids.append(str(len(ids)))
        labels.append(label)
    if not data_started:
        raise ValueError(f"{path}: no @data line (is this a .ts file of the UEA/UCR archive?)")
    return VectorSet(str(path), ids, xs, labels, [f"dim_{d}" for d in range(dims or 0)])


# ----------------------------------------------------------------------------------------------------
# NumPy .npz.

def read_npz(path, per_step: bool = False, missing: str = "none", labelled: bool = True) -> VectorSet:
    """x_0..x_{M-1} + labels, or values + lengths + labels; never unpickles (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as err:
        raise ValueError(f"{path}: {err} (save plain numeric and string arrays: no lists of objects)") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from None
    if "labels" not in arrays and labelled:
        raise ValueError(f"{path}: no 'labels' array (it holds {', '.join(sorted(arrays)) or 'nothing'})")
    if "values" in arrays:
        values, lengths = arrays["values"], arrays.get("lengths")
        if lengths is None or lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 1:
            raise ValueError(f"{path}: 'values' needs 'lengths', a 1-D array of positive integers")
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] != lengths.sum():
            raise ValueError(f"{path}: 'values' has shape {values.shape}; expected (sum of lengths = "
                             f"{int(lengths.sum())}, D)")
        xs = np.split(values, np.cumsum(lengths)[:-1])
        names = [f"values[{s}:{s + n}]" for s, n in zip(np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)]
    else:
        keys = sorted((k for k in arrays if k.startswith("x_")), key=lambda k: (len(k), k))
        if not keys or [k for k in keys] != [f"x_{i}" for i in range(len(keys))]:
            raise ValueError(f"{path}: expected arrays x_0, x_1, ... (one per sequence) or 'values' + 'lengths'")
        xs = [arrays[k][:, None] if arrays[k].ndim == 1 else arrays[k] for k in keys]
        names = keys
    D = xs[0].shape[1] if xs[0].ndim == 2 else None
    for name, x in zip(names, xs):
        if x.ndim != 2 or x.shape[1] != D or x.shape[0] < 1:
            raise ValueError(f"{path}: array {name} has shape {x.shape}; every sequence needs shape "
                             f"(T_n >= 1, D = {D})")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise ValueError(f"{path}: array {name} holds {x.dtype}, not numbers")
    M, rows = len(xs), sum(len(x) for x in xs)
    if "labels" not in arrays:
        out = [fill_missing(x.astype(np.float64), missing, lambda t, d, n=n: f"{path}: {n} row {t}, column {d}")
               for n, x in zip(names, xs)]
        return VectorSet(str(path), [str(i) for i in range(M)], out, [None] * M, [f"x{d}" for d in range(D)])
    labels = [str(v) for v in arrays["labels"].tolist()]
    if per_step and len(labels) != rows:
        raise ValueError(f"{path}: 'labels' holds {len(labels)} values; tag needs one per row ({rows})")
    if not per_step and len(labels) != M:
        raise ValueError(f"{path}: 'labels' holds {len(labels)} values for {M} sequences")
    out = []
    for name, x in zip(names, xs):
        out.append(fill_missing(x.astype(np.float64), missing, lambda t, d, name=name: f"{path}: {name} row {t}, "
                                                                                     f"column {d}"))
    if per_step:
        cuts = np.cumsum([len(x) for x in xs])[:-1]
        labels = [list(part) for part in np.split(np.array(labels), cuts)]
    return VectorSet(str(path), [str(i) for i in range(M)], out, labels, [f"x{d}" for d in range(D)])
