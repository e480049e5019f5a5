"""``unroll train --task forecast``: probabilistic forecasts of one or many series (models.forecaster).

Data (``--data``, unroll.data.series): a CSV with a date/time column and one series per value column, or a
series-id column (long layout). Each series keeps its last ``--valid-length`` points (default the horizon)
for validation; training windows of ``--context`` + ``--horizon`` points are drawn at random from the
rest, each scaled from its own context (``--scaling``), with calendar features (``--calendar``).

Validation, ``unroll eval`` (the same numbers): a rolling-origin backtest over the held-out tail, origins
every ``--stride`` points (default the horizon): loss (mean Gaussian NLL per horizon point, scaled units),
MASE (seasonal scale, lag ``--season``), sMAPE, RMSE, 80% / 95% interval coverage, and the seasonal naive
forecast's MASE on the same points. ``unroll predict RUN`` writes the next h values after the data's end as
CSV (date, series, mean, lo80, hi80, lo95, hi95); ``unroll plot RUN`` draws history, forecast and intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.config import option
from unroll.data import series as S
from unroll.data import windows as W
from unroll.models.forecaster import AR_LOSS, DECODERS, NETWORK, ForecastBatch, Forecaster
from unroll.nn import likelihood as lk
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
    valid_length: int | None = option(None, help="held-out tail of each series (default: the horizon)")
    stride: int | None = option(None, help="steps between backtest origins in the tail (default: the horizon)")
    scaling: str = option("meanabs", help="per-window scaling from its context", choices=S.SCALINGS)
    calendar: str = option("auto", help="calendar features: auto | none | a comma list of month,dow,doy,hour")
    season: int | None = option(None, help="MASE's seasonal lag m (default: 12 monthly, 4 quarterly, 7 daily, 24 hourly)")
    decoder: str = option("direct", help="direct: h outputs from the last state; autoregressive: outputs fed back",
                          choices=DECODERS)
    ar_loss: str = option("all", help="autoregressive: train on every step (DeepAR) or the horizon only",
                          choices=AR_LOSS)
    samples: int = option(200, help="autoregressive: sample paths behind the intervals")

    def __post_init__(self):
        for name in ("context", "horizon", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for flag, given in (("--ar-loss", self.ar_loss != "all"), ("--samples", self.samples != 200)):
            if given and self.decoder == "direct":
                raise ValueError(f"{flag} applies to --decoder autoregressive, not to --decoder direct")
        if self.context < 2:
            raise ValueError(f"--context must be >= 2, got {self.context}")
        for name in ("valid_length", "stride", "season"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")

    @property
    def V(self) -> int:
        return self.valid_length or self.horizon


@dataclass(frozen=True)
class ForecastPredictOptions:
    data: str | None = option(None, help="forecast after the end of this CSV (same columns) instead of the run's data")


class ForecastTask(Task):
    name, help = "forecast", "probabilistic forecasts of time series (direct or autoregressive decoder)"
    page = "unroll.tasks.probes.forecast"       # its page in unroll serve (tasks/probes/forecast.py)
    predict_reads = None                        # predict forecasts after the data's end (--data FILE: another's)
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
        W.check_lengths(c.data, series, c.context, c.horizon, c.V)
        freq = S.frequency(series[0].dates)
        kinds = S.calendar_kinds(c.calendar, freq)
        season = c.season or S.SEASON[freq]
        stats = []
        for s in series:
            train = s.values[:len(s) - c.V]
            loc, scale = S.window_scale(s.values[-c.context:], s.observed[-c.context:], c.scaling)
            stats.append({"name": s.name, "points": len(s), "mase_scale": S.seasonal_scale(train, season),
                          "last_loc": loc, "last_scale": scale})
        self.prepared = {"data_sha256": S.digest(c.data), "frequency": freq, "calendar": list(kinds),
                         "season": season, "series": stats}
        return self.prepared

    # ------------------------------------------------------------------------------------------------

    def batches(self, train):
        series, feats = self._data(self.cfg.data)
        c = self.cfg
        picks = W.training_picks(series, c.context, c.horizon, c.V)
        if train.batch_size < 1:
            raise ValueError("--batch must be >= 1")

        def make(N, rng):
            chosen = [picks[i] for i in rng.integers(len(picks), size=N)]
            return ForecastBatch(*W.window_batch(series, feats, chosen, c.context, c.horizon, c.scaling))
        return GeneratedBatches(make, train.batch_size, self.stream(train.seed, "train"))

    def build_model(self, seed: int, dtype=np.float64) -> Forecaster:
        c = self.cfg
        return Forecaster.from_config(self.settings["network"], c.context, c.horizon, features=2 * len(
            self.prepared["calendar"]), decoder=c.decoder, ar_loss=c.ar_loss, seed=seed, dtype=dtype)

    def shard(self, batch, rank: int, size: int):
        return ForecastBatch(*super().shard(tuple(batch), rank, size))

    def metrics(self, model, split: str) -> dict:
        """The rolling-origin backtest over the held-out tail of the run's data ("valid") or of a CSV file."""
        c = self.cfg
        source = c.data if split == "valid" else split
        series, feats = self._data(source)
        if split != "valid":
            W.check_lengths(source, series, c.context, c.horizon, c.V)
        picks = W.backtest_picks(series, c.context, c.horizon, c.V, c.stride or c.horizon)
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling))
        nll, count = model.horizon_nll(batch)
        y, point, bounds, observed = self._forecast(model, batch)
        season = self.prepared["season"]
        scale = np.array([S.seasonal_scale(series[k].values[:len(series[k]) - c.V], season) for k, _ in picks])
        out = {"loss": nll / max(count, 1.0), **FM.scores(y, point, bounds, observed, scale), "origins": len(picks)}
        if all(start + c.context >= season for _, start in picks):
            naive = np.stack([W.seasonal_naive(series[k].values, start + c.context, c.horizon, season)
                              for k, start in picks], axis=1)
            out["snaive_mase"] = FM.mase(y, naive, observed, scale)
        return out

    def describe(self, metrics: dict) -> str:
        naive = f" (seasonal naive {metrics['snaive_mase']:.4f})" if "snaive_mase" in metrics else ""
        return (f"backtest over {metrics['origins']} origin(s): loss {metrics['loss']:.4f}, MASE {metrics['mase']:.4f}"
                f"{naive}, sMAPE {metrics['smape']:.3f}%, RMSE {metrics['rmse']:.4g}, coverage 80% "
                f"{metrics['coverage_80']:.3f}, 95% {metrics['coverage_95']:.3f}")

    def predict(self, model, lines, options):
        """The next h values after the data's end, as CSV rows (lines are not read)."""
        rows = self.forecast_future(model, options.data if options is not None else None)
        yield "date,series,mean,lo80,hi80,lo95,hi95"
        for r in rows:
            yield ",".join([r["date"], _csv_cell(r["series"])] + [f"{r[k]:.6g}" for k in
                                                                  ("mean", "lo80", "hi80", "lo95", "hi95")])

    def forecast_future(self, model, source: str | None = None) -> list[dict]:
        """[{date, series, mean, lo80, hi80, lo95, hi95}] for the h steps after each series' last point."""
        c = self.cfg
        series, _ = self._data(source or c.data)
        short = [s for s in series if len(s) < c.context]
        if short:
            raise ValueError(f"{source or c.data}: series {short[0].name!r} has {len(short[0])} points, fewer than "
                             f"--context {c.context}")
        future = [S.future_dates(s.dates, c.horizon) for s in series]
        kinds = tuple(self.prepared["calendar"])
        feats = [S.calendar_features(np.concatenate([s.dates, f]), kinds) for s, f in zip(series, future)]
        picks = [(k, len(s) - c.context) for k, s in enumerate(series)]
        batch = ForecastBatch(*W.window_batch(series, feats, picks, c.context, c.horizon, c.scaling))
        _, point, bounds, _ = self._forecast(model, batch)
        return [{"date": S.format_date(future[j][i]), "series": series[j].name, "mean": point[i, j],
                 "lo80": bounds["80"][0][i, j], "hi80": bounds["80"][1][i, j],
                 "lo95": bounds["95"][0][i, j], "hi95": bounds["95"][1][i, j]}
                for j in range(len(series)) for i in range(c.horizon)]

    def plot(self, model, run_dir: Path, out: Path | None = None) -> Path:
        """history, forecast and intervals of every series (at most 6 panels) -> RUN_DIR/forecast.png."""
        from unroll.tasks.forecast_plot import forecast_figure, save
        series, _ = self._data(self.cfg.data)
        rows = self.forecast_future(model)
        fig = forecast_figure(series, rows, history=max(4 * self.cfg.horizon, self.cfg.context))
        return save(fig, Path(out) if out else Path(run_dir) / "forecast.png")

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

    def _read(self, path) -> list[S.Series]:
        c = self.cfg
        return S.read_series(path, c.date_column, c.value_columns, c.id_column, c.missing)

    def _data(self, source: str):
        """(series, calendar features per series) of the run's data (checked unchanged) or another file."""
        if source not in self._cache:
            if source == self.cfg.data and self.prepared.get("data_sha256") not in (None, S.digest(source)):
                raise ValueError(f"{source} changed since the run started (SHA-256 differs); pass the new file "
                                 "with --data to evaluate or forecast from it")
            series = self._read(source)
            kinds = tuple(self.prepared["calendar"])
            self._cache[source] = series, [S.calendar_features(s.dates, kinds) for s in series]
        return self._cache[source]


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


TASK = ForecastTask
