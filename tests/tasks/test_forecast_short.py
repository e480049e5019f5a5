"""Short series and baselines (issue 31, items 5 and 4): two years of monthly sales with h = 12 train with
--valid-length 0 (no held-out tail; eval says so; predict and plot work), a series shorter than context +
horizon is refused naming the --context that would fit; eval prints the naive and seasonal naive MASE of
the same origins beside the network's (recomputed here by hand), and plot draws the seasonal naive
forecast in grey."""

import json

import numpy as np
import pytest

from unroll.cli import main


def write_monthly(path, n, seed=0):
    rng = np.random.default_rng(seed)
    months = np.arange(np.datetime64("2020-01"), np.datetime64("2020-01") + n)
    values = np.round(50 + 10 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 2, n), 3)
    path.write_text("month,sales\n" + "".join(f"{m},{v}\n" for m, v in zip(months, values)))
    return values


def train(tmp_path, *extra, out="r"):
    return main(["train", "--task", "forecast", "--data", str(tmp_path / "sales.csv"), "--hidden", "4",
                 "--batch", "4", "--max-steps", "4", "--eval-every", "2", "--quiet", "--out", str(tmp_path / out),
                 *extra])


def test_two_years_of_monthly_sales_train_with_no_held_out_tail(tmp_path, capsys):
    write_monthly(tmp_path / "sales.csv", 24)
    assert train(tmp_path, "--context", "12", "--horizon", "12", "--valid-length", "0") == 0
    logged = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "valid_origins" in r] == [2, 4]
    assert not any("valid_loss" in r for r in logged) and not (tmp_path / "r" / "best").exists()
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == ("unroll: error: nothing held out (--valid-length 0): the model is "
                                               "the last checkpoint; pass --data FILE to backtest the last "
                                               "--horizon points of a file")
    assert main(["predict", str(tmp_path / "r")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 13 and rows[1].startswith("2022-01,sales,")
    write_monthly(tmp_path / "later.csv", 40)                              # C + h + a training part for MASE
    assert main(["eval", str(tmp_path / "r"), "--data", str(tmp_path / "later.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["origins"] == 1             # the file's last 12 points


SHORT = [
    (["--context", "20", "--horizon", "12", "--valid-length", "0"],
     "sales.csv: series 'sales' has 24 points, fewer than --context 20 + --horizon 12 = 32; --context 12 would fit"),
    (["--context", "12", "--horizon", "12"],
     "sales.csv: series 'sales' has 24 points, fewer than --context 12 + --horizon 12 + the held-out "
     "--valid-length 12 = 36; no --context fits (it needs 2 points): shorten --horizon or --valid-length (or "
     "--valid-length 0, training on the whole series: --context 12 fits)"),
    (["--context", "9", "--horizon", "6"],
     "sales.csv: series 'sales' has 20 points, fewer than --context 9 + --horizon 6 + the held-out --valid-length "
     "6 = 21; --context 8 would fit (or --valid-length 0, training on the whole series: --context 9 fits)"),
    (["--horizon", "12", "--valid-length", "5"],
     "--valid-length 5 must be 0 (no held-out tail) or at least --horizon 12 (one backtest origin)"),
    (["--valid-length", "-1"], "--valid-length must be >= 0 (0: no held-out tail), got -1"),
]


@pytest.mark.parametrize("flags,expected", SHORT)
def test_a_short_series_is_refused_naming_the_context_that_fits(tmp_path, capsys, flags, expected):
    write_monthly(tmp_path / "sales.csv", 24 if "9" not in flags else 20)
    assert train(tmp_path, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unroll: error: ") and err.endswith(expected) and "\n" not in err, err
    assert not (tmp_path / "r").exists()


def test_eval_prints_naive_and_seasonal_naive_of_the_same_origins(tmp_path, capsys):
    """origins 48, 51 (valid 6, stride 3, h 3): naive repeats y_{o-1}, seasonal naive y_{o+k-12}."""
    y = write_monthly(tmp_path / "sales.csv", 54)
    assert train(tmp_path, "--context", "12", "--horizon", "3", "--valid-length", "6") == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    s = np.mean(np.abs(y[12:48] - y[:36]))                                 # MASE's scale, training part
    naive = [abs(y[o + k] - y[o - 1]) / s for o in (48, 51) for k in range(3)]
    snaive = [abs(y[o + k] - y[o + k - 12]) / s for o in (48, 51) for k in range(3)]
    assert got["naive_mase"] == pytest.approx(np.mean(naive), rel=1e-12)
    assert got["snaive_mase"] == pytest.approx(np.mean(snaive), rel=1e-12)
    assert main(["eval", str(tmp_path / "r")]) == 0
    line = capsys.readouterr().out
    assert f"(naive {got['naive_mase']:.4f}, seasonal naive {got['snaive_mase']:.4f}" in line


def test_plot_draws_the_seasonal_naive_forecast_in_grey(tmp_path, capsys, monkeypatch):
    y = write_monthly(tmp_path / "sales.csv", 54)
    assert train(tmp_path, "--context", "12", "--horizon", "3", "--valid-length", "6") == 0
    drawn = {}
    import unroll.tasks.forecast_plot as FP
    real = FP.forecast_figure

    def spy(series, rows, history=48, baseline=None):
        fig = real(series, rows, history, baseline)
        drawn["grey"] = [line.get_ydata().tolist() for line in fig.axes[0].lines if line.get_color() == "grey"]
        return fig
    monkeypatch.setattr(FP, "forecast_figure", spy)
    assert main(["plot", str(tmp_path / "r")]) == 0
    assert drawn["grey"] == [y[42:45].tolist()]                             # the last season's 3 months


def test_eval_adds_autoets_when_statsforecast_is_installed(tmp_path, capsys):
    """With the bench extra: AutoETS(season 12) refitted on y_0 .. y_{o-1} at each origin."""
    models = pytest.importorskip("statsforecast.models")
    y = write_monthly(tmp_path / "sales.csv", 54)
    assert train(tmp_path, "--context", "12", "--horizon", "3", "--valid-length", "6") == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    s = np.mean(np.abs(y[12:48] - y[:36]))
    errors = [np.abs(y[o:o + 3] - models.AutoETS(season_length=12).forecast(y=y[:o], h=3)["mean"]) / s
              for o in (48, 51)]
    assert got["ets_mase"] == pytest.approx(np.mean(errors), rel=1e-9)


def test_a_run_folder_from_before_issue_31_still_loads(tmp_path, capsys):
    """config.json without the new forecast settings and without "covariates" (an older run) reads as the
    defaults: the same backtest."""
    write_monthly(tmp_path / "sales.csv", 54)
    assert train(tmp_path, "--context", "12", "--horizon", "3", "--valid-length", "6") == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    now = json.loads(capsys.readouterr().out)
    path = tmp_path / "r" / "config.json"
    config = json.loads(path.read_text())
    new = ("likelihood", "intervals", "calibration_length", "past_covariates", "future_covariates", "static_columns",
           "series_embedding")
    config["forecast"] = {k: v for k, v in config["forecast"].items() if k not in new}
    del config["covariates"]
    path.write_text(json.dumps(config))
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == now
