"""Panels (issue 31, item 3): a global model over series of different lengths and scales (long layout), with
a static column and a learned series embedding. The embedding's and the static path's gradients pass float64
centred differences; eval reports each series' figures beside the pooled ones, and the pooled MASE is the
mean over every point of the per-series ones weighted by their point counts; predict writes every series;
a static column that varies within a series, a static column in the wide layout and an unknown series for
an embedding model are one line each; resume stays bit-identical."""

import csv
import io
import json

import numpy as np
import pytest

from unroll import runs as run
from unroll.cli import main
from unroll.models.forecaster import ForecastBatch, Forecaster
from unroll.nn import gradcheck

LENGTHS = {"a": 50, "b": 64, "c": 80, "d": 57}
LEVELS = {"a": 3.0, "b": 40.0, "c": 900.0, "d": 15.0}


def write_panel(path, names=LENGTHS):
    rng = np.random.default_rng(0)
    rows = ["month,shop,size,sales"]
    for name in names:
        n, level = LENGTHS[name], LEVELS[name]
        start = np.datetime64("2000-01") + (80 - n)                        # every series ends in 2006-08
        for t in range(n):
            v = level * (1 + 0.2 * np.sin(2 * np.pi * t / 12) + 0.05 * rng.standard_normal())
            rows.append(f"{start + t},{name},{np.log(level):.4f},{v:.4f}")
    path.write_text("\n".join(rows) + "\n")


def args(data, out, *extra):
    return ["train", "--task", "forecast", "--data", str(data), "--id-column", "shop", "--value-columns", "sales",
            "--static-columns", "size", "--series-embedding", "3", "--context", "12", "--horizon", "6",
            "--valid-length", "12", "--stride", "3", "--hidden", "6", "--batch", "8", "--lr", "0.01",
            "--eval-every", "20", "--quiet", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel")
    write_panel(folder / "panel.csv")
    assert main([*args(folder / "panel.csv", folder / "r"), "--max-steps", "40"]) == 0
    return folder


def test_eval_per_series_and_pooled(panel, capsys):
    capsys.readouterr()
    assert main(["eval", str(panel / "r"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["origins"] == 4 * 3                                           # origins n-12, n-9, n-6 of each
    each = got["per_series"]
    assert list(each) == ["a", "b", "c", "d"]
    assert got["mase"] == pytest.approx(np.mean([each[k]["mase"] for k in each]), rel=1e-12)   # equal counts
    assert got["snaive_mase"] == pytest.approx(np.mean([each[k]["snaive_mase"] for k in each]), rel=1e-12)
    assert got["coverage_80"] == pytest.approx(np.mean([each[k]["coverage_80"] for k in each]), rel=1e-12)
    assert main(["predict", str(panel / "r")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["series"], r["date"]) for r in rows[::6]] == [(k, "2006-09") for k in "abcd"]
    config = json.loads((panel / "r" / "config.json").read_text())
    assert config["covariates"]["static"] == ["size"]
    sizes = np.log(list(LEVELS.values()))
    weights = np.array([LENGTHS[k] - 12 for k in LENGTHS])                   # each series' training part
    assert config["covariates"]["mean"] == pytest.approx([np.round(sizes, 4) @ weights / weights.sum()], rel=1e-9)


def test_an_unknown_series_is_refused_by_an_embedding_model(panel, capsys):
    (panel / "other.csv").write_text((panel / "panel.csv").read_text().replace(",a,", ",zz,"))
    assert main(["predict", str(panel / "r"), "--data", str(panel / "other.csv")]) == 2
    assert capsys.readouterr().err.strip() == (f"unroll: error: {panel / 'other.csv'}: series 'zz' is not one of the "
                                               "run's series; a --series-embedding model forecasts the series it "
                                               "was trained on")


def test_resume_is_bit_identical(panel):
    assert main([*args(panel / "panel.csv", panel / "split"), "--max-steps", "20"]) == 0
    assert main(["train", "--resume", str(panel / "split"), "--max-steps", "40", "--quiet"]) == 0
    whole, split = run.load(panel / "r")[1], run.load(panel / "split")[1]
    assert "embed.E" in whole.params and whole.params["embed.E"].shape == (4, 3)
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_gradient_check_of_the_embedding_and_static_paths(decoder):
    rng = np.random.default_rng(3)
    C, H, N = 5, 3, 6
    observed = (rng.random((C + H, N)) > 0.2).astype(float)
    observed[-1] = 1.0
    static = np.repeat(rng.standard_normal((1, N, 1)), C + H, axis=0)       # one value per window, every step
    batch = ForecastBatch(rng.standard_normal((C + H, N)), np.zeros((C + H, N, 0)), observed, np.zeros((1, N)),
                          np.ones((1, N)), static, series=np.array([0, 2, 2, 1, 0, 2]))
    model = Forecaster(C, H, 0, future=1, series=4, embedding=2, hidden_size=3, decoder=decoder, seed=2)
    _, grads, _ = model.loss_and_grads(batch)
    assert np.all(grads["embed.E"][3] == 0)                                 # series 3 is in no window
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads)
    assert set(errors) == set(model.params) and max(errors.values()) < 1e-7, errors


def vary(text: str) -> str:
    """Series a's second row (line 3) gets another size."""
    lines = text.split("\n")
    lines[2] = lines[2].replace(",a,1.0986,", ",a,7,")
    return "\n".join(lines)


BAD = {
    "varying": (vary, ["--id-column", "shop"], "panel.csv line 3 column 3 (size): '7' differs from '1.0986' on line 2 "
                                                "of the same series; a --static-columns column holds one value per "
                                                "series"),
    "wide": (None, [], "--static-columns needs the long layout (--id-column)"),
}


@pytest.mark.parametrize("case", BAD)
def test_static_column_refusals(tmp_path, capsys, case):
    write_panel(tmp_path / "panel.csv")
    edit, extra, expected = BAD[case]
    if edit:
        (tmp_path / "panel.csv").write_text(edit((tmp_path / "panel.csv").read_text()))
    assert main(["train", "--task", "forecast", "--data", str(tmp_path / "panel.csv"), "--value-columns", "sales",
                 "--static-columns", "size", "--context", "12", "--horizon", "6", "--max-steps", "1", "--quiet",
                 "--out", str(tmp_path / "r"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err, err
    assert not (tmp_path / "r").exists()
