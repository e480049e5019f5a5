"""Forecasts after the data's end (``unroll predict``, the serve page) and the forecast figure (``unroll plot``).

``future_rows`` forecasts the h steps after each series' last point, with the future covariates of a file
(tasks/forecast_data.py) and the conformal quantiles when the run has them; ``plot`` draws history,
forecast, intervals and the seasonal naive forecast in grey. A run with future covariates and no future
file draws its data's last h points instead, forecast from the origin before them (their covariates are
in the data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.data import series as S
from unroll.tasks import forecast_baselines as FB
from unroll.tasks import forecast_data as FD

KEYS = ("mean", "lo80", "hi80", "lo95", "hi95")


def future_rows(task, model, source: str | None = None, future: str | None = None) -> list[dict]:
    """[{date, series, mean, lo80, hi80, lo95, hi95}] for the h steps after each series' last point."""
    c = task.cfg
    source = source or c.data
    series, _, exog = task._data(source)
    short = [s for s in series if len(s) < c.context]
    if short:
        raise ValueError(f"{source}: series {short[0].name!r} has {len(short[0])} points, fewer than "
                         f"--context {c.context}")
    dates = [S.future_dates(s.dates, c.horizon) for s in series]
    kinds = tuple(task.prepared["calendar"])
    feats = [S.calendar_features(np.concatenate([s.dates, f]), kinds) for s, f in zip(series, dates)]
    if exog is not None:
        ahead = FD.future_block(c, future, series, dates, task.covariates)
        exog = [np.concatenate([e, a], axis=0) for e, a in zip(exog, ahead)]
    picks = [(k, len(s) - c.context) for k, s in enumerate(series)]
    return _rows(task, model, task._batch(source, picks, feats, exog), series, dates)


def last_window_rows(task, model) -> list[dict]:
    """future_rows' rows for the data's last h points, forecast from the origin before them."""
    c = task.cfg
    series = task._data(c.data)[0]
    picks = [(k, len(s) - c.context - c.horizon) for k, s in enumerate(series)]
    return _rows(task, model, task._batch(c.data, picks), series, [s.dates[len(s) - c.horizon:] for s in series])


def _rows(task, model, batch, series, dates) -> list[dict]:
    _, point, bounds, _ = task._forecast(model, batch)
    bounds = task._calibrated(model, batch, point, bounds)
    cols = {"mean": point, "lo80": bounds["80"][0], "hi80": bounds["80"][1], "lo95": bounds["95"][0],
            "hi95": bounds["95"][1]}
    return [{"date": S.format_date(dates[j][i]), "series": series[j].name, **{k: cols[k][i, j] for k in KEYS}}
            for j in range(len(series)) for i in range(task.cfg.horizon)]


def plot(task, model, out: Path, future: str | None = None) -> Path:
    """The forecast figure (tasks/forecast_plot.py) with the seasonal naive forecast in grey -> out."""
    from unroll.tasks.forecast_plot import forecast_figure, save
    series = task._data(task.cfg.data)[0]
    h, m = task.cfg.horizon, task.prepared["season"]
    if task.covariates["future"] and future is None:
        rows, cut = last_window_rows(task, model), h
    else:
        rows, cut = future_rows(task, model, future=future), 0
    before = [S.Series(s.name, s.dates[:len(s) - cut], s.values[:len(s) - cut], s.observed[:len(s) - cut])
              for s in series]
    baseline = {s.name: b for s, b in zip(series, FB.future(before, h, m))}
    fig = forecast_figure(series, rows, history=max(4 * h, task.cfg.context), baseline=baseline)
    return save(fig, out)
