"""The forecaster's page: each series' recent history, the forecast mean after its end and the 80% / 95%
intervals (the data of ``unroll plot``'s forecast figure, drawn in the browser)."""

from __future__ import annotations

from pathlib import Path

from unroll.command import Page
from unroll.data.series import format_date, read_series
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
    series = read_series(c.data, c.date_column, c.value_columns, c.id_column, c.missing)[:MAX_SERIES]
    rows = task.forecast_future(model)
    keys = ("mean", "lo80", "hi80", "lo95", "hi95")
    return {"horizon": c.horizon, "series": [
        {"name": s.name, "history": {"dates": [format_date(d) for d in s.dates[-history:]],
                                     "values": [float(v) for v in s.values[-history:]]},
         "forecast": [{"date": r["date"], **{k: float(r[k]) for k in keys}} for r in rows if r["series"] == s.name]}
        for s in series]}


SECTION = ('<h3>forecast</h3><div class="controls"><button id="forecast">forecast after the data</button> '
           '<span class="muted">history, the forecast mean and its 80% and 95% intervals</span></div>'
           '<div id="panels"></div>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"forecast": forecast})
