"""The panel and the covariate suites of benchmarks/forecast.py (run through it: ``--suite panel,covariate``).

Panel: the World Bank total fertility rates that statsmodels ships (``statsmodels.datasets.fertility``: 219
countries and aggregates, annual 1960-2013, wide). Each row's last run of consecutive values is one series
(series of fewer than MIN_POINTS = 40 points, what the conformal variant needs, are left out), written in the long layout. One global network
(per-window scaling, a series embedding, batches drawn across every series) is trained once on the part
before the test tail (the last PANEL["test"] years, origins every PANEL["stride"]); it is scored against
seasonal naive (= naive, yearly data), AutoETS and AutoARIMA fitted per series by statsforecast on the same
origins, each series' MASE scaled by its own in-sample naive MAE, then pooled. The conformal variant
calibrates on the CALIBRATION years before the test tail. Scaling: the same run on the first 25%, 50% and
100% of the series, timing training, evaluation and their peak traced memory (tracemalloc): a training step
costs the same whatever the number of series (a batch is --batch windows), the evaluation grows linearly.

Covariate: US real personal consumption (``statsmodels.datasets.macrodata``, quarterly 1959Q1-2009Q3,
realcons) with real disposable income (realdpi) as a covariate: no covariate, income as a past covariate
(read up to the origin), and income as a future covariate (its values over the horizon known: an oracle
bound of what a good income forecast would give). The task's own baselines (naive, seasonal naive, AutoETS
with statsforecast) come from the same backtest.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np

from unroll import runs as run
from unroll.config import TrainConfig
from unroll.models.forecaster import NETWORK
from unroll.tasks.forecast import ForecastConfig, ForecastTask

PANEL = dict(context=10, horizon=5, test=10, stride=5, season=1)
CALIBRATION = 15
MIN_POINTS = PANEL["context"] + PANEL["horizon"] + CALIBRATION + PANEL["test"]   # 40: the conformal variant's too
COVARIATE = dict(context=16, horizon=4, test=40, stride=4)
KEYS = ("mase", "smape", "rmse", "coverage_80", "coverage_95", "winkler_80", "winkler_95")


def fertility_csv(out: Path, limit: int | None = None) -> Path:
    """The panel in the long layout (year,country,fertility): each row's last run of consecutive values."""
    from statsmodels.datasets import fertility
    data = fertility.load_pandas().data
    years = [c for c in data.columns if c.isdigit()]
    lines, kept = ["year,country,fertility"], 0
    for _, row in data.iterrows():
        values = row[years].to_numpy(float)
        seen = np.flatnonzero(~np.isnan(values))
        if not len(seen):
            continue
        end = seen[-1] + 1
        start = end - 1
        while start > 0 and not np.isnan(values[start - 1]):
            start -= 1
        if end - start < MIN_POINTS or (limit is not None and kept >= limit):
            continue
        kept += 1
        lines += [f"{years[t]},{row['Country Code']},{values[t]:.4f}" for t in range(start, end)]
    out.write_text("\n".join(lines) + "\n")
    return out


def train(data: Path, folder: Path, steps: int, **settings) -> tuple:
    """(task, model, training seconds) of a run on ``data`` with the forecast settings given."""
    cfg = ForecastConfig(data=str(data), **settings)
    config = TrainConfig(**{**ForecastTask.train_defaults, "max_steps": steps, "eval_every": steps, "seed": 0})
    start = time.perf_counter()
    trainer = run.start(folder, "forecast", {"forecast": cfg, "network": NETWORK(hidden_size=32)}, config, quiet=True)
    trainer.train()
    return trainer.task, trainer.model, time.perf_counter() - start


def panel_baselines(path: Path) -> dict:
    """Seasonal naive (lag 1), AutoETS and AutoARIMA per series on the test origins (statsforecast)."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive
    from forecast import scores                               # benchmarks/forecast.py

    df = pd.read_csv(path).rename(columns={"country": "unique_id", "year": "ds", "fertility": "y"})
    h, V = PANEL["horizon"], PANEL["test"]
    cv = StatsForecast(models=[SeasonalNaive(1), AutoETS(), AutoARIMA()], freq=1, n_jobs=1).cross_validation(
        df=df, h=h, step_size=PANEL["stride"], n_windows=(V - h) // PANEL["stride"] + 1, level=[80, 95])
    scale = {k: float(np.mean(np.abs(np.diff(g["y"].to_numpy()[:-V])))) or 1.0 for k, g in df.groupby("unique_id")}
    truth, each = cv["y"].to_numpy(), cv["unique_id"].map(scale).to_numpy()
    return {name: scores(truth, cv, col, each) for name, col in
            (("seasonal naive", "SeasonalNaive"), ("AutoETS", "AutoETS"), ("AutoARIMA", "AutoARIMA"))}


def panel(steps: int, work: Path, limit: int | None = None) -> dict:
    path = fertility_csv(work / "fertility.csv", limit)
    common = dict(id_column="country", context=PANEL["context"], horizon=PANEL["horizon"],
                  valid_length=PANEL["test"], stride=PANEL["stride"], season=1, series_embedding=4)
    task, model, seconds = train(path, work / "panel", steps, **common)
    series = len(task.prepared["series"])
    results = {"unroll (global, embedding 4)": {k: task.metrics(model, "valid")[k] for k in KEYS} |
               {"train_s": seconds}}
    task_c, model_c, seconds_c = train(path, work / "panel-conformal", steps, **common, intervals="conformal",
                                       calibration_length=CALIBRATION)
    results["unroll (global, conformal)"] = {k: task_c.metrics(model_c, "valid")[k] for k in KEYS} | \
        {"train_s": seconds_c}
    results.update(panel_baselines(path))
    print(f"panel: {series} series, unroll MASE {results['unroll (global, embedding 4)']['mase']:.4f}",
          file=sys.stderr)
    return {"series": series, "setup": PANEL, "results": results, "scaling": scaling(path, work, steps, series)}


def scaling(path: Path, work: Path, steps: int, total: int) -> list[dict]:
    """Training and evaluation time and peak traced memory on the first 25%, 50%, 100% of the series."""
    names = list(dict.fromkeys(line.split(",")[1] for line in path.read_text().splitlines()[1:]))
    rows = []
    for share in (0.25, 0.5, 1.0):
        keep = set(names[:max(1, round(share * total))])
        part = work / f"fertility-{share}.csv"
        lines = path.read_text().splitlines()
        part.write_text("\n".join([lines[0]] + [x for x in lines[1:] if x.split(",")[1] in keep]) + "\n")
        tracemalloc.start()
        task, model, seconds = train(part, work / f"scale-{share}", steps, id_column="country", season=1,
                                     **{k: PANEL[k] for k in ("context", "horizon", "stride")},
                                     valid_length=PANEL["test"])
        start = time.perf_counter()
        task.metrics(model, "valid")
        evaluate = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        rows.append({"series": len(keep), "train_s": seconds, "eval_s": evaluate, "peak_mib": peak})
    return rows


def macro_csv(out: Path) -> Path:
    from statsmodels.datasets import macrodata
    data = macrodata.load_pandas().data
    lines = ["quarter,realcons,realdpi"] + [f"{int(r.year)}-{3 * int(r.quarter) - 2:02d}-01,{r.realcons},{r.realdpi}"
                                           for r in data.itertuples()]
    out.write_text("\n".join(lines) + "\n")
    return out


def covariate(steps: int, work: Path) -> dict:
    path = macro_csv(work / "macro.csv")
    common = dict(value_columns="realcons", context=COVARIATE["context"], horizon=COVARIATE["horizon"],
                  valid_length=COVARIATE["test"], stride=COVARIATE["stride"])
    results = {}
    for label, extra in (("no covariate", {}), ("income, past covariate", {"past_covariates": "realdpi"}),
                         ("income, future covariate (oracle)", {"future_covariates": "realdpi"})):
        task, model, seconds = train(path, work / f"macro-{len(results)}", steps, **common, **extra)
        got = task.metrics(model, "valid")
        results[label] = {k: got[k] for k in (*KEYS, "naive_mase", "snaive_mase") if k in got} | \
            {k: got[k] for k in ("ets_mase",) if k in got} | {"train_s": seconds}
    return {"setup": COVARIATE, "results": results}


def panel_table(result: dict) -> str:
    rows = [f"panel: {result['series']} series", "| method | MASE | sMAPE % | 80% coverage | 95% coverage | "
            "Winkler 95% | training s |", "|---|---|---|---|---|---|---|"]
    for method, s in result["results"].items():
        rows.append(f"| {method} | {s['mase']:.3f} | {s['smape']:.2f} | {s['coverage_80']:.2f} | "
                    f"{s['coverage_95']:.2f} | {s['winkler_95']:.3g} | {s.get('train_s', float('nan')):.1f} |")
    rows += ["| series | training s | evaluation s | peak MiB |", "|---|---|---|---|"]
    rows += [f"| {r['series']} | {r['train_s']:.1f} | {r['eval_s']:.2f} | {r['peak_mib']:.1f} |"
             for r in result["scaling"]]
    return "\n".join(rows)


def covariate_table(result: dict) -> str:
    rows = ["| realcons | MASE | naive | seasonal naive | AutoETS | 80% coverage | 95% coverage |",
            "|---|---|---|---|---|---|---|"]
    for label, s in result["results"].items():
        rows.append(f"| {label} | {s['mase']:.3f} | {s['naive_mase']:.3f} | {s['snaive_mase']:.3f} | "
                    f"{s.get('ets_mase', float('nan')):.3f} | {s['coverage_80']:.2f} | {s['coverage_95']:.2f} |")
    return "\n".join(rows)


__all__ = ["panel", "covariate", "panel_table", "covariate_table", "replace"]
