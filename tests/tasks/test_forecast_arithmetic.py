"""Forecast metrics against independent arithmetic (issue 29): MASE (with the seasonal lag the data's
frequency implies, or --season), sMAPE, RMSE and interval coverage of `unroll eval`, recomputed by hand
in this file from the forecasts `unroll predict --data PREFIX` makes at each backtest origin (a second
path: the data cut at the origin, forecast after its end) and the held-out values.

    s_k   = mean_t |y_t - y_{t-m}| over series k's training part (all but the last --valid-length points)
    MASE  = mean over every (series, origin, step) of |y - f| / s_k
    sMAPE = 100 · mean 2 |y - f| / (|y| + |f|)
    RMSE  = sqrt(mean (y - f)²)
    coverage_80 = share of points with lo80 <= y <= hi80 (95 alike)
"""

import csv
import io
import json

import numpy as np
import pytest

from unroll.cli import main

N, C, H, V = 40, 6, 3, 6                    # points per series, context, horizon, held-out tail (2 origins)


def dates(freq: str) -> list[str]:
    if freq == "monthly":
        return [str(d) for d in np.arange(np.datetime64("2001-01"), np.datetime64("2001-01") + N)]
    if freq == "quarterly":
        return [f"{2000 + q // 4}-{3 * (q % 4) + 1:02d}-01" for q in range(N)]
    if freq == "daily":
        return [str(d) for d in np.arange(np.datetime64("2001-03-01"), np.datetime64("2001-03-01") + N)]
    return [f"2001-03-{1 + t // 24:02d} {t % 24:02d}:00" for t in range(N)]                   # hourly


def series(seed: int) -> np.ndarray:
    """Two series of different levels and seasons (3 and 5 points) with noise: (N, 2)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    a = 10 + 3 * np.sin(2 * np.pi * t / 3) + rng.normal(0, 1, N)
    b = 100 + 20 * np.cos(2 * np.pi * t / 5) + rng.normal(0, 4, N)
    return np.round(np.stack([a, b], axis=1), 3)


def write(path, days, values) -> None:
    path.write_text("when,a,b\n" + "".join(f"{d},{x:.3f},{y:.3f}\n" for d, (x, y) in zip(days, values)))


def seasonal_mae(train: np.ndarray, m: int) -> float:
    return sum(abs(train[t] - train[t - m]) for t in range(m, len(train))) / (len(train) - m)


CASES = [("monthly", None, 12), ("quarterly", None, 4), ("daily", None, 7), ("hourly", None, 24),
         ("daily", 5, 5), ("monthly", 2, 2)]


@pytest.mark.parametrize("freq,season,m", CASES)
def test_eval_metrics_equal_the_arithmetic_on_the_forecasts(tmp_path, capsys, freq, season, m):
    days, values = dates(freq), series(len(freq) + (season or 0))
    write(tmp_path / "d.csv", days, values)
    flags = ["--season", str(season)] if season else []
    assert main(["train", "--task", "forecast", "--data", str(tmp_path / "d.csv"), "--context", str(C), "--horizon",
                 str(H), "--valid-length", str(V), "--hidden", "4", "--batch", "4", "--max-steps", "3",
                 "--eval-every", "3", "--quiet", *flags, "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["origins"] == 4

    scale = [seasonal_mae(values[:N - V, k], m) for k in range(2)]
    ae, ape, se, in80, in95 = [], [], [], [], []
    for origin in range(N - V, N - H + 1, H):                              # 34 and 37
        write(tmp_path / "prefix.csv", days[:origin], values[:origin])
        assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "prefix.csv")]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert [r["series"] for r in rows] == ["a"] * H + ["b"] * H
        for i, r in enumerate(rows):
            k, step = i // H, i % H
            y, f = values[origin + step, k], float(r["mean"])
            ae.append(abs(y - f) / scale[k])
            ape.append(2 * abs(y - f) / (abs(y) + abs(f)))
            se.append((y - f) ** 2)
            in80.append(float(r["lo80"]) <= y <= float(r["hi80"]))
            in95.append(float(r["lo95"]) <= y <= float(r["hi95"]))
    n = len(ae)
    assert n == 2 * 2 * H
    assert got["mase"] == pytest.approx(sum(ae) / n, rel=1e-5)
    assert got["smape"] == pytest.approx(100 * sum(ape) / n, rel=1e-5)
    assert got["rmse"] == pytest.approx((sum(se) / n) ** 0.5, rel=1e-5)
    assert got["coverage_80"] == sum(in80) / n and got["coverage_95"] == sum(in95) / n

