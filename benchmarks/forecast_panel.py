"""The panel and the covariate suites of benchmarks/forecast.py (run through it: ``--suite panel,covariate``).

Panel: the World Bank total fertility rates that statsmodels ships (``statsmodels.datasets.fertility``: 219
countries and aggregates, annual 1960-2013, wide). Each row's last run of consecutive values is one series
(series of fewer than MIN_POINTS = 40 points, what the conformal variant needs, are left out), written in the
long layout. One global network (a series embedding, batches drawn across every series) is trained once on
the part before the test tail (the last PANEL["test"] years, origins every PANEL["stride"]); it is scored
against seasonal naive (= naive, yearly data), AutoETS and AutoARIMA fitted per series by statsforecast on
the same origins, each series' MASE scaled by its own in-sample naive MAE, then pooled. The decoder and
--scaling (CANDIDATES) are chosen on a validation tail of the same size cut from the training part
(``tune``); the test tail takes no part in the choice. The conformal variant calibrates on the CALIBRATION
years before the test tail. Scaling: the chosen run on the first 25%, 50% and 100% of the series, timing
training, evaluation and their peak traced memory (tracemalloc).

Budget (``budget``, fixed beforehand): EPOCHS passes over the training windows in batches of BATCH, at
least --steps: it grows with the panel, so training time grows linearly in the number of series, as the
evaluation and the memory do.

Covariate: US real personal consumption (``statsmodels.datasets.macrodata``, quarterly 1959Q1-2009Q3,
realcons) with real disposable income (realdpi) as a covariate: no covariate, income as a past covariate
(read up to the origin), and income as a future covariate (its values over the horizon known: an oracle
bound of what a good income forecast would give); for each, --scaling (SCALINGS) is chosen on a validation
tail as above. The task's own baselines (naive, seasonal naive, AutoETS with statsforecast) come from the
same backtest.
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
from unroll.data import series as S
from unroll.data import windows as W
from unroll.models.forecaster import NETWORK
from unroll.tasks.forecast import ForecastConfig, ForecastTask

PANEL = dict(context=10, horizon=5, test=10, stride=5, season=1)
CALIBRATION = 15
MIN_POINTS = PANEL["context"] + PANEL["horizon"] + CALIBRATION + PANEL["test"]   # 40: the conformal variant's too
COVARIATE = dict(context=16, horizon=4, test=40, stride=4)
EPOCHS, BATCH = 10, 32              # the budget: 10 passes over the training windows (at least --steps)
CANDIDATES = {f"{d}, {s}": {"decoder": d, "scaling": s} for d in ("direct", "autoregressive")
              for s in ("meanabs", "standard")}
SCALINGS = {s: {"scaling": s} for s in ("meanabs", "standard")}
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


def budget(data: Path, least: int, **settings) -> int:
    """Training steps: EPOCHS passes over the training windows of ``data`` (batches of BATCH), at least
    ``least``: the budget grows with the panel, fixed before any figure is seen."""
    cfg = ForecastConfig(data=str(data), **settings)
    series = S.read_series(data, cfg.date_column, cfg.value_columns, cfg.id_column)
    windows = len(W.training_picks(series, cfg.context, cfg.horizon, cfg.V + cfg.K))
    return max(least, -(-EPOCHS * windows // BATCH))


def cut_tail(path: Path, V: int, out: Path, column: int | None = None) -> Path:
    """The CSV without each series' last V rows (the test tail): the part the choices are made on.
    column: the series-id column (long layout), None: one series (wide)."""
    lines = path.read_text().splitlines()
    by: dict = {}
    for line in lines[1:]:
        by.setdefault(line.split(",")[column] if column is not None else "", []).append(line)
    out.write_text("\n".join([lines[0]] + [x for rows in by.values() for x in rows[:-V]]) + "\n")
    return out


def tune(data: Path, work: Path, least: int, candidates: dict, label: str, **settings) -> tuple[str, dict]:
    """(the chosen candidate, validation MASE of each): every candidate trained on ``data`` (the training
    part only, its last ``valid_length`` points held out) with the budget rule, the lowest MASE chosen."""
    mase = {}
    for name, extra in candidates.items():
        steps = budget(data, least, **settings, **extra)
        task, model, _ = train(data, work / f"{label}-tune-{name}", steps, **settings, **extra)
        mase[name] = task.metrics(model, "valid")["mase"]
    print(f"{label}: validation MASE {mase}", file=sys.stderr)
    return min(mase, key=mase.get), mase


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
    inner = cut_tail(path, PANEL["test"], work / "fertility-inner.csv", column=1)
    chosen, tuning = tune(inner, work, steps, CANDIDATES, "panel", **common)
    common.update(CANDIDATES[chosen])
    final = budget(path, steps, **common)
    task, model, seconds = train(path, work / "panel", final, **common)
    series = len(task.prepared["series"])
    results = {f"unroll (global, {chosen})": {k: task.metrics(model, "valid")[k] for k in KEYS} |
               {"train_s": seconds, "steps": final}}
    conformal = dict(common, intervals="conformal", calibration_length=CALIBRATION)
    steps_c = budget(path, steps, **conformal)
    task_c, model_c, seconds_c = train(path, work / "panel-conformal", steps_c, **conformal)
    results[f"unroll (global, {chosen}, conformal)"] = {k: task_c.metrics(model_c, "valid")[k] for k in KEYS} | \
        {"train_s": seconds_c, "steps": steps_c}
    results.update(panel_baselines(path))
    print(f"panel: {series} series, {chosen}, {final} steps, unroll MASE "
          f"{results[f'unroll (global, {chosen})']['mase']:.4f}", file=sys.stderr)
    return {"series": series, "setup": PANEL, "tuning_valid_mase": tuning, "chosen": chosen, "results": results,
            "scaling": scaling(path, work, steps, series, CANDIDATES[chosen])}


def scaling(path: Path, work: Path, steps: int, total: int, chosen: dict) -> list[dict]:
    """Training and evaluation time and peak traced memory on the first 25%, 50%, 100% of the series
    (the chosen settings, the budget rule: the steps grow with the series)."""
    names = list(dict.fromkeys(line.split(",")[1] for line in path.read_text().splitlines()[1:]))
    rows = []
    for share in (0.25, 0.5, 1.0):
        keep = set(names[:max(1, round(share * total))])
        part = work / f"fertility-{share}.csv"
        lines = path.read_text().splitlines()
        part.write_text("\n".join([lines[0]] + [x for x in lines[1:] if x.split(",")[1] in keep]) + "\n")
        settings = dict(id_column="country", season=1, valid_length=PANEL["test"], **chosen,
                        **{k: PANEL[k] for k in ("context", "horizon", "stride")})
        n_steps = budget(part, steps, **settings)
        tracemalloc.start()
        task, model, seconds = train(part, work / f"scale-{share}", n_steps, **settings)
        start = time.perf_counter()
        task.metrics(model, "valid")
        evaluate = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        rows.append({"series": len(keep), "steps": n_steps, "train_s": seconds, "eval_s": evaluate,
                     "peak_mib": peak})
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
    inner = cut_tail(path, COVARIATE["test"], work / "macro-inner.csv")
    common = dict(value_columns="realcons", context=COVARIATE["context"], horizon=COVARIATE["horizon"],
                  valid_length=COVARIATE["test"], stride=COVARIATE["stride"])
    results, tuning = {}, {}
    for label, extra in (("no covariate", {}), ("income, past covariate", {"past_covariates": "realdpi"}),
                         ("income, future covariate (oracle)", {"future_covariates": "realdpi"})):
        chosen, tuning[label] = tune(inner, work, steps, SCALINGS, f"macro-{len(results)}", **common, **extra)
        settings = dict(common, **extra, **SCALINGS[chosen])
        task, model, seconds = train(path, work / f"macro-{len(results)}", budget(path, steps, **settings),
                                     **settings)
        got = task.metrics(model, "valid")
        results[label] = {k: got[k] for k in (*KEYS, "naive_mase", "snaive_mase") if k in got} | \
            {k: got[k] for k in ("ets_mase",) if k in got} | {"train_s": seconds, "scaling": chosen}
    return {"setup": COVARIATE, "tuning_valid_mase": tuning, "results": results}


def panel_table(result: dict) -> str:
    rows = [f"panel: {result['series']} series", "| method | MASE | sMAPE % | 80% coverage | 95% coverage | "
            "Winkler 95% | training s |", "|---|---|---|---|---|---|---|"]
    for method, s in result["results"].items():
        rows.append(f"| {method} | {s['mase']:.3f} | {s['smape']:.2f} | {s['coverage_80']:.2f} | "
                    f"{s['coverage_95']:.2f} | {s['winkler_95']:.3g} | {s.get('train_s', float('nan')):.1f} |")
    rows += ["| series | steps | training s | evaluation s | peak MiB |", "|---|---|---|---|---|"]
    rows += [f"| {r['series']} | {r['steps']} | {r['train_s']:.1f} | {r['eval_s']:.2f} | {r['peak_mib']:.1f} |"
             for r in result["scaling"]]
    return "\n".join(rows)


def covariate_table(result: dict) -> str:
    rows = ["| realcons | scaling | MASE | naive | seasonal naive | AutoETS | 80% coverage | 95% coverage |",
            "|---|---|---|---|---|---|---|---|"]
    for label, s in result["results"].items():
        rows.append(f"| {label} | {s['scaling']} | {s['mase']:.3f} | {s['naive_mase']:.3f} | {s['snaive_mase']:.3f} | "
                    f"{s.get('ets_mase', float('nan')):.3f} | {s['coverage_80']:.2f} | {s['coverage_95']:.2f} |")
    return "\n".join(rows)


__all__ = ["panel", "covariate", "panel_table", "covariate_table", "replace"]
