"""Every cell variant and initialiser reachable from `unroll train` (issue 12): each trains, records its
options in config.json, has the parameters it should, samples (the step path), resumes bit-identically
(the skip cell's window state goes through the checkpoint), and a wrong combination gets one line."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main

SMALL = ["--hidden", "8", "--layers", "2", "--seq-len", "10", "--batch", "4", "--quiet", "--eval-every", "3"]
TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "fox.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def weights(run: Path, step: int | None = None) -> dict:
    """The model of the latest checkpoint, or of step ``step``."""
    name = (run / "latest").read_text().strip() if step is None else f"step-{step:08d}"
    return load_file(str(run / "checkpoints" / name / "model.safetensors"))


@pytest.mark.parametrize("flags, keys, config", [
    (["--cell", "leaky", "--alpha", "0.5"], {"layer1.leaky.W_h"}, {"alpha": 0.5}),
    (["--cell", "leaky"], {"layer0.leaky.a", "layer1.leaky.a"}, {"alpha": None}),
    (["--cell", "skip", "--skip-every", "3"], {"layer0.skip.W_h", "layer0.skip.W_skip"}, {"skip_every": 3}),
    (["--cell", "skip", "--skip-every", "3", "--skip-only"], {"layer0.skip.W_skip"}, {"skip_only": True}),
    (["--cell", "deep_transition", "--depth", "3", "--shortcut"], {"layer0.deep_transition.W_2",
                                                                     "layer1.deep_transition.W_s"}, {"depth": 3}),
    (["--cell", "deep_output", "--depth", "2"], {"layer1.deep_output.V_2"}, {"depth": 2}),
    (["--cell", "rnn", "--activation", "sigmoid", "--init", "gaussian:0.2"], {"layer0.rnn.W_h"},
     {"activation": "sigmoid", "init": "gaussian:0.2"}),
    (["--cell", "rnn", "--activation", "identity"], {"layer0.rnn.W_h"}, {"activation": "identity"}),
    (["--cell", "lstm", "--init", "orthogonal", "--forget-bias", "2"], {"layer0.lstm.W_h"}, {"forget_bias": 2.0}),
])
def test_variant_trains_samples_and_records_its_options(corpus, tmp_path, capsys, flags, keys, config):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--data", str(corpus), "--max-steps", "3", "--out", str(run), *flags]) == 0
    saved = json.loads((run / "config.json").read_text())["network"]
    assert {k: saved[k] for k in config} == config
    params = weights(run)
    assert keys <= set(params)
    if "--skip-only" in flags:
        assert not any(k.endswith(".W_h") for k in params)
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "20", "--seed", "1", "--prime", "the "]) == 0
    assert len(capsys.readouterr().out) == len("the ") + 20 + 1


def test_initialiser_and_forget_bias_reach_the_weights(corpus, tmp_path):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--data", str(corpus), "--max-steps", "1", "--out", str(run),
                 "--cell", "lstm", "--init", "orthogonal", "--forget-bias", "3"]) == 0
    params = weights(run, 0)
    W_h = params["layer0.lstm.W_h"].astype(np.float64)
    for block in np.split(W_h, 4, axis=1):
        np.testing.assert_allclose(block.T @ block, np.eye(8), atol=1e-6)
    np.testing.assert_array_equal(params["layer1.lstm.b"][8:16], 3.0)


@pytest.mark.parametrize("flags", [["--cell", "skip", "--skip-every", "3"], ["--cell", "leaky"]])
def test_resume_is_bit_identical(corpus, tmp_path, flags):
    straight, split = tmp_path / "straight", tmp_path / "split"
    base = ["train", *SMALL, "--data", str(corpus), *flags, "--total-steps", "6"]   # one cosine over 6 steps in both
    assert main([*base, "--max-steps", "6", "--out", str(straight)]) == 0
    assert main([*base, "--max-steps", "3", "--out", str(split)]) == 0
    assert main(["train", "--resume", str(split), "--max-steps", "6", "--quiet"]) == 0
    a, b = weights(straight), weights(split)
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("flags, message", [
    (["--bidirectional"], "bidirectional: a left-to-right language model predicts token t\\+1 from tokens 1..t"),
    (["--cell", "gru", "--alpha", "0.5"], "--alpha applies to --cell leaky, not to --cell gru"),
    (["--cell", "lstm", "--skip-every", "2"], "--skip-every applies to --cell skip"),
    (["--cell", "rnn", "--forget-bias", "1"], "--forget-bias applies to --cell lstm"),
    (["--cell", "leaky", "--alpha", "1.5"], r"alpha must lie in \[0, 1\]"),
    (["--cell", "skip", "--skip-every", "0"], r"d \(the skip delay\) must be an integer >= 1"),
    (["--cell", "deep_transition", "--depth", "1"], "depth .* must be an integer >= 2"),
    (["--init", "uniform"], "init uniform needs its scale"),
    (["--init", "uniform:0.1", "--init-scale", "0.1"], "give --init uniform:0.1 or --init-scale 0.1, not both"),
])
def test_wrong_combinations_get_one_line_and_leave_no_folder(corpus, tmp_path, capsys, flags, message):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--data", str(corpus), "--max-steps", "3", "--out", str(run), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("unroll: error: ")
    import re
    assert re.search(message, err), err
    assert not run.exists()
