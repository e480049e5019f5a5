"""``unroll train --task forecast``: probabilistic forecasts of one or many series (models.forecaster).

Data (``--data``, unroll.data.series): a CSV with a date/time column and one series per value column, or a
series-id column (long layout), and covariate columns (``--past-covariates``, ``--future-covariates``,
``--static-columns``: tasks/forecast_data.py); a panel's series may have a learned ``--series-embedding``. Each series keeps its last ``--valid-length`` points (default the horizon; 0:
none, the last checkpoint is the model) for validation; training windows of ``--context`` + ``--horizon``
points are drawn at random from the rest, each scaled from its own context (``--scaling``), with calendar
features (``--calendar``).

Validation, ``unroll eval`` (the same numbers): a rolling-origin backtest over the held-out tail, origins
every ``--stride`` points (default the horizon): loss (mean NLL per horizon point, scaled units, of ``--likelihood``),
MASE (seasonal scale, lag ``--season``), sMAPE, RMSE, 80% / 95% interval coverage, and the baselines'
MASE on the same points (naive, seasonal naive, AutoETS: tasks/forecast_baselines.py). ``unroll predict RUN
[future.csv]`` writes the next h values after the data's end as CSV (date, series, mean, lo80, hi80, lo95,
hi95), reading the future covariates from the file; ``unroll plot RUN`` draws history, forecast, intervals
and the seasonal naive forecast in grey. ``--likelihood student-t`` (models/forecast_likelihood.py) and
``--intervals conformal`` (tasks/forecast_conformal.py) change the distribution and the intervals.

Modules: forecast_config.py (the settings), forecast_data.py (covariates), forecast_future.py (forecasts
after the data's end, the figure), forecast_baselines.py, forecast_conformal.py, forecast_metrics.py,
forecast_plot.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.data import series as S
from unroll.data import windows as W
from unroll.models.forecaster import NETWORK, ForecastBatch, Forecaster
from unroll.nn import likelihood as lk
from unroll.tasks import forecast_baselines as FB
from unroll.tasks import forecast_conformal as FC
from unroll.tasks import forecast_data as FD
from unroll.tasks import forecast_future as FF
from unroll.tasks import forecast_metrics as FM
from unroll.tasks.base import GeneratedBatches, Task
from unroll.tasks.forecast_config import ForecastConfig, ForecastPredictOptions   # noqa: F401 (the task's settings)


class ForecastTask(Task):
    name, help = "forecast", "probabilistic forecasts of time series (direct or autoregressive decoder)"
    page = "unroll.tasks.probes.forecast"       # its page in unroll serve (tasks/probes/forecast.py)
    predict_reads = "FUTURE"                    # predict forecasts after the data's end (--data FILE: another's);
                                                # FUTURE: a CSV of the future covariates over the horizon
    per_sequence = ("series",)                  # ForecastBatch.series (N,) is split along axis 0
    sections = {"forecast": ForecastConfig, "network": NETWORK}     # NETWORK: the model's defaults, the CLI's
    train_defaults = {"lr": 3e-3, "clip": 1.0, "max_steps": 2000, "eval_every": 250, "log_every": 20}
    predict_options = ForecastPredictOptions

    def __init__(self, settings: dict, prepared: dict | None = None):
        super().__init__(settings, prepared)
        self._cache: dict = {}
        self._tables, self._given = {}, set()     # conformal tables by weights digest; those read (``stored``)
        self._kept: dict = {}           # the digest and loss of this process's best validation: for summary

    @property
    def cfg(self) -> ForecastConfig:
        return self.settings["forecast"]

    def prepare(self) -> dict:
        c = self.cfg
        if c.data is None:
            raise ValueError("--task forecast needs --data (a CSV with a date column and value columns)")
        series = self._read(c.data)
        W.check_lengths(c.data, series, c.context, c.horizon, c.V, c.K)
        if c.intervals == "conformal":
            FC.check_count(series, c.horizon, c.K)
        freq = S.frequency(series[0].dates)
        kinds = S.calendar_kinds(c.calendar, freq)
        season = c.season or S.SEASON[freq]
        covariates = FD.record(c, series)
        stats = []
        for s in series:
            train = s.values[:len(s) - c.V]
            loc, scale = S.window_scale(s.values[-c.context:], s.observed[-c.context:], c.scaling)
            stats.append({"name": s.name, "points": len(s), "mase_scale": S.seasonal_scale(train, season),
                          "last_loc": loc, "last_scale": scale})
        self.prepared = {"data_sha256": S.digest(c.data), "frequency": freq, "calendar": list(kinds),
                         "season": season, "series": stats, "covariates": covariates}
        return self.prepared

    # ------------------------------------------------------------------------------------------------

    def batches(self, train):
        series, c = self._data(self.cfg.data)[0], self.cfg
        picks = W.training_picks(series, c.context, c.horizon, c.V + c.K)
        if train.batch_size < 1:
            raise ValueError("--batch must be >= 1")

        def make(N, rng):
            chosen = [picks[i] for i in rng.integers(len(picks), size=N)]
            return self._batch(c.data, chosen)
        return GeneratedBatches(make, train.batch_size, self.stream(train.seed, "train"))

    def build_model(self, seed: int, dtype=np.float64) -> Forecaster:
        c, cov = self.cfg, self.covariates
        return Forecaster.from_config(self.settings["network"], c.context, c.horizon, features=2 * len(
            self.prepared["calendar"]), past=len(cov["past"]), future=len(cov["future"]) + len(cov["static"]),
            series=len(self.prepared["series"]), embedding=c.series_embedding, decoder=c.decoder,
            ar_loss=c.ar_loss, likelihood=c.likelihood, seed=seed, dtype=dtype)

    @property
    def covariates(self) -> dict:
        """{"past", "future", "static": column names, "mean", "std": their standardisation, "scaling": the rule
        (tasks/forecast_data.py)} (older runs: none)."""
        return {"past": [], "future": [], "static": [], "mean": [], "std": [], **self.prepared.get("covariates", {})}

    def shard(self, batch, rank: int, size: int):
        return ForecastBatch(*super().shard(tuple(batch), rank, size))

    def metrics(self, model, split: str) -> dict:
        """The rolling-origin backtest over the held-out tail of the run's data ("valid") or of a CSV file
        (whose last --valid-length points, or --horizon when the run holds none out, are backtested)."""
        c = self.cfg
        source = c.data if split == "valid" else split
        V = c.V if split == "valid" else (c.V or c.horizon)
        if V == 0:
            return {"origins": 0}
        series = self._data(source)[0]
        if split != "valid":
            W.check_lengths(source, series, c.context, c.horizon, V)
        picks = W.backtest_picks(series, c.context, c.horizon, V, c.stride or c.horizon)
        batch = self._batch(source, picks)
        nll, count = model.horizon_nll(batch)
        y, point, bounds, observed = self._forecast(model, batch)
        own = {}
        if c.intervals == "conformal":
            own = FM.intervals(y, bounds, observed, prefix="likelihood_")
            bounds = self._calibrated(model, batch, point, bounds)
            self._keep(model, nll / max(count, 1.0) if split == "valid" else None)
        season = self.prepared["season"]
        scale = np.array([S.seasonal_scale(series[k].values[:len(series[k]) - V], season) for k, _ in picks])
        out = {"loss": nll / max(count, 1.0), **FM.scores(y, point, bounds, observed, scale), **own,
               "origins": len(picks)}
        key = ("baselines", source, V)
        if key not in self._cache:                           # the same origins at every validation
            self._cache[key] = FB.forecasts(series, picks, c.context, c.horizon, season)
        for name, forecast in self._cache[key].items():
            out[f"{name}_mase"] = FM.mase(y, forecast, observed, scale)
        if len(series) > 1:                                  # a panel: each series' own figures beside the pooled
            out["per_series"] = FM.per_series([series[k].name for k, _ in picks], y, point, bounds, observed, scale,
                                              self._cache[key])
        return out

    def describe(self, metrics: dict) -> str:
        if not metrics.get("origins"):
            return ("nothing held out (--valid-length 0): the model is the last checkpoint; pass --data FILE to "
                    "backtest the last --horizon points of a file")
        names = (("naive", "naive"), ("snaive", "seasonal naive"), ("ets", "AutoETS"))
        beside = ", ".join(f"{label} {metrics[f'{k}_mase']:.4f}" for k, label in names if f"{k}_mase" in metrics)
        kind = "conformal " if self.cfg.intervals == "conformal" else ""
        levels = "; ".join(f"{n}% {kind}coverage {metrics[f'coverage_{n}']:.3f} Winkler {metrics[f'winkler_{n}']:.4g}"
                           + (f" (likelihood's {metrics[f'likelihood_coverage_{n}']:.3f}, Winkler "
                              f"{metrics[f'likelihood_winkler_{n}']:.4g})" if f"likelihood_coverage_{n}" in metrics
                              else "") for n in ("80", "95"))
        return (f"backtest over {metrics['origins']} origin(s): loss {metrics['loss']:.4f}, MASE {metrics['mase']:.4f}"
                f" ({beside}), sMAPE {metrics['smape']:.3f}%, RMSE {metrics['rmse']:.4g}; {levels}")

    def predict(self, model, lines, options, future: str | None = None):
        """The next h values after the data's end, as CSV rows (lines are not read; ``future``: the CSV of
        the future covariates over the horizon)."""
        rows = self.forecast_future(model, options.data if options is not None else None, future)
        yield "date,series,mean,lo80,hi80,lo95,hi95"
        for r in rows:
            yield ",".join([r["date"], _csv_cell(r["series"])] + [f"{r[k]:.6g}" for k in
                                                                  ("mean", "lo80", "hi80", "lo95", "hi95")])

    def predict_file(self, model, path, options):
        """``unroll predict RUN future.csv``: the forecast with the future covariates of ``path``."""
        if not self.covariates["future"]:
            raise ValueError(f"this run has no --future-covariates, so predict reads no file ({path}); leave it out, "
                             f"or forecast after the end of that file with --data {path}")
        return self.predict(model, (), options, future=path)

    def forecast_future(self, model, source: str | None = None, future: str | None = None) -> list[dict]:
        """[{date, series, mean, lo80, hi80, lo95, hi95}] for the h steps after each series' last point;
        ``future``: the CSV of the future covariates over those steps (tasks/forecast_future.py)."""
        return FF.future_rows(self, model, source, future)

    def plot(self, model, run_dir: Path, out: Path | None = None, future: str | None = None) -> Path:
        """history, forecast, intervals and the seasonal naive forecast (grey) of every series (at most 6
        panels) -> RUN_DIR/forecast.png."""
        return FF.plot(self, model, Path(out) if out else Path(run_dir) / "forecast.png", future)

    def series(self) -> list:
        """The run's series (its data, checked unchanged), each with ``name``, ``dates`` and ``values``."""
        return self._data(self.cfg.data)[0]

    def backtest_at(self, model, k: int, origin: int) -> tuple:
        """(point (h,), {"80": (lo, hi), "95": (lo, hi)}) of the window of series ``k`` whose horizon starts at
        ``origin``, in the data's units: the window, covariates, series id, random stream and (conformal)
        intervals that ``metrics`` reads for that origin."""
        batch = self._batch(self.cfg.data, [(k, origin - self.cfg.context)])
        _, point, bounds, _ = self._forecast(model, batch)
        bounds = self._calibrated(model, batch, point, bounds)
        return point[:, 0], {name: (lo[:, 0], hi[:, 0]) for name, (lo, hi) in bounds.items()}

    # ------------------------------------------------------------------------------------------------

    def _forecast(self, model, batch: ForecastBatch):
        """(y, point, {"80": (lo, hi), "95": (lo, hi)}, observed) over the horizon, in the data's units."""
        c = self.cfg
        rng = self.stream(self.settings["train"].seed if "train" in self.settings else 0, "forecast")
        q = model.forecast(batch, c.samples, rng)
        unscale = lambda v: batch.loc + batch.scale * v                                   # noqa: E731
        bounds = {name: (unscale(q[lo]), unscale(q[hi])) for name, (lo, hi) in lk.INTERVALS.items()}
        y = unscale(np.asarray(batch.z[c.context:]))
        return y, unscale(q["mean"]), bounds, np.asarray(batch.observed[c.context:])

    def _batch(self, source: str, picks, feats=None, exog=None) -> ForecastBatch:
        """The windows ``picks`` of a file's series (feats, exog: theirs extended past the end, for forecasts)."""
        c = self.cfg
        series, own_feats, own_exog = self._data(source)
        return ForecastBatch(*W.window_batch(series, own_feats if feats is None else feats, picks, c.context,
                                             c.horizon, c.scaling, extra=own_exog if exog is None else exog,
                                             own=FD.own_scaled(self.covariates)),
                             series=self._ids(source)[[k for k, _ in picks]])

    def _ids(self, source: str) -> np.ndarray:
        """Each series of a file as its index among the run's series (-1: a series the run never saw; refused
        by a --series-embedding model)."""
        known = {s["name"]: i for i, s in enumerate(self.prepared["series"])}
        series = self._data(source)[0]
        ids = np.array([known.get(s.name, -1) for s in series], np.int64)
        if self.cfg.series_embedding and (ids < 0).any():
            raise ValueError(f"{source}: series {series[int(np.argmax(ids < 0))].name!r} is not one of the run's "
                             "series; a --series-embedding model forecasts the series it was trained on")
        return ids

    def _calibrated(self, model, batch, point, bounds) -> dict:
        """The conformal bounds of the batch's forecasts (each window with its series' quantiles), when asked."""
        if self.cfg.intervals != "conformal":
            return bounds
        return FC.bounds(point, batch.scale, batch.series, self._conformal(model))

    def stored(self, result: dict) -> None:
        """The conformal tables a run folder's result.json keeps, by weights digest (runs/loading.py), kept
        again by ``summary`` when a resumed run ends."""
        self._tables.update(result.get("conformal", {}))
        self._given = set(result.get("conformal", {}))

    def summary(self, model, log: list[dict]) -> dict:
        """result.json: the conformal tables of the last weights and of this process's best validation."""
        if self.cfg.intervals != "conformal":
            return {}
        self._conformal(model)
        keep = self._given | {FC.weights_digest(model.params), self._kept.get("best")}
        return {"conformal": {d: self._tables[d] for d in keep if d in self._tables}}

    def _keep(self, model, loss) -> None:
        """Remember the digest of the weights of the best validation loss seen (the monitored figure)."""
        if loss is not None and loss < self._kept.get("loss", float("inf")):
            self._kept.update(best=FC.weights_digest(model.params), loss=loss)

    def _conformal(self, model) -> dict:
        """The conformal quantiles of ``model``: the table stored or computed for its weights, else computed
        from the calibration part of the run's data (tasks/forecast_conformal.py; filled targets left out)."""
        digest = FC.weights_digest(model.params)
        if digest not in self._tables:
            self._tables[digest] = self._calibrate(model)
        return self._tables[digest]

    def _calibrate(self, model) -> dict:
        c = self.cfg
        series = self._data(c.data)[0]
        picks = FC.picks(series, c.context, c.horizon, c.V, c.K)
        batch = self._batch(c.data, picks)
        y, point, _, observed = self._forecast(model, batch)
        whole = observed.min(axis=0) > 0
        scores = np.abs(y - point)[:, whole] / batch.scale[:, whole]
        return FC.fit(scores, batch.series[whole])

    def _read(self, path) -> list[S.Series]:
        c = self.cfg
        past, future, static = FD.columns(c)
        return S.read_series(path, c.date_column, c.value_columns, c.id_column, c.missing,
                             tuple(past + future + static), tuple(static))

    def _data(self, source: str):
        """(series, calendar features per series, standardised covariates per series or None) of the run's
        data (checked unchanged) or another file."""
        if source not in self._cache:
            if source == self.cfg.data and self.prepared.get("data_sha256") not in (None, S.digest(source)):
                raise ValueError(f"{source} changed since the run started (SHA-256 differs); pass the new file "
                                 "with --data to evaluate or forecast from it")
            series = self._read(source)
            kinds = tuple(self.prepared["calendar"])
            self._cache[source] = (series, [S.calendar_features(s.dates, kinds) for s in series],
                                   FD.standardised(series, self.covariates))
        return self._cache[source]


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


TASK = ForecastTask
