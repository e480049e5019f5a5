"""The forecast task's data beyond the values: covariate columns, their standardisation, the future file.

Covariates (``--past-covariates a,b``, ``--future-covariates x``, and ``--static-columns`` of the long layout, one
number per series, which the network reads like future covariates) are columns of the data file read beside
the values (unroll.data.series: in the wide layout shared by every value column, in the long layout each
series' own). A window carries them as ``ForecastBatch.exog`` (C+h, N, P+Q+R): the P past ones first, then
the Q future ones, then the R static ones. Their scaling, the record's ``"scaling"``:

- ``"window"`` (runs with ``--scaling meanabs`` or ``standard``): the past and future covariates are scaled
  per window like the values, each from its own context part by the same rule (data/windows.py), so a
  covariate that trends with the series (income beside consumption) stays of order 1 over a test tail
  beyond every value of the training part; the static columns are standardised as below.
- ``"global"`` (``--scaling none``, and every run folder from before the record had the key): every column
  is standardised, u = (x - mean) / std, with the mean and std of the training part of every series pooled
  (all but the last ``--valid-length`` points).

The mean and std are kept in config.json either way (``prepared["covariates"]``, written by RunFolder.create)
so that eval and predict scale new files the same way.

``unroll predict RUN future.csv`` reads the future covariates of the h steps after the data's end from
``future.csv``: the run's date column (and id column in the long layout) and every future covariate, one
row per step (other rows are ignored); a missing column, series or step is refused in one line.
"""

from __future__ import annotations

import numpy as np

from unroll.data import series as S


def names(text: str | None) -> list[str]:
    """The columns of a comma list flag (None: none)."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def columns(cfg) -> tuple[list[str], list[str], list[str]]:
    """(past, future, static) column names of the settings."""
    return names(cfg.past_covariates), names(cfg.future_covariates), names(cfg.static_columns)


def check_names(cfg) -> None:
    """A column named twice (past, future, static), or also a value / date / id column, is refused."""
    both = [c for group in columns(cfg) for c in group]
    twice = sorted({c for c in both if both.count(c) > 1})
    if twice:
        raise ValueError(f"covariate column {twice[0]!r} is named twice (in --past-covariates / --future-covariates"
                         " / --static-columns)")
    for flag, given in (("--value-columns", cfg.value_columns), ("--date-column", cfg.date_column),
                        ("--id-column", cfg.id_column)):
        clash = [c for c in names(given) if c in both]
        if clash:
            raise ValueError(f"column {clash[0]!r} is both a covariate and {flag}")


def record(cfg, series: list[S.Series]) -> dict:
    """The run's covariate record (config.json's "covariates"): the column names, the training part's mean
    and std of each, and the scaling rule ("window" unless --scaling none)."""
    past, future, static = columns(cfg)
    return {"past": past, "future": future, "static": static, **stats(series, cfg.V),
            "scaling": "global" if cfg.scaling == "none" else "window"}


def own_scaled(record: dict) -> int:
    """How many leading covariate columns a window scales itself (the past and future ones under the
    "window" rule; 0 under "global", the rule of records without the key)."""
    return len(record["past"]) + len(record["future"]) if record.get("scaling") == "window" else 0


def stats(series: list[S.Series], V: int) -> dict:
    """{"mean", "std"} per covariate column over the training parts (first n - V points) of every series."""
    parts = [s.covariates[:len(s) - V] for s in series if s.covariates is not None]
    if not parts or parts[0].shape[1] == 0:
        return {"mean": [], "std": []}
    pooled = np.concatenate(parts, axis=0)
    std = pooled.std(axis=0)
    return {"mean": [float(v) for v in pooled.mean(axis=0)], "std": [float(v) if v > 0 else 1.0 for v in std]}


def standardised(series: list[S.Series], record: dict) -> list[np.ndarray] | None:
    """Each series' covariates as (n, P+Q+R) standardised with the run's figures, except the first
    ``own_scaled(record)`` columns, left raw for the window to scale (None when there are none)."""
    if not record or not record.get("mean"):
        return None
    mean, std = np.array(record["mean"]), np.array(record["std"])
    mean[:own_scaled(record)], std[:own_scaled(record)] = 0.0, 1.0
    return [(s.covariates - mean) / std for s in series]


def future_block(cfg, path, series: list[S.Series], dates: list[np.ndarray], record: dict) -> list[np.ndarray]:
    """(h, P+Q+R) per series: zeros for the past covariates (never read after the origin), the future file's
    values for the future ones (standardised, or raw for the window to scale: ``standardised``), each
    series' own value for the static ones."""
    past, future, static = columns(cfg)
    first = len(past) + len(future)                                  # the static columns follow
    mean, std = np.array(record["mean"][first:]), np.array(record["std"][first:])
    keep = [np.repeat((s.covariates[-1:, first:] - mean) / std, len(d), axis=0) for s, d in zip(series, dates)]
    if not future:
        return [np.concatenate([np.zeros((len(d), len(past))), k], axis=1) for d, k in zip(dates, keep)]
    if path is None:
        raise ValueError(f"this run reads the future covariates {', '.join(future)} over the horizon: give their "
                         f"next {cfg.horizon} values in a CSV file, `unroll predict RUN future.csv`")
    found = S.read_future(path, cfg.date_column, cfg.id_column, tuple(future),
                          {s.name: d for s, d in zip(series, dates)})
    span = slice(len(past), len(past) + len(future))
    mean, std = np.array(record["mean"][span]), np.array(record["std"][span])
    if own_scaled(record):
        mean, std = np.zeros_like(mean), np.ones_like(std)
    return [np.concatenate([np.zeros((len(d), len(past))), (found[s.name] - mean) / std, k], axis=1)
            for s, d, k in zip(series, dates, keep)]
