"""The forecast task's settings: ``unroll train --task forecast`` flags (the "forecast" section of
config.json) and ``unroll predict``'s. Fields added since the first release have defaults, so older run
folders load unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from unroll.config import option
from unroll.data import series as S
from unroll.models import forecast_likelihood as FL
from unroll.models.forecaster import AR_LOSS, DECODERS
from unroll.tasks import forecast_data as FD


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
    static_columns: str | None = option(None, help="long layout: comma-separated columns holding one number per "
                                                   "series (static features, read at every step)")
    series_embedding: int = option(0, help="panels: a learned embedding of N values per series, read at every step")

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
        if self.static_columns and self.id_column is None:
            raise ValueError("--static-columns needs the long layout (--id-column): in the wide layout every series "
                             "shares the same rows")
        if self.series_embedding < 0:
            raise ValueError(f"--series-embedding must be >= 0, got {self.series_embedding}")
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
