"""The forecaster's page: each series' recent history, the forecast mean after its end and the 80% / 95%
intervals (the data of ``unroll plot``'s forecast figure, drawn in the browser), the seasonal naive
forecast beside it (the last season repeated: ``data.windows.seasonal_naive``, the baseline of the task's
snaive_mase); and a backtest from any origin of a chosen series (the window the task's rolling-origin
backtest forecasts, ``ForecastTask.backtest_at``), its actual values beside it."""

from __future__ import annotations

from pathlib import Path

from unroll.command import Page
from unroll.data import windows as W
from unroll.data.series import format_date
from unroll.tasks.probes import Limits, Refused, field_of

MAX_SERIES = 6          # panels on the page, as in the PNG figure (tasks/forecast_plot.MAX_PANELS)


def forecast(task, model, body: dict, limits: Limits) -> dict:
    """{"horizon", "series": [{"name", "history": {"dates", "values"}, "forecast": [{date, mean, lo80, hi80,
    lo95, hi95}]}]} for at most MAX_SERIES series; ``history`` points of each (default 4 horizons or the
    context, whichever is longer)."""
    c = task.cfg
    history = field_of(body, "history", int, default=max(4 * c.horizon, c.context))
    if not 1 <= history <= limits.history_points:
        raise Refused(413 if history > 0 else 422, f"'history' must lie in 1..{limits.history_points}, got {history}")
    series = task.series()[:MAX_SERIES]
    rows = task.forecast_future(model)
    keys = ("mean", "lo80", "hi80", "lo95", "hi95")
    return {"horizon": c.horizon, "series": [
        {"name": s.name, "history": {"dates": [format_date(d) for d in s.dates[-history:]],
                                     "values": [float(v) for v in s.values[-history:]]},
         "forecast": [{"date": r["date"], **{k: float(r[k]) for k in keys}} for r in rows if r["series"] == s.name],
         "baseline": _naive(s.values, len(s), c.horizon, task.prepared["season"])}
        for s in series]}


def _naive(values, origin: int, h: int, season: int) -> list[float] | None:
    """The seasonal naive forecast from ``origin`` (None when less than a season lies before it)."""
    return [float(v) for v in W.seasonal_naive(values, origin, h, season)] if origin >= season else None


def backtest(task, model, body: dict, limits: Limits) -> dict:
    """The forecast of series ``series`` (index) from ``origin`` (its first forecast step; default: the
    first origin of the held-out tail) beside the actual values and the seasonal naive forecast:
    {"name", "origin", "first", "last" (the origins the series allows), "history": {"dates", "values"}
    (the context), "actual", "forecast": [{date, mean, lo80, hi80, lo95, hi95}], "baseline"}."""
    c = task.cfg
    series = task.series()
    k = field_of(body, "series", int, default=0)
    if not 0 <= k < len(series):
        raise Refused(422, f"'series' must lie in 0..{len(series) - 1}, got {k}")
    s, first, last = series[k], c.context, len(series[k]) - c.horizon
    origin = field_of(body, "origin", int, default=max(first, len(s) - c.V))
    if not first <= origin <= last:
        raise Refused(422, f"'origin' must lie in {first}..{last} (a full context before it, a full horizon after), got {origin}")
    point, bounds = task.backtest_at(model, k, origin)
    dates = [format_date(d) for d in s.dates]
    return {"name": s.name, "origin": origin, "first": first, "last": last,
            "history": {"dates": dates[origin - c.context:origin], "values": [float(v) for v in s.values[origin - c.context:origin]]},
            "actual": [float(v) for v in s.values[origin:origin + c.horizon]],
            "forecast": [{"date": dates[origin + i], "mean": float(point[i]), "lo80": float(bounds["80"][0][i]),
                          "hi80": float(bounds["80"][1][i]), "lo95": float(bounds["95"][0][i]),
                          "hi95": float(bounds["95"][1][i])} for i in range(c.horizon)],
            "baseline": _naive(s.values, origin, c.horizon, task.prepared["season"])}


SECTION = ('<h3>forecast</h3><div class="controls"><button id="forecast">forecast after the data</button> '
           '<span class="muted">history, the forecast mean and its 80% and 95% intervals</span></div>'
           '<div id="panels"></div><h3>backtest</h3><div class="controls"><label>series <select id="bseries">'
           '</select></label> <label>origin <input id="origin" type="range" min="0" max="0" value="0"></label> '
           '<span id="originv" class="muted"></span></div><svg id="backtest" class="chart" width="760" height="240"></svg>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"forecast": forecast, "backtest": backtest})
