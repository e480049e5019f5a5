"""Time series from CSV files: one or many series, checked cell by cell, with calendar features and scaling.

Layouts (the first line is the header):

- wide: a date/time column (``date_column``, default the first) and one series per value column
  (``value_columns``, default every other column): ``Month,Passengers`` / ``1949-01,112``;
- long: a series-id column (``id_column``) as well, one value column, rows of the series in any
  interleaving: ``date,store,sales``.

Timestamps: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DD[ T]HH:MM[:SS]``, or integers (a time index);
within each series they must increase strictly. A value is a number; an empty cell or NA / NaN / null is
missing: refused unless ``missing`` is "ffill" (carry the last observation forward; leading gaps take the
first one) or "zero". Filled points are inputs, never targets (``observed`` is 0 there). Every refusal is
one line naming the file, the line and the column.

Calendar features (for ``calendar="auto"``: monthly -> month; daily -> day of week, day of year; hourly ->
hour, day of week; integer index -> none): each a (sin, cos) pair of its phase, so December sits next to
January. Scaling of one window from its context (DeepAR's idea): ``meanabs`` z = y / mean|y|,
``standard`` z = (y - mean) / std, ``none``.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.data.text import read_text

MISSING = ("refuse", "ffill", "zero")
SCALINGS = ("meanabs", "standard", "none")
CALENDAR = ("month", "dow", "doy", "hour")
AUTO_CALENDAR = {"monthly": ("month",), "quarterly": ("month",), "daily": ("dow", "doy"), "weekly": ("doy",),
                 "hourly": ("hour", "dow"), "yearly": (), "index": ()}
SEASON = {"monthly": 12, "quarterly": 4, "daily": 7, "weekly": 52, "hourly": 24, "yearly": 1, "index": 1}
NA = ("", "na", "nan", "null", "none", "n/a")


@dataclass
class Series:
    name: str
    dates: np.ndarray          # (n,) datetime64 or int64 (a time index)
    values: np.ndarray         # (n,) float64, filled where missing
    observed: np.ndarray       # (n,) float64 0/1
    covariates: np.ndarray | None = None   # (n, K) float64 of the ``covariates`` columns (filled), or None

    def __len__(self) -> int:
        return len(self.values)


def read_series(path, date_column: str | None = None, value_columns: str | None = None,
                id_column: str | None = None, missing: str = "refuse", covariates: tuple[str, ...] = (),
                constant: tuple[str, ...] = ()) -> list[Series]:
    """The series of a CSV file (see the module docstring); a one-line ValueError for any bad cell.

    covariates: columns read beside the values into ``Series.covariates`` (n, K), in this order (never value
    columns): in the wide layout one set shared by every value column, in the long layout each series' own.
    constant: those of the covariates that must hold one value per series (static features; long layout)."""
    if missing not in MISSING:
        raise ValueError(f"--missing must be one of {', '.join(MISSING)}, got {missing!r}")
    rows = _rows(Path(path))
    header, body = rows[0][1], rows[1:]
    date_i = _column(path, header, date_column, 0) if date_column is not None else 0
    id_i = _column(path, header, id_column) if id_column is not None else None
    cov_is = [_column(path, header, c) for c in covariates]
    rest = [i for i in range(len(header)) if i not in (date_i, id_i, *cov_is)]
    value_is = [_column(path, header, c) for c in value_columns.split(",")] if value_columns else rest
    if not value_is:
        raise ValueError(f"{path}: the header names no value column besides the date column {header[date_i]!r}")
    if id_i is not None and len(value_is) != 1:
        raise ValueError(f"{path}: a long layout (--id-column) has one value column; choose it with "
                         f"--value-columns (one of {', '.join(header[i] for i in value_is)})")
    groups: dict[str, list] = {}
    for number, cells in body:
        if len(cells) != len(header):
            raise ValueError(f"{path} line {number}: {len(cells)} cells, the header has {len(header)}")
        key = cells[id_i] if id_i is not None else ""
        groups.setdefault(key, []).append((number, cells))
    out = []
    for key, lines in groups.items():
        dates = _dates(path, lines, date_i, header[date_i])
        cov = _block(path, lines, cov_is, header, missing) if covariates else None
        for name in constant:
            _check_constant(path, lines, header.index(name), name)
        for i in value_is:
            name = key if id_i is not None else header[i]
            values, observed = _values(path, lines, i, header[i], missing)
            out.append(Series(name, dates, values, observed, cov))
    return out


def read_future(path, date_column: str | None, id_column: str | None, columns: tuple[str, ...],
                wanted: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``columns`` of a file of future values at the timestamps ``wanted`` = {series name: (h,) dates}
    -> {name: (h, len(columns))}. Wide layout: one set of rows for every series; long: each series' own rows
    (``id_column``). Rows at other timestamps are ignored; a missing column, series or timestamp is one line."""
    rows = _rows(Path(path))
    header, body = rows[0][1], rows[1:]
    date_i = _column(path, header, date_column) if date_column is not None else 0
    id_i = _column(path, header, id_column) if id_column is not None else None
    cov_is = [_column(path, header, c) for c in columns]
    groups: dict[str, list] = {}
    for number, cells in body:
        if len(cells) != len(header):
            raise ValueError(f"{path} line {number}: {len(cells)} cells, the header has {len(header)}")
        groups.setdefault(cells[id_i] if id_i is not None else "", []).append((number, cells))
    out = {}
    for name, dates in wanted.items():
        key = name if id_i is not None else ""
        if key not in groups:
            raise ValueError(f"{path}: no rows of series {name!r} (column {header[id_i]})")
        lines = groups[key]
        have = _dates(path, lines, date_i, header[date_i])
        if have.dtype.kind == "M" and dates.dtype.kind == "M":
            have = have.astype(dates.dtype)
        at = {d: k for k, d in enumerate(have.tolist())}
        for step, d in enumerate(dates.tolist(), 1):
            if d not in at:
                raise ValueError(f"{path}: no row for {format_date(dates[step - 1])} (step {step} of the "
                                 f"horizon {len(dates)}){'' if id_i is None else f' of series {name!r}'}")
        block = _block(path, [lines[at[d]] for d in dates.tolist()], cov_is, header, "refuse")
        out[name] = block
    return out


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------------
# Cells.

def _rows(path: Path) -> list[tuple[int, list[str]]]:
    text = read_text(path)                             # the one decoder: a folder, binary, not UTF-8 ...
    lines = text.splitlines()
    rows = [(n, [c.strip() for c in cells]) for n, cells in zip(range(1, len(lines) + 1), csv.reader(lines))
            if any(c.strip() for c in cells)]
    if len(rows) < 2:
        raise ValueError(f"{path}: a header line and at least one row of values are needed")
    return rows


def _column(path, header: list[str], name: str, default: int | None = None) -> int:
    if name in header:
        return header.index(name)
    raise ValueError(f"{path}: no column {name!r} in the header ({', '.join(header)})")


def _dates(path, lines, col: int, name: str) -> np.ndarray:
    """Parsed timestamps, strictly increasing, one-line errors naming line and column."""
    cells = [cells[col] for _, cells in lines]
    if all(_is_int(c) for c in cells):
        dates = np.array([int(c) for c in cells], np.int64)
    else:
        parsed = []
        for (number, _), cell in zip(lines, cells):
            try:
                parsed.append(np.datetime64(cell.replace(" ", "T")))
            except ValueError:
                raise ValueError(f"{path} line {number} column {col + 1} ({name}): {cell!r} is not a date "
                                 "(YYYY-MM, YYYY-MM-DD, YYYY-MM-DD HH:MM) or an integer time index") from None
        dates = _monthly_if_first_days(np.array(parsed))
    for k in range(1, len(dates)):
        if dates[k] <= dates[k - 1]:
            what = "repeats the timestamp" if dates[k] == dates[k - 1] else "comes before the timestamp"
            raise ValueError(f"{path} line {lines[k][0]} column {col + 1} ({name}): {cells[k]} {what} {cells[k - 1]} "
                             f"of line {lines[k - 1][0]}; rows of a series must be in strictly increasing time order")
    return dates


def _monthly_if_first_days(dates: np.ndarray) -> np.ndarray:
    """Dates that are all the first of a month, a month or more apart, become months (unit M)."""
    if dates.dtype == np.dtype("datetime64[D]") and len(dates) > 1:
        months = dates.astype("datetime64[M]")
        if np.all(months.astype("datetime64[D]") == dates) and np.all(np.diff(months.astype(np.int64)) >= 1):
            return months
    return dates


def _is_int(cell: str) -> bool:
    return cell.lstrip("-").isdigit()


def _values(path, lines, col: int, name: str, missing: str) -> tuple[np.ndarray, np.ndarray]:
    values, observed = np.empty(len(lines)), np.ones(len(lines))
    for k, (number, cells) in enumerate(lines):
        cell = cells[col]
        if cell.lower() in NA:
            value = np.nan
        else:
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(f"{path} line {number} column {col + 1} ({name}): {cell!r} is not a number") from None
            if np.isinf(value):
                raise ValueError(f"{path} line {number} column {col + 1} ({name}): {cell!r} is not a finite number")
        if np.isnan(value):
            if missing == "refuse":
                raise ValueError(f"{path} line {number} column {col + 1} ({name}): missing value {cell!r}; "
                                 "pass --missing ffill or --missing zero to fill missing values")
            observed[k] = 0.0
        values[k] = value
    if not observed.any():
        raise ValueError(f"{path} column {col + 1} ({name}): every value is missing")
    return _fill(values, observed, missing), observed


def _check_constant(path, lines, col: int, name: str) -> None:
    first_line, first = lines[0][0], lines[0][1][col]
    for number, cells in lines[1:]:
        if cells[col] != first:
            raise ValueError(f"{path} line {number} column {col + 1} ({name}): {cells[col]!r} differs from {first!r} "
                             f"on line {first_line} of the same series; a --static-columns column holds one value "
                             "per series")


def _block(path, lines, cols: list[int], header: list[str], missing: str) -> np.ndarray:
    """(rows, len(cols)) of covariate columns, read like values (one-line errors, ``missing`` filling)."""
    if not cols:
        return np.zeros((len(lines), 0))
    return np.stack([_values(path, lines, i, header[i], missing)[0] for i in cols], axis=1)


def _fill(values: np.ndarray, observed: np.ndarray, missing: str) -> np.ndarray:
    if missing == "zero":
        return np.where(observed > 0, values, 0.0)
    index = np.where(observed > 0, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)                      # the last observed position so far
    first = int(np.argmax(observed > 0))
    index[:first] = first                                        # leading gaps take the first observation
    return values[index]


# ----------------------------------------------------------------------------------------------------
# Time: frequency, future timestamps, calendar features.

def frequency(dates: np.ndarray) -> str:
    """monthly | quarterly | yearly | daily | weekly | hourly | index, from the unit and the usual step."""
    if dates.dtype.kind != "M":
        return "index"
    step = _step(dates)
    unit = np.datetime_data(dates.dtype)[0]
    if unit == "Y":
        return "yearly"
    if unit == "M":
        return {1: "monthly", 3: "quarterly", 12: "yearly"}.get(int(step), "monthly")
    seconds = step / np.timedelta64(1, "s")
    return "weekly" if seconds == 7 * 86400 else "daily" if seconds >= 86400 else "hourly"


def _step(dates: np.ndarray):
    if len(dates) < 2:
        return np.ones((), dates.dtype if dates.dtype.kind != "M" else np.int64)
    diffs = np.diff(dates)
    values, counts = np.unique(diffs, return_counts=True)
    return values[np.argmax(counts)]                             # the most common step


def future_dates(dates: np.ndarray, h: int) -> np.ndarray:
    """The h timestamps after the last one, at the series' most common step."""
    return dates[-1] + _step(dates) * np.arange(1, h + 1)


def format_date(d) -> str:
    return str(d)


def calendar_kinds(spec: str, freq: str) -> tuple[str, ...]:
    """The features that ``--calendar`` (auto | none | a comma list of month, dow, doy, hour) asks for."""
    if spec == "auto":
        return AUTO_CALENDAR[freq]
    if spec == "none":
        return ()
    kinds = tuple(k for k in spec.split(",") if k)
    bad = [k for k in kinds if k not in CALENDAR]
    if bad:
        raise ValueError(f"--calendar must be auto, none or a comma list of {', '.join(CALENDAR)}, got {bad[0]!r}")
    if kinds and freq == "index":
        raise ValueError("--calendar needs dates; this data has an integer time index (use --calendar none)")
    return kinds


def calendar_features(dates: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """(n, 2·len(kinds)) sin and cos of each feature's phase in [0, 1)."""
    phases = []
    for kind in kinds:
        if kind == "month":
            phases.append((dates.astype("datetime64[M]").astype(np.int64) % 12) / 12.0)
        elif kind == "dow":                                          # 1970-01-01 was a Thursday
            phases.append(((dates.astype("datetime64[D]").astype(np.int64) + 3) % 7) / 7.0)
        elif kind == "doy":
            days = dates.astype("datetime64[D]") - dates.astype("datetime64[Y]").astype("datetime64[D]")
            phases.append(days.astype(np.int64) / 366.0)
        else:
            phases.append((dates.astype("datetime64[h]").astype(np.int64) % 24) / 24.0)
    if not phases:
        return np.zeros((len(dates), 0))
    angle = 2 * np.pi * np.stack(phases, axis=1)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


# ----------------------------------------------------------------------------------------------------
# Scaling of a window from its context.

def window_scale(context: np.ndarray, observed: np.ndarray, kind: str) -> tuple[float, float]:
    """(loc, scale) of one window from its observed context values: y = loc + scale · z."""
    if kind not in SCALINGS:
        raise ValueError(f"--scaling must be one of {', '.join(SCALINGS)}, got {kind!r}")
    seen = context[observed > 0]
    if kind == "none" or not len(seen):
        return 0.0, 1.0
    if kind == "meanabs":
        s = float(np.mean(np.abs(seen)))
        return 0.0, s if s > 0 else 1.0
    s = float(np.std(seen))
    return float(np.mean(seen)), s if s > 0 else max(abs(float(np.mean(seen))), 1.0)


def seasonal_scale(values: np.ndarray, m: int) -> float:
    """MASE's denominator: the in-sample mean absolute error of the seasonal naive forecast y_t = y_{t-m}."""
    if len(values) <= m:
        raise ValueError(f"the seasonal scale needs more than m = {m} training points, got {len(values)}")
    scale = float(np.mean(np.abs(values[m:] - values[:-m])))
    return scale if scale > 0 else 1.0
