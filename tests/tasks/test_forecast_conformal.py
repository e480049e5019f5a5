"""Conformal intervals (issue 31, item 2): on 200 synthetic series with known noise (levels 5..500, so the
scaled residuals pool), the 80% and 95% split-conformal intervals of a small, briefly trained network
cover within ±3 points of their level on the held-out windows, with the likelihood's own intervals and
every level's Winkler score reported beside them; the quantile rank is split conformal's ⌈(m+1)(1-α)⌉;
predict applies the same quantiles (ŷ ± q_k s); too few residuals are refused in one line."""

import csv
import io
import json

import numpy as np
import pytest

from unroll import runs as run
from unroll.cli import main
from unroll.data import series as S
from unroll.tasks import forecast_conformal as FC

N_SERIES, N_POINTS, C, H = 200, 80, 12, 4


def write_panel(path, seed=0, n_series=N_SERIES, n_points=N_POINTS):
    """Long layout (the calibration part, 12 origins, and the held-out tail, 24, hold whole periods of 6, so
    that a phase-dependent error of the briefly trained network is as common in both): series k = level_k (1 + 0.3 sin(2πt/6)) + level_k · 0.1 ε."""
    rng = np.random.default_rng(seed)
    rows = ["t,id,y"]
    for k in range(n_series):
        level = 5 * 10 ** rng.uniform(0, 2)
        t = np.arange(n_points)
        y = level * (1 + 0.3 * np.sin(2 * np.pi * t / 6) + 0.1 * rng.standard_normal(n_points))
        rows += [f"{i},s{k:03d},{v:.5f}" for i, v in zip(t, y)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformal")
    write_panel(folder / "panel.csv")
    assert main(["train", "--task", "forecast", "--data", str(folder / "panel.csv"), "--id-column", "id",
                 "--context", str(C), "--horizon", str(H), "--valid-length", "27", "--stride", "1", "--intervals",
                 "conformal", "--calibration-length", "15", "--hidden", "8", "--batch", "32", "--lr", "0.01", "--max-steps", "60",
                 "--eval-every", "60", "--quiet", "--out", str(folder / "r")]) == 0
    return folder


def test_conformal_intervals_cover_their_level_on_held_out_windows(panel, capsys):
    capsys.readouterr()
    assert main(["eval", str(panel / "r"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["origins"] == N_SERIES * 24                                   # origins 53 .. 76 of each series
    assert abs(got["coverage_80"] - 0.80) <= 0.03, got
    assert abs(got["coverage_95"] - 0.95) <= 0.03, got
    for key in ("likelihood_coverage_80", "likelihood_coverage_95", "winkler_80", "winkler_95",
                "likelihood_winkler_80", "likelihood_winkler_95"):
        assert np.isfinite(got[key]), key
    assert main(["eval", str(panel / "r")]) == 0
    line = capsys.readouterr().out
    assert f"80% conformal coverage {got['coverage_80']:.3f} Winkler {got['winkler_80']:.4g} (likelihood's " \
           f"{got['likelihood_coverage_80']:.3f}" in line


def test_predict_applies_the_calibration_quantiles(panel, capsys):
    task, model, _ = run.load(panel / "r")
    table = task._conformal(model)
    assert set(table) == {"pooled", "series"} and table["series"] == {}      # 12 scores a series: pooled
    assert main(["predict", str(panel / "r")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == N_SERIES * H
    series = S.read_series(panel / "panel.csv", id_column="id")
    for j in (0, 57, 199):
        s = series[j]
        _, scale = S.window_scale(s.values[-C:], s.observed[-C:], "meanabs")
        for k in range(H):
            r = rows[j * H + k]
            assert r["series"] == s.name
            for level in ("80", "95"):
                half = (float(r[f"hi{level}"]) - float(r[f"lo{level}"])) / 2
                assert half == pytest.approx(table["pooled"][level][k] * scale, rel=1e-5)


def test_the_quantile_is_the_split_conformal_rank():
    scores = np.arange(1.0, 20.0)[None, :]                                    # m = 19 residuals
    table = FC.fit(scores, np.zeros(19, int))
    assert table["pooled"] == {"80": [16.0], "95": [19.0]}                   # ⌈20·0.8⌉ = 16, ⌈20·0.95⌉ = 19
    with pytest.raises(ValueError, match="the calibration part gives 18 residuals per horizon step, fewer than "
                                         "the 19 a 95% conformal interval needs"):
        FC.fit(np.arange(18.0)[None, :], np.zeros(18, int))
    many = FC.fit(np.tile(np.arange(100.0), (2, 2)), np.repeat([0, 1], 100))  # 100 each: their own
    assert set(many["series"]) == {"0", "1"} and many["series"]["0"]["95"] == [95.0, 95.0]


def test_conformal_flags_are_checked(tmp_path, capsys):
    write_panel(tmp_path / "panel.csv")
    base = ["train", "--task", "forecast", "--data", str(tmp_path / "panel.csv"), "--id-column", "id", "--context",
            "12", "--horizon", "4", "--max-steps", "1", "--quiet", "--out", str(tmp_path / "r")]
    for extra, expected in ((["--calibration-length", "8"], "--calibration-length applies to --intervals conformal"),
                            (["--intervals", "conformal", "--calibration-length", "3"],
                             "--calibration-length 3 must be at least --horizon 4"),
                            (["--intervals", "conformal", "--calibration-length", "70"],
                             "series 's000' has 80 points, fewer than --context 12 + --horizon 4 + the calibration "
                             "--calibration-length 70 + the held-out --valid-length 4 = 90")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, err
        assert not (tmp_path / "r").exists()


def test_too_few_calibration_residuals_are_refused_before_the_run_folder(tmp_path, capsys):
    values = 10 + np.sin(np.arange(60))
    (tmp_path / "one.csv").write_text("t,y\n" + "".join(f"{t},{v:.4f}\n" for t, v in enumerate(values)))
    assert main(["train", "--task", "forecast", "--data", str(tmp_path / "one.csv"), "--context", "8", "--horizon",
                 "4", "--intervals", "conformal", "--max-steps", "1", "--quiet", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == (
        "unroll: error: --intervals conformal: --calibration-length 12 gives 9 residuals per horizon step (1 series x 9 origins), fewer "
        "than the 19 a 95% conformal interval needs; --calibration-length 22 would give enough")
    assert not (tmp_path / "r").exists()
