"""Baseline forecasts on the same origins and horizon as the network's, so that no figure stands alone.

    naive            ŷ_{o+k} = y_{o-1}                                   always
    seasonal naive   ŷ_{o+k} = y_{o+k-m(1 + k // m)}  (last season)      when every origin o >= m
    AutoETS          statsforecast's AutoETS(season_length m), refitted   when statsforecast is installed
                     on y_0 .. y_{o-1} at each origin                     (``pip install 'unroll[bench]'``)
                                                                          and there are at most MAX_ETS_ORIGINS

Each reads only the points before its origin. ``forecasts`` returns {name: (h, N)} in the order of the
picks; ``unroll eval`` reports each one's MASE beside the network's, and ``unroll plot`` draws the seasonal
naive (else naive) forecast after the data's end in grey.
"""

from __future__ import annotations

import numpy as np

from unroll.data import windows as W

MAX_ETS_SEASON = 24             # statsforecast's ETS allows no longer season
MAX_ETS_ORIGINS = 500           # one fit per origin: a large panel's backtest would take minutes


def naive(values: np.ndarray, origin: int, h: int) -> np.ndarray:
    return np.full(h, values[origin - 1])


def forecasts(series, picks, C: int, h: int, m: int) -> dict[str, np.ndarray]:
    """{"naive", "snaive" (every origin >= m), "ets" (statsforecast installed)}: (h, N) each."""
    origins = [(series[k].values, start + C) for k, start in picks]
    out = {"naive": np.stack([naive(v, o, h) for v, o in origins], axis=1)}
    if all(o >= m for _, o in origins):
        out["snaive"] = np.stack([W.seasonal_naive(v, o, h, m) for v, o in origins], axis=1)
    ets = auto_ets() if len(origins) <= MAX_ETS_ORIGINS else None
    if ets is not None:
        out["ets"] = np.stack([ets(v[:o], h, m) for v, o in origins], axis=1)
    return out


def auto_ets():
    """A function (history, h, m) -> (h,) of AutoETS's mean forecast, or None without statsforecast."""
    try:
        from statsforecast.models import AutoETS
    except ImportError:
        return None

    def fit(history: np.ndarray, h: int, m: int) -> np.ndarray:
        season = m if 1 < m <= MAX_ETS_SEASON and len(history) >= 2 * m else 1
        return np.asarray(AutoETS(season_length=season).forecast(y=np.asarray(history, float), h=h)["mean"])
    return fit


def future(series, h: int, m: int) -> list[np.ndarray]:
    """The grey forecast of ``unroll plot``: seasonal naive after each series' end (naive when n < m)."""
    n = [len(s) for s in series]
    return [W.seasonal_naive(s.values, k, h, m) if k >= m else naive(s.values, k, h) for s, k in zip(series, n)]
