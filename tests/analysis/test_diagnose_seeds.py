"""`unroll diagnose` draws the seeds' comparisons (activations, Gaussian scale) and records the measured
shortest path through time of every variant; a bad --run fails before the output folder exists."""

import json

from unroll.analysis import diagnose as D
from unroll.cli import main


def test_diagnose_draws_the_seeds_warnings_and_the_path_lengths(tmp_path):
    assert main(["experiment", "adding", "--cell", "rnn", "--T", "5", "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    D.diagnose(tmp_path / "diag", runs=[tmp_path / "run"], log=lambda msg: None)
    for name in ("activations.png", "gaussian_scale.png"):
        assert (tmp_path / "diag" / name).stat().st_size > 10_000
    seeds = json.loads((tmp_path / "diag" / "diagnose.json").read_text())["seeds"]
    paths = seeds["shortest_path_length"]
    assert paths["k"] == [1, 2, 4, 8]
    assert paths["rnn"] == [1, 2, 4, 8]
    assert paths["deep_transition(L=3)"] == [3, 6, 12, 24]                  # deeper transition: longer path
    assert paths["deep_transition(L=3, shortcut)"] == [1, 2, 4, 8]          # the shortcut shortens it again
    assert paths["skip(d=4, only)"] == [None, None, 1, 2]
    reach = seeds["reach_by_activation"]
    assert reach["sigmoid"][20] < reach["tanh"][20] < reach["identity"][20]
    scale = seeds["reach_by_gaussian_scale"]["identity"]
    assert scale["gain=0.5"][-1] < 1e-8 < 1e5 < scale["gain=1.5"][-1]


def test_a_bad_run_fails_before_the_output_folder_is_created(tmp_path, capsys):
    assert main(["diagnose", "--out", str(tmp_path / "out"), "--run", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
