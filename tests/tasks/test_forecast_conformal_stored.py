"""Conformal quantiles stored in the run folder (issue 31, item 2: "stored in the run folder and applied at
predict"): when training ends, result.json's "conformal" holds the table of the last weights and of the
best validation, each under the SHA-256 of its weights, equal to what the calibration part gives; predict
applies the stored table of the checkpoint it loads (a doctored table moves the intervals by exactly the
doctored factor); a result.json without tables (a run folder from before) gets them recomputed, the same
forecast bit for bit."""

import csv
import io
import json

import pytest

from tests.tasks.test_forecast_conformal import write_panel
from unroll import runs as run
from unroll.cli import main
from unroll.tasks import forecast_conformal as FC

N_SERIES, N_POINTS, C, H = 30, 60, 8, 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored")
    write_panel(folder / "panel.csv", seed=3, n_series=N_SERIES, n_points=N_POINTS)
    assert main(["train", "--task", "forecast", "--data", str(folder / "panel.csv"), "--id-column", "id",
                 "--context", str(C), "--horizon", str(H), "--valid-length", "8", "--intervals", "conformal",
                 "--calibration-length", "12", "--hidden", "6", "--batch", "16", "--lr", "0.01", "--max-steps", "40",
                 "--eval-every", "20", "--quiet", "--out", str(folder / "r")]) == 0
    return folder


def predict(run_dir, capsys, *extra) -> str:
    capsys.readouterr()
    assert main(["predict", str(run_dir), *extra]) == 0
    return capsys.readouterr().out


def test_result_json_keeps_the_tables_of_the_last_and_the_best_weights(folder):
    stored = json.loads((folder / "r" / "result.json").read_text())["conformal"]
    for which in ("last", "best"):
        task, model, _ = run.load(folder / "r", which)
        digest = FC.weights_digest(model.params)
        assert digest in stored, which
        assert task._calibrate(model) == stored[digest]                      # the calibration part's, exactly
    assert 1 <= len(stored) <= 2


def test_predict_applies_the_stored_table(folder, capsys):
    base = list(csv.DictReader(io.StringIO(predict(folder / "r", capsys))))
    path = folder / "r" / "result.json"
    result = json.loads(path.read_text())
    original = json.loads(path.read_text())
    for table in result["conformal"].values():
        table["pooled"] = {level: [2 * q for q in qs] for level, qs in table["pooled"].items()}
    path.write_text(json.dumps(result))
    try:
        doubled = list(csv.DictReader(io.StringIO(predict(folder / "r", capsys))))
    finally:
        path.write_text(json.dumps(original))
    for a, b in zip(base, doubled):
        assert a["mean"] == b["mean"]
        for level in ("80", "95"):
            half = float(a[f"hi{level}"]) - float(a["mean"])
            assert float(b[f"hi{level}"]) - float(b["mean"]) == pytest.approx(2 * half, rel=1e-4, abs=1e-5)


def test_a_folder_without_stored_tables_recomputes_them(folder, capsys):
    base = predict(folder / "r", capsys)
    path = folder / "r" / "result.json"
    original = path.read_text()
    path.unlink()                                                            # a run folder from before
    try:
        assert predict(folder / "r", capsys) == base                         # the same CSV text
    finally:
        path.write_text(original)
