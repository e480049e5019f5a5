"""``unroll train --task forecast``: probabilistic forecasts of one or many series (models.forecaster).

Data (``--data``, unroll.data.series): a CSV with a date/time column and one series per value column, or a
series-id column (long layout), and covariate columns (``--past-covariates``, ``--future-covariates``:
tasks/forecast_data.py). Each series keeps its last ``--valid-length`` points (default the horizon; 0:
none, the last checkpoint is the model) for validation; training windows of ``--context`` + ``--horizon``
points are drawn at random from the rest, each scaled from its own context (``--scaling``), with calendar
features (``--calendar``).

Validation, ``unroll eval`` (the same numbers): a rolling-origin backtest over the held-out tail, origins
every ``--stride`` points (default the horizon): loss (mean NLL per horizon point, scaled units, of ``--likelihood``),
MASE (seasonal scale, lag ``--season``), sMAPE, RMSE, 80% / 95% interval coverage, and the baselines'
MASE on the same points (naive, seasonal naive, AutoETS: tasks/forecast_baselines.py). ``unroll predict RUN
[future.csv]`` writes the next h values after the data's end as CSV (date, series, mean, lo80, hi80, lo95,
hi95), reading the future covariates from the file; ``unroll plot RUN`` draws history, forecast, intervals
and the seasonal naive forecast in grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.config import option
from unroll.data import series as S
from unroll.data import windows as W
from unroll.models import forecast_likelihood as FL
from unroll.models.forecaster import AR_LOSS, DECODERS, NETWORK, ForecastBatch, Forecaster
from unroll.nn import likelihood as lk
from unroll.tasks import forecast_baselines as FB
from unroll.tasks import forecast_conformal as FC
from unroll.tasks import forecast_data as FD
from unroll.tasks import forecast_metrics as FM
from unroll.tasks.base import GeneratedBatches, Task


@dataclass(frozen=True)
class ForecastConfig:
    data: str | None = option(None, help="CSV: a date/time column and value columns, or a series-id column (required)")
    date_column: str | None = option(None, help="the timestamps' column (default: the first)")
    value_columns: str | None = option(None, help="comma-separated value columns (default: every other column)")
    id_column: str | None = option(None, help="long layout: the column naming each row's series")
    missing: str = option("refuse", help="empty / NA cells: refuse | ffill (last observation) | zero", choices=S.MISSING)
    context: int = option(36, help="C: points the encoder reads")
    horizon: int = option(12, help="h: points forecast at once")
    valid_length: int | None = option(None, help="held-out tail of each series (default: the horizon; 0: none)")
    stride: int | None = option(None, help="steps between backtest origins in the tail (default: the horizon)")
    scaling: str = option("meanabs", help="per-window scaling from its context", choices=S.SCALINGS)
    calendar: str = option("auto", help="calendar features: auto | none | a comma list of month,dow,doy,hour")
    season: int | None = option(None, help="MASE's seasonal lag m (default: 12 monthly, 4 quarterly, 7 daily, 24 hourly)")
    decoder: str = option("direct", help="direct: h outputs from the last state; autoregressive: outputs fed back",
                          choices=DECODERS)
    ar_loss: str = option("all", help="autoregressive: train on every step (DeepAR) or the horizon only",
                          choices=AR_LOSS)
    samples: int = option(200, help="autoregressive: sample paths behind the intervals")
    likelihood: str = option("gaussian", help="the forecast distribution: gaussian, or student-t for heavy tails",
                             choices=FL.HEADS)
    intervals: str = option("gaussian", help="prediction intervals: the likelihood head's own (gaussian), or "
                                             "split conformal from a calibration part", choices=("gaussian", "conformal"))
    calibration_length: int | None = option(None, help="conformal: the calibration part, the points before the "
                                                       "held-out tail the network never trains on (default 3 x horizon)")
    past_covariates: str | None = option(None, help="comma-separated columns observed up to the forecast origin "
                                                    "only (read by the encoder)")
    future_covariates: str | None = option(None, help="comma-separated columns known over the horizon too "
                                                      "(read by the decoder; predict takes them from a file)")

    def __post_init__(self):
        for name in ("context", "horizon", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for flag, given in (("--ar-loss", self.ar_loss != "all"), ("--samples", self.samples != 200)):
            if given and self.decoder == "direct":
                raise ValueError(f"{flag} applies to --decoder autoregressive, not to --decoder direct")
        if self.context < 2:
            raise ValueError(f"--context must be >= 2, got {self.context}")
        for name in ("stride", "season"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.valid_length is not None and self.valid_length < 0:
            raise ValueError(f"--valid-length must be >= 0 (0: no held-out tail), got {self.valid_length}")
        FD.check_names(self)
        if self.calibration_length is not None and self.intervals != "conformal":
            raise ValueError("--calibration-length applies to --intervals conformal")
        if self.intervals == "conformal" and self.K < self.horizon:
            raise ValueError(f"--calibration-length {self.K} must be at least --horizon {self.horizon}")

    @property
    def V(self) -> int:
        return self.horizon if self.valid_length is None else self.valid_length

    @property
    def K(self) -> int:
        """The calibration part (conformal intervals only)."""
        if self.intervals != "conformal":
            return 0
        return 3 * self.horizon if self.calibration_length is None else self.calibration_length


@dataclass(frozen=True)
class ForecastPredictOptions:
    data: str | None = option(None, help="forecast after the end of this CSV (same columns) instead of the run's data")


class ForecastTask(Task):
    name, help = "forecast", "probabilistic forecasts of time series (direct or autoregressive decoder)"
    page = "unroll.tasks.probes.forecast"       # its page in unroll serve (tasks/probes/forecast.py)
    predict_reads = "FUTURE"                    # predict forecasts after the data's end (--data FILE: another's);
                                                # FUTURE: a CSV of the future covariates over the horizon
    sections = {"forecast": ForecastConfig, "network": NETWORK}     # NETWORK: the model's defaults, the CLI's
    train_defaults = {"lr": 3e-3, "clip": 1.0, "max_steps": 2000, "eval_every": 250, "log_every": 20}
    predict_options = ForecastPredictOptions

    def __init__(self, settings: dict, prepared: dict | None = None):
        super().__init__(settings, prepared)
        self._cache: dict = {}

    @property
    def cfg(self) -> ForecastConfig:
        return self.settings["forecast"]

    def prepare(self) -> dict:
        c = self.cfg
        if c.data is None:
            raise ValueError("--task forecast needs --data (a CSV with a date column and value columns)")
        series = self._read(c.data)
        W.check_lengths(c.data, series, c.context, c.horizon, c.V, c.K)
        freq = S.frequency(series[0].dates)
        kinds = S.calendar_kinds(c.calendar, freq)
        season = c.season or S.SEASON[freq]
        covariates = {"past": FD.names(c.past_covariates), "future": FD.names(c.future_covariates),
                      **FD.stats(series, c.V)}
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
        series, feats, exog = self._data(self.cfg.data)
        c = self.cfg
        picks = W.training_picks(series, c.context, c.horizon, c.V + c.K)
        if train.batch_size < 1:
            raise ValueError("--batch must be >= 1")

        def make(N, rng):
            chosen = [picks[i] for i in rng.integers(len(picks), size=N)]
            return ForecastBatch(*W.window_batch(series, feats, chosen, c.context, c.horizon, c.scaling, extra=exog))
        return GeneratedBatches(make, train.batch_size, self.stream(train.seed, "train"))

    def build_model(self, seed: int, dtype=np.float64) -> Forecaster:
        c, cov = self.cfg, self.covariates
        return Forecaster.from_config(self.settings["network"], c.context, c.horizon, features=2 * len(
            self.prepared["calendar"]), past=len(cov["past"]), future=len(cov["future"]), decoder=c.decoder,
            ar_loss=c.ar_loss, likelihood=c.likelihood, seed=seed, dtype=dtype)

    @property
    def covariates(self) -> dict:
        """{"past", "future": column names, "mean", "std": their standardisation} (older runs: none)."""
        return self.prepared.get("covariates") or {"past": [], "future": [], "mean": [], "std": []}

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
        series, feats, exog = self._data(source)
        if split != "valid":
            W.check_lengths(source, series, c.context, c.horizon, V)
        picks = W.backtest_picks(series, c.context, c.horizon, V, c.stride or c.horizon)
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling, extra=exog))
        nll, count = model.horizon_nll(batch)
        y, point, bounds, observed = self._forecast(model, batch)
        own = {}
        if c.intervals == "conformal":
            own = FM.intervals(y, bounds, observed, prefix="likelihood_")
            bounds = FC.bounds(point, batch.scale, [k for k, _ in picks], self._conformal(model))
        season = self.prepared["season"]
        scale = np.array([S.seasonal_scale(series[k].values[:len(series[k]) - V], season) for k, _ in picks])
        out = {"loss": nll / max(count, 1.0), **FM.scores(y, point, bounds, observed, scale), **own,
               "origins": len(picks)}
        key = ("baselines", source, V)
        if key not in self._cache:                           # the same origins at every validation
            self._cache[key] = FB.forecasts(series, picks, c.context, c.horizon, season)
        for name, forecast in self._cache[key].items():
            out[f"{name}_mase"] = FM.mase(y, forecast, observed, scale)
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
            raise ValueError(f"this run has no --future-covariates, so predict reads no file ({path}); leave it out")
        return self.predict(model, (), options, future=path)

    def forecast_future(self, model, source: str | None = None, future: str | None = None) -> list[dict]:
        """[{date, series, mean, lo80, hi80, lo95, hi95}] for the h steps after each series' last point;
        ``future``: the CSV of the future covariates over those steps (runs with --future-covariates)."""
        c = self.cfg
        series, _, exog = self._data(source or c.data)
        short = [s for s in series if len(s) < c.context]
        if short:
            raise ValueError(f"{source or c.data}: series {short[0].name!r} has {len(short[0])} points, fewer than "
                             f"--context {c.context}")
        dates = [S.future_dates(s.dates, c.horizon) for s in series]
        kinds = tuple(self.prepared["calendar"])
        feats = [S.calendar_features(np.concatenate([s.dates, f]), kinds) for s, f in zip(series, dates)]
        if exog is not None:
            ahead = FD.future_block(c, future, series, dates, self.covariates)
            exog = [np.concatenate([e, a], axis=0) for e, a in zip(exog, ahead)]
        picks = [(k, len(s) - c.context) for k, s in enumerate(series)]
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling, extra=exog))
        _, point, bounds, _ = self._forecast(model, batch)
        bounds = self._calibrated(model, batch, point, bounds)
        return [{"date": S.format_date(dates[j][i]), "series": series[j].name, "mean": point[i, j],
                 "lo80": bounds["80"][0][i, j], "hi80": bounds["80"][1][i, j],
                 "lo95": bounds["95"][0][i, j], "hi95": bounds["95"][1][i, j]}
                for j in range(len(series)) for i in range(c.horizon)]

    def plot(self, model, run_dir: Path, out: Path | None = None, future: str | None = None) -> Path:
        """history, forecast, intervals and the seasonal naive forecast (grey) of every series (at most 6
        panels) -> RUN_DIR/forecast.png."""
        from unroll.tasks.forecast_plot import forecast_figure, save
        series, _, _ = self._data(self.cfg.data)
        h, m = self.cfg.horizon, self.prepared["season"]
        if self.covariates["future"] and future is None:     # the future covariates of the data's last h points
            rows, cut = self._last_window_rows(model), h
        else:
            rows, cut = self.forecast_future(model, future=future), 0
        baseline = {s.name: b for s, b in zip(series, FB.future([S.Series(s.name, s.dates[:len(s) - cut], s.values[
            :len(s) - cut], s.observed[:len(s) - cut]) for s in series], h, m))}
        fig = forecast_figure(series, rows, history=max(4 * self.cfg.horizon, self.cfg.context), baseline=baseline)
        return save(fig, Path(out) if out else Path(run_dir) / "forecast.png")

    def _last_window_rows(self, model) -> list[dict]:
        """forecast_future's rows for the data's last h points, forecast from the origin before them."""
        c = self.cfg
        series, feats, exog = self._data(c.data)
        picks = [(k, len(s) - c.context - c.horizon) for k, s in enumerate(series)]
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling, extra=exog))
        _, point, bounds, _ = self._forecast(model, batch)
        bounds = self._calibrated(model, batch, point, bounds)
        return [{"date": S.format_date(series[j].dates[len(series[j]) - c.horizon + i]), "series": series[j].name,
                 "mean": point[i, j], **{f"{e}{n}": bounds[n][b][i, j] for n in ("80", "95")
                                         for b, e in ((0, "lo"), (1, "hi"))}}
                for j in range(len(series)) for i in range(c.horizon)]

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

    def _calibrated(self, model, batch, point, bounds) -> dict:
        """The conformal bounds of a forecast of every series' own window (column j = series j), when asked."""
        if self.cfg.intervals != "conformal":
            return bounds
        return FC.bounds(point, batch.scale, range(point.shape[1]), self._conformal(model))

    def _conformal(self, model) -> dict:
        """The conformal quantiles of ``model`` from the calibration part of the run's data
        (tasks/forecast_conformal.py); windows with a filled (unobserved) target are left out."""
        c = self.cfg
        series, feats, exog = self._data(c.data)
        picks = FC.picks(series, c.context, c.horizon, c.V, c.K)
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling, extra=exog))
        y, point, _, observed = self._forecast(model, batch)
        whole = observed.min(axis=0) > 0
        scores = np.abs(y - point)[:, whole] / batch.scale[:, whole]
        return FC.fit(scores, np.array([k for k, _ in picks])[whole])

    def _read(self, path) -> list[S.Series]:
        c = self.cfg
        return S.read_series(path, c.date_column, c.value_columns, c.id_column, c.missing,
                             tuple(FD.names(c.past_covariates) + FD.names(c.future_covariates)))

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
