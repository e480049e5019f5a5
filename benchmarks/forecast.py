"""Forecasting accuracy: three public series, a panel and a series with a real covariate, against baselines.

    PYTHONPATH=. python benchmarks/forecast.py ../shared/data/timeseries [--json results.json] [--steps 600]
    PYTHONPATH=. python benchmarks/forecast.py --suite panel,covariate [--json results.json] [--steps 600]

Needs the benchmark extra (``pip install -e '.[bench]'``: statsforecast for the baselines, statsmodels for
the panel and the covariate series, both data sets that statsmodels ships: nothing is downloaded at run
time). The three series: accuracy after a fixed number of training steps, not a timing (about 8-12 CPU
minutes in all); the panel also times training and evaluation (benchmarks/forecast_panel.py).

Protocol, per series (SETUPS): the last ``test`` points are the test tail; forecasts of ``horizon`` points
are made from rolling origins n - test, n - test + stride, ... (every origin's forecast uses only the data
before it; the baselines are refitted at every origin by statsforecast's cross_validation, unroll's
network is trained once on the part before the first origin and reads the C points before each origin).
Scores are pooled over every test point: MASE with the seasonal scale (lag m, the training part's in-sample
seasonal naive MAE), sMAPE, RMSE, and the coverage of the 80% and 95% intervals.

Tuning is honest: the candidate settings (CANDIDATES) are compared on a validation tail of the same size cut
from the training part only (the test points are never seen); the best by validation MASE is retrained on
the whole training part with the same fixed budget and scored once on the test tail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from unroll.config import TrainConfig
from unroll.data import series as S
from unroll.models.forecaster import NETWORK
from unroll.tasks.forecast import ForecastConfig, ForecastTask
from unroll import runs as run

SETUPS = {   # file, MASE lag m, horizon h, test tail, stride between origins, context C
    "airline": dict(file="airline-passengers.csv", season=12, horizon=12, test=24, stride=12, context=36),
    "sunspots": dict(file="monthly-sunspots.csv", season=12, horizon=12, test=120, stride=12, context=60),
    "temperatures": dict(file="daily-min-temperatures.csv", season=365, horizon=7, test=357, stride=14, context=56),
}
CANDIDATES = {"direct": {"decoder": "direct"}, "autoregressive": {"decoder": "autoregressive"}}
METRICS = ("mase", "smape", "rmse", "coverage_80", "coverage_95", "winkler_80", "winkler_95")


def train_and_score(data: Path, setup: dict, settings: dict, steps: int, folder: Path) -> dict:
    """Train a forecaster on ``data`` (its last ``test`` points held out) and return the backtest there."""
    cfg = ForecastConfig(data=str(data), context=setup["context"], horizon=setup["horizon"],
                         valid_length=setup["test"], stride=setup["stride"], season=setup["season"])
    cfg = replace(cfg, **{k: v for k, v in settings.items() if k != "hidden"})
    train = TrainConfig(**{**ForecastTask.train_defaults, "max_steps": steps, "eval_every": steps, "seed": 0})
    trainer = run.start(folder, "forecast", {"forecast": cfg, "network": NETWORK(hidden_size=32)}, train, quiet=True)
    trainer.train()
    return trainer.task.metrics(trainer.model, "valid")


def head(path: Path, rows: int, out: Path) -> Path:
    """The header and the first ``rows`` data rows of a CSV (the training part), written to ``out``."""
    lines = path.read_text().splitlines()
    out.write_text("\n".join(lines[:rows + 1]) + "\n")
    return out


def baselines(path: Path, setup: dict) -> dict:
    """Seasonal naive, AutoETS and AutoARIMA on the same origins and points (statsforecast, refitted per origin)."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    series, = S.read_series(path)
    y, n, m, h, V = series.values, len(series), setup["season"], setup["horizon"], setup["test"]
    short_m = m if m <= 24 else 1           # ETS has no season longer than 24; a 365-lag SARIMA is out of reach
    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(n), "y": y})
    models = [SeasonalNaive(m), AutoETS(season_length=short_m), AutoARIMA(season_length=short_m)]
    cv = StatsForecast(models=models, freq=1, n_jobs=1).cross_validation(
        df=df, h=h, step_size=setup["stride"], n_windows=(V - h) // setup["stride"] + 1, level=[80, 95])
    scale = S.seasonal_scale(y[:n - V], m)
    truth = cv["y"].to_numpy()
    return {name: scores(truth, cv, col, scale) for name, col in
            (("seasonal naive", "SeasonalNaive"), ("AutoETS", "AutoETS"), ("AutoARIMA", "AutoARIMA"))}


def scores(truth: np.ndarray, cv, col: str, scale) -> dict:
    """A statsforecast model's pooled scores (scale: MASE's, one number or one per row), with
    unroll.tasks.forecast_metrics' definitions."""
    from unroll.tasks import forecast_metrics as FM
    point = cv[col].to_numpy()
    bounds = {str(q): (cv[f"{col}-lo-{q}"].to_numpy(), cv[f"{col}-hi-{q}"].to_numpy()) for q in (80, 95)}
    scale = np.broadcast_to(np.asarray(scale, float), truth.shape)
    out = FM.scores(truth[None], point[None], {k: (lo[None], hi[None]) for k, (lo, hi) in bounds.items()},
                    np.ones((1, len(truth))), scale)
    return {**out, "points": int(len(truth))}


def benchmark(name: str, root: Path, steps: int, work: Path) -> dict:
    setup = SETUPS[name]
    path = root / setup["file"]
    n = len(S.read_series(path)[0])
    inner = head(path, n - setup["test"], work / f"{name}-train.csv")
    tuning = {label: train_and_score(inner, setup, settings, steps, work / f"{name}-tune-{label}")["mase"]
              for label, settings in CANDIDATES.items()}
    chosen = min(tuning, key=tuning.get)
    test = train_and_score(path, setup, CANDIDATES[chosen], steps, work / f"{name}-final")
    calibration = max(3 * setup["horizon"], setup["horizon"] + 18)     # >= 19 residuals per step: a 95% interval
    conformal = train_and_score(path, setup, {**CANDIDATES[chosen], "intervals": "conformal",
                                              "calibration_length": calibration}, steps, work / f"{name}-conformal")
    print(f"{name}: validation MASE {tuning} -> {chosen}; test MASE {test['mase']:.4f}", file=sys.stderr)
    points = {"points": test["origins"] * setup["horizon"]}
    return {"setup": setup, "tuning_valid_mase": tuning, "chosen": chosen,
            "results": {f"unroll ({chosen})": {k: test[k] for k in METRICS} | points,
                        f"unroll ({chosen}, conformal)": {k: conformal[k] for k in METRICS} | points,
                        **baselines(path, setup)}}


def table(results: dict) -> str:
    rows = ["| series | method | MASE | sMAPE % | RMSE | 80% coverage | 95% coverage | Winkler 80% | Winkler 95% |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for method, s in r["results"].items():
            rows.append(f"| {name} | {method} | {s['mase']:.3f} | {s['smape']:.2f} | {s['rmse']:.3g} | "
                        f"{s['coverage_80']:.2f} | {s['coverage_95']:.2f} | {s['winkler_80']:.3g} | "
                        f"{s['winkler_95']:.3g} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", type=Path, nargs="?", help="the folder of the three CSV files (../shared/data/"
                                                            "timeseries); the series suite only")
    p.add_argument("--suite", default="series,panel,covariate", help="comma-separated: series, panel, covariate")
    p.add_argument("--series", default=",".join(SETUPS), help="comma-separated subset of " + ", ".join(SETUPS))
    p.add_argument("--steps", type=int, default=600, help="training steps of every network of the series suite "
                   "(fixed, not tuned); the panel and covariate suites' least (they train 10 passes over the "
                   "training windows when that is more)")
    p.add_argument("--panel-series", type=int, default=None, help="panel: use the first N series only (a quick check)")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    suites = args.suite.split(",")
    if "series" in suites and args.data_dir is None:
        p.error("the series suite needs DATA_DIR (the folder of the three CSV files)")
    out = {}
    with tempfile.TemporaryDirectory(prefix="unroll-forecast-bench-") as tmp:
        if "series" in suites:
            out["series"] = {name: benchmark(name, args.data_dir, args.steps, Path(tmp)) for name in
                             args.series.split(",")}
            print(table(out["series"]))
        if "panel" in suites or "covariate" in suites:
            import forecast_panel as FP                     # benchmarks/forecast_panel.py, beside this file
            if "panel" in suites:
                out["panel"] = FP.panel(args.steps, Path(tmp), args.panel_series)
                print(FP.panel_table(out["panel"]))
            if "covariate" in suites:
                out["covariate"] = FP.covariate(args.steps, Path(tmp))
                print(FP.covariate_table(out["covariate"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
