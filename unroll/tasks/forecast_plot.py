"""History, forecast and prediction intervals of a forecast run, one panel per series (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_PANELS = 6


def forecast_figure(series, rows: list[dict], history: int = 48, baseline: dict | None = None):
    """A Figure: per series (at most MAX_PANELS) its last ``history`` points, the forecast mean and the
    80% / 95% bands. series: unroll.data.series.Series list; rows: ForecastTask.forecast_future's rows;
    baseline: {series name: (h,) a baseline's forecast on the rows' dates}, drawn in grey under the rest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = series[:MAX_PANELS]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 3.2 * len(shown)), squeeze=False)
    for ax, s in zip(axes[:, 0], shown):
        mine = [r for r in rows if r["series"] == s.name]
        future = np.array([np.datetime64(r["date"]) if s.dates.dtype.kind == "M" else int(r["date"]) for r in mine])
        col = {k: np.array([r[k] for r in mine]) for k in ("mean", "lo80", "hi80", "lo95", "hi95")}
        ax.plot(s.dates[-history:], s.values[-history:], color="black", lw=1.2, label="history")
        if baseline is not None and s.name in baseline:
            ax.plot(future, baseline[s.name], color="grey", lw=1.2, ls="--", label="seasonal naive", zorder=1)
        ax.fill_between(future, col["lo95"], col["hi95"], color="tab:blue", alpha=0.18, label="95% interval")
        ax.fill_between(future, col["lo80"], col["hi80"], color="tab:blue", alpha=0.35, label="80% interval")
        ax.plot(future, col["mean"], color="tab:blue", lw=1.6, label="forecast (mean)")
        ax.set(title=s.name, ylabel="value")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def save(fig, out: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
