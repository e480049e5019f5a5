"""Point and interval scores of forecasts, pooled over every observed (series, origin, step) point.

    MASE   = mean |y - ŷ| / s_k        s_k: series k's in-sample seasonal naive MAE (lag m, training part)
    sMAPE  = 100 · mean 2 |y - ŷ| / (|y| + |ŷ|)          (percent; M4's definition; 0/0 counts 0)
    RMSE   = sqrt(mean (y - ŷ)²)                          (the data's units)
    coverage_80, coverage_95 = share of points inside [lo, hi] of the central 80% / 95% interval
    winkler_80, winkler_95   = mean interval score (Winkler 1972) of [lo, hi] at level 1 - α:
                               (hi - lo) + (2/α)(lo - y)·[y < lo] + (2/α)(y - hi)·[y > hi]   (the data's units)
"""

from __future__ import annotations

import numpy as np


def scores(y: np.ndarray, point: np.ndarray, bounds: dict, observed: np.ndarray, scale: np.ndarray) -> dict:
    """y, point, observed: (h, N); bounds: {"80": (lo, hi), "95": (lo, hi)} of (h, N); scale: (N,) MASE's s_k."""
    keep = observed > 0
    if not keep.any():
        raise ValueError("no observed value to score the forecasts against")
    err = (y - point)[keep]
    denom = (np.abs(y) + np.abs(point))[keep]
    out = {"mase": float(np.mean(np.abs((y - point) / scale[None])[keep])),
           "smape": float(100 * np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0))),
           "rmse": float(np.sqrt(np.mean(err ** 2)))}
    return {**out, **intervals(y, bounds, observed)}


def intervals(y: np.ndarray, bounds: dict, observed: np.ndarray, prefix: str = "") -> dict:
    """{prefix + "coverage_80", prefix + "winkler_80", ...} of the bounds {"80": (lo, hi), ...}."""
    keep, out = observed > 0, {}
    for name, (lo, hi) in bounds.items():
        alpha = 1 - int(name) / 100
        score = (hi - lo) + (2 / alpha) * np.maximum(lo - y, 0) + (2 / alpha) * np.maximum(y - hi, 0)
        out[f"{prefix}coverage_{name}"] = float(np.mean(((y >= lo) & (y <= hi))[keep]))
        out[f"{prefix}winkler_{name}"] = float(np.mean(score[keep]))
    return out


def mase(y: np.ndarray, point: np.ndarray, observed: np.ndarray, scale: np.ndarray) -> float:
    """MASE alone (for a baseline's forecasts)."""
    keep = observed > 0
    return float(np.mean(np.abs((y - point) / scale[None])[keep]))


def per_series(names: list[str], y, point, bounds: dict, observed, scale, baselines: dict) -> dict:
    """{series name: its own scores and baselines' MASE} of a panel's backtest; names: (N,) each column's series."""
    names = np.array(names)
    out = {}
    for name in dict.fromkeys(names.tolist()):
        cols = names == name
        if not (observed[:, cols] > 0).any():
            continue
        mine = {k: (lo[:, cols], hi[:, cols]) for k, (lo, hi) in bounds.items()}
        out[name] = {**scores(y[:, cols], point[:, cols], mine, observed[:, cols], scale[cols]),
                     **{f"{b}_mase": mase(y[:, cols], f[:, cols], observed[:, cols], scale[cols])
                        for b, f in baselines.items()}}
    return out
