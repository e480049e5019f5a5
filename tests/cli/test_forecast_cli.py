"""`unroll train --task forecast`, `eval`, `predict` and `plot` end to end in a temporary folder, for both
decoders: eval equals the logged validation figures, predict writes h rows per series with ordered interval
bounds on the dates after the data's end, plot draws the forecast, a resumed run ends bit-identical; bad input
gets one line, exit status 2 and no run folder."""

import csv
import io
import json

import numpy as np
import pytest

from unroll.cli import main
from unroll import runs as run

N_MONTHS = 60


@pytest.fixture()
def data(tmp_path):
    """Two monthly series in the long layout (store a, store b), a seasonal pattern with noise."""
    rng = np.random.default_rng(0)
    months = np.arange(np.datetime64("2000-01"), np.datetime64("2000-01") + N_MONTHS)
    rows = ["month,store,sales"]
    for t, m in enumerate(months):
        for store, level in (("a", 20.0), ("b", 50.0)):
            rows.append(f"{m},{store},{level + 5 * np.sin(2 * np.pi * t / 12) + rng.standard_normal():.4f}")
    (tmp_path / "sales.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def logged(run_dir) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "valid_loss" in r]


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_train_eval_predict_plot_resume(data, decoder, capsys, monkeypatch):
    monkeypatch.chdir(data)
    common = ["train", "--task", "forecast", "--data", "sales.csv", "--id-column", "store", "--context", "12",
              "--horizon", "6", "--valid-length", "12", "--stride", "2", "--hidden", "8", "--decoder", decoder,
              *(["--samples", "50"] if decoder == "autoregressive" else []),   # direct refuses --samples
              "--batch", "8", "--eval-every", "10", "--lr", "0.01", "--quiet"]
    assert main([*common, "--max-steps", "30", "--out", "whole"]) == 0
    valid = logged(data / "whole")
    assert [r["step"] for r in valid] == [10, 20, 30] and valid[-1]["valid_loss"] < valid[0]["valid_loss"]
    capsys.readouterr()
    assert main(["eval", "whole", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("loss", "mase", "smape", "rmse", "coverage_80", "coverage_95", "snaive_mase"):
        assert result[name] == valid[-1][f"valid_{name}"], name
    assert result["origins"] == 2 * 4                       # origins 48, 50, 52, 54 of each store
    assert main(["eval", "whole", "--data", "sales.csv", "--json"]) == 0       # the same file, read afresh
    assert json.loads(capsys.readouterr().out) == result

    assert main(["predict", "whole"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == ["date", "series", "mean", "lo80", "hi80", "lo95", "hi95"]
    assert [(r["series"], r["date"]) for r in rows] == [(s, f"2005-{m:02d}") for s in "ab" for m in range(1, 7)]
    for r in rows:
        lo95, lo80, mean, hi80, hi95 = (float(r[k]) for k in ("lo95", "lo80", "mean", "hi80", "hi95"))
        assert lo95 < lo80 < hi80 < hi95 and lo95 < mean < hi95
    assert np.mean([float(r["mean"]) for r in rows if r["series"] == "b"]) > 35    # store b's level is 50

    assert main(["plot", "whole"]) == 0
    assert capsys.readouterr().out.split() == ["whole/forecast.png", "whole/curves.png"]
    assert (data / "whole" / "forecast.png").stat().st_size > 1000

    assert main([*common, "--max-steps", "15", "--out", "split"]) == 0
    assert main(["train", "--resume", "split", "--max-steps", "30", "--quiet"]) == 0
    whole, split = run.load(data / "whole")[1], run.load(data / "split")[1]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
    assert {r["step"]: r for r in logged(data / "split")}[30] | {"elapsed": 0, "tokens_per_s": 0} == \
        valid[-1] | {"elapsed": 0, "tokens_per_s": 0}


def test_the_figure_draws_history_forecast_and_both_bands(data):
    from unroll.tasks.forecast_plot import forecast_figure
    from unroll.data.series import read_series
    series = read_series(data / "sales.csv", id_column="store")
    rows = [{"date": f"2005-{m:02d}", "series": s, "mean": 1.0 * m, "lo80": m - 1.0, "hi80": m + 1.0,
             "lo95": m - 2.0, "hi95": m + 2.0} for s in "ab" for m in range(1, 4)]
    fig = forecast_figure(series, rows, history=24)
    top = fig.axes[0]
    history, forecast = top.lines
    assert np.array_equal(history.get_ydata(), series[0].values[-24:])
    assert forecast.get_ydata().tolist() == [1.0, 2.0, 3.0]
    assert len(top.collections) == 2                               # the 95% and the 80% bands
    band95 = top.collections[0].get_paths()[0].vertices[:, 1]
    assert band95.min() == -1.0 and band95.max() == 5.0
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


BAD = {
    "non-numeric": ("month,v\n2000-01,1\n2000-02,abc\n", [], "bad.csv line 3 column 2 (v): 'abc' is not a number"),
    "missing": ("month,v\n2000-01,1\n2000-02,\n", [], "bad.csv line 3 column 2 (v): missing value ''; pass "
                                                     "--missing ffill or --missing zero to fill missing values"),
    "out of order": ("month,v\n2000-02,1\n2000-01,2\n", [], "bad.csv line 3 column 1 (month): 2000-01 comes "
                                                           "before the timestamp 2000-02 of line 2"),
    "duplicated": ("month,v\n2000-01,1\n2000-01,2\n", [], "bad.csv line 3 column 1 (month): 2000-01 repeats"),
    "too short": ("month,v\n" + "".join(f"2000-{m:02d},{m}\n" for m in range(1, 13)), [],
                  "bad.csv: series 'v' has 12 points, fewer than --context 36 + --horizon 12"),
    "no data": (None, [], "--task forecast needs --data"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_with_status_2_and_no_run_folder(data, case, capsys, monkeypatch):
    monkeypatch.chdir(data)
    text, extra, expected = BAD[case]
    args = ["train", "--task", "forecast", "--max-steps", "1", "--out", "r", "--quiet", *extra]
    if text is not None:
        (data / "bad.csv").write_text(text)
        args += ["--data", "bad.csv"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unroll: error: ") and expected in err[0], err
    assert not (data / "r").exists()


def test_missing_values_train_when_a_fill_is_named(data, capsys, monkeypatch):
    monkeypatch.chdir(data)
    lines = (data / "sales.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",NA"
    (data / "gaps.csv").write_text("\n".join(lines) + "\n")
    args = ["train", "--task", "forecast", "--data", "gaps.csv", "--id-column", "store", "--context", "12",
            "--horizon", "6", "--hidden", "4", "--max-steps", "2", "--quiet"]
    assert main([*args, "--out", "refused"]) == 2 and not (data / "refused").exists()
    assert "line 6 column 3 (sales): missing value 'NA'" in capsys.readouterr().err
    assert main([*args, "--missing", "ffill", "--out", "filled"]) == 0
