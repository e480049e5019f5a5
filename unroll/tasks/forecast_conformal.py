"""Split conformal prediction intervals (``--intervals conformal``) from a calibration part of the training tail.

Each series of n points is split: training windows lie in its first n - V - K points, the calibration
part is the K points after them (``--calibration-length``), the held-out tail the last V. The network
never trains on the calibration part. With the trained model, forecast from every origin o = n - V - K ..
n - V - h (stride 1) and score each forecast step k by its absolute residual in the window's scaled units,

    e_{o,k} = |y_{o+k} - ŷ_{o+k}| / s_o                  (s_o: the window's scale, so series of any size pool)

For a level 1 - α and step k, with the m scores e_{·,k} sorted, the conformal quantile is the
⌈(m + 1)(1 - α)⌉-th smallest (split conformal's finite-sample rule: the interval ŷ ± q_k s covers a new
exchangeable point with probability at least 1 - α). One quantile per horizon step, pooled over the
series; per series where that series alone has at least ``PER_SERIES`` scores per step. The interval at
an origin is ŷ_{o+k} ± q_k s_o.

The quantiles are a function of the checkpoint's weights and of the run's data (checked unchanged by its
SHA-256). They are stored in the run folder: when training ends, result.json's "conformal" holds the
table of the last weights and of the best validation of that process, each under the SHA-256 of the
weights it belongs to (``weights_digest``), and eval, predict and plot apply the stored table of the
checkpoint they load. A checkpoint without one (a run folder from before, an interrupted run, a best
checkpoint of an earlier process of a resumed run) gets its table recomputed from the calibration part,
which gives the same numbers.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

LEVELS = {"80": 0.8, "95": 0.95}
PER_SERIES = 100                 # scores per step a series needs for quantiles of its own


def picks(series, C: int, h: int, V: int, K: int) -> list[tuple[int, int]]:
    """(series, window start) of every calibration origin o in n - V - K .. n - V - h."""
    return [(k, o - C) for k, s in enumerate(series) for o in range(len(s) - V - K, len(s) - V - h + 1)]


def rank(m: int, level: float) -> int:
    """⌈(m + 1) level⌉: the rank of the conformal quantile among m sorted scores."""
    return math.ceil((m + 1) * level - 1e-12)


def check_count(series, h: int, K: int) -> None:
    """A new run: the calibration part must give each level a finite quantile (at least 19 residuals per
    step for 95%); the error names the --calibration-length that would."""
    M = len(series) * (K - h + 1)
    need = max(math.ceil(level / (1 - level) - 1e-9) for level in LEVELS.values())
    if M < need:
        fits = h - 1 + math.ceil(need / len(series))
        raise ValueError(f"--intervals conformal: --calibration-length {K} gives {M} residuals per horizon step "
                         f"({len(series)} series x {K - h + 1} origins), fewer than the {need} a 95% conformal interval needs; "
                         f"--calibration-length {fits} would give enough")


def fit(scores: np.ndarray, ids: np.ndarray) -> dict:
    """scores (h, M): residuals in scaled units of M calibration windows; ids (M,): their series.

    -> {"pooled": {level: [q_k]}, "series": {str(series): {level: [q_k]}}} (JSON-able)."""
    M = scores.shape[1]
    for name, level in LEVELS.items():
        if rank(M, level) > M:
            raise ValueError(f"the calibration part gives {M} residuals per horizon step, fewer than the "
                             f"{math.ceil(level / (1 - level))} a {name}% conformal interval needs; lengthen "
                             "--calibration-length or add series")
    table = {"pooled": _quantiles(scores), "series": {}}
    for k in np.unique(ids):
        mine = scores[:, ids == k]
        if mine.shape[1] >= PER_SERIES:
            table["series"][str(int(k))] = _quantiles(mine)
    return table


def _quantiles(scores: np.ndarray) -> dict:
    ordered = np.sort(scores, axis=1)
    m = ordered.shape[1]
    return {name: [float(v) for v in ordered[:, rank(m, level) - 1]] for name, level in LEVELS.items()}


def bounds(point: np.ndarray, scale: np.ndarray, ids, table: dict) -> dict:
    """{"80": (lo, hi), "95": (lo, hi)} of (h, N): ŷ ± q_k s, each column with its series' quantiles
    (its own when fitted, else the pooled ones)."""
    out = {}
    for name in LEVELS:
        q = np.stack([np.array(table["series"].get(str(int(k)), table["pooled"])[name]) for k in ids], axis=1)
        half = q * scale
        out[name] = (point - half, point + half)
    return out


def weights_digest(params: dict) -> str:
    """SHA-256 of a model's weights (names, dtypes, shapes and bytes, in name order): the key of its table."""
    h = hashlib.sha256()
    for name in sorted(params):
        value = np.ascontiguousarray(params[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()
