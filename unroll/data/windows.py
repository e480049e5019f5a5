"""Windows of C context + h horizon values cut from series, scaled from their context; backtest origins.

A series of n points keeps its last V points (the held-out tail) for validation: training windows lie
wholly in the first n - V points; a rolling-origin backtest forecasts from origins o = n - V, n - V + stride,
... (while o + h <= n), each from the C points before o (which may include earlier held-out points, as
the forecaster would have seen them by then).
"""

from __future__ import annotations

import numpy as np

from unroll.data.series import Series, window_scale


def window_batch(series: list[Series], features: list[np.ndarray], picks, C: int, h: int, scaling: str,
                 dtype=np.float64, extra: list[np.ndarray] | None = None, own: int = 0) -> tuple:
    """(z (C+h, N), cal (C+h, N, F), observed (C+h, N), loc (1, N), scale (1, N), exog (C+h, N, E)): the
    fields of a models.forecaster.ForecastBatch, for the windows ``picks`` = [(series index, start)]: values
    start .. start+C+h-1.

    features[k]: (n_k (+ h for forecasts past the end), F) calendar features of series k; extra[k] alike,
    (n_k (+ h), E) covariates (None: E = 0). A window that runs past the series' end (a forecast) gets z = 0
    and observed = 0 there.

    own: the first ``own`` columns of ``extra`` are scaled per window like the values, each from its own
    context part by ``scaling``'s rule (u = (x - loc_c) / scale_c over the whole window, horizon included;
    the other columns are taken as they are, already standardised by the caller).
    """
    T, N, F = C + h, len(picks), features[0].shape[1]
    z, cal, obs = np.zeros((T, N), dtype), np.zeros((T, N, F), dtype), np.zeros((T, N), dtype)
    loc, scale = np.zeros((1, N), dtype), np.ones((1, N), dtype)
    ex = np.zeros((T, N, extra[0].shape[1] if extra else 0), dtype)
    for j, (k, start) in enumerate(picks):
        if extra:
            ex[:, j] = extra[k][start:start + T]
            for c in range(own):
                at, by = window_scale(ex[:C, j, c], np.ones(C), scaling)
                ex[:, j, c] = (ex[:, j, c] - at) / by
        s = series[k]
        end = min(start + T, len(s))
        loc[0, j], scale[0, j] = window_scale(s.values[start:start + C], s.observed[start:start + C], scaling)
        z[:end - start, j] = (s.values[start:end] - loc[0, j]) / scale[0, j]
        obs[:end - start, j] = s.observed[start:end]
        cal[:, j] = features[k][start:start + T]
    return z, cal, obs, loc, scale, ex


def training_picks(series: list[Series], C: int, h: int, V: int) -> list[tuple[int, int]]:
    """Every (series, start) whose window lies in the series' first n - V points."""
    return [(k, start) for k, s in enumerate(series) for start in range(len(s) - V - (C + h) + 1)]


def backtest_picks(series: list[Series], C: int, h: int, V: int, stride: int) -> list[tuple[int, int]]:
    """(series, window start = origin - C) of every rolling origin in each series' held-out tail."""
    return [(k, o - C) for k, s in enumerate(series) for o in range(len(s) - V, len(s) - h + 1, stride)]


def check_lengths(path, series: list[Series], C: int, h: int, V: int, K: int = 0) -> None:
    """Each series must hold one training window, the calibration part K (conformal intervals) and the
    held-out tail: n >= C + h + K + V (V = 0: no tail); the error for a shorter one names the --context that
    would fit it (at least 2)."""
    if 0 < V < h:
        raise ValueError(f"--valid-length {V} must be 0 (no held-out tail) or at least --horizon {h} (one "
                         "backtest origin)")
    for s in series:
        if len(s) < C + h + K + V:
            held = (f" + the calibration --calibration-length {K}" if K else "") + \
                (f" + the held-out --valid-length {V}" if V else "")
            fit, whole = len(s) - h - K - V, len(s) - h - K
            hint = (f"--context {fit} would fit" if fit >= 2 else
                    "no --context fits (it needs 2 points): shorten --horizon" + (" or --valid-length" if V else ""))
            if V and whole >= 2:
                hint += f" (or --valid-length 0, training on the whole series: --context {min(C, whole)} fits)"
            raise ValueError(f"{path}: series {s.name!r} has {len(s)} points, fewer than --context {C} + "
                             f"--horizon {h}{held} = {C + h + K + V}; {hint}")

def seasonal_naive(values: np.ndarray, origin: int, h: int, m: int) -> np.ndarray:
    """y_{o+k} = y_{o+k-m·(1 + k // m)} for k = 0 .. h-1 (the last season repeated)."""
    k = np.arange(h)
    return values[origin + k - m * (1 + k // m)]
