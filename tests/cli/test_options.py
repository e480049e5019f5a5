"""Every `unroll train` option that the end-to-end tests leave alone, each checked by its effect on the run
folder's files: --valid and eval --data, --tokenizer, --init-scale, --embedding, every optimizer,
--clip-value and --lr-decay* (read back from the weights: SGD moves a clipped element by exactly lr·c),
--max-time, --cell rnn|gru with --activation, plot --out, sample --top-k, the progress display, and the
settings' validation errors."""

import json
import math
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main
from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig
from unroll.data.text import load_bundled
from unroll.runs import run
from unroll.runs import checkpoint

SMALL = ["--hidden", "12", "--layers", "1", "--seq-len", "10", "--batch", "4"]


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("texts")
    shakespeare = load_bundled("tinyshakespeare")
    (folder / "train.txt").write_text(shakespeare[:5000], encoding="utf-8")
    (folder / "valid.txt").write_text(shakespeare[5000:6500], encoding="utf-8")
    (folder / "other.txt").write_text(shakespeare[20000:21500], encoding="utf-8")
    return folder


def train(*args, quiet=True) -> int:
    return main(["train", *SMALL, *(["--quiet"] if quiet else []), *map(str, args)])


def weights_at(run_dir, step: int) -> dict:
    """The newest checkpoint of ``step`` (a step saved twice gets step-N-01: names are never reused)."""
    folder = sorted((run_dir / "checkpoints").glob(f"step-{step:08d}*"))[-1]
    return load_file(str(folder / "model.safetensors"))


def config_of(run_dir) -> dict:
    return json.loads((run_dir / "config.json").read_text())


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_valid_file_and_eval_on_another_file(texts, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--valid", texts / "valid.txt", "--max-steps", 6, "--eval-every", 6,
                 "--out", run_dir) == 0
    data = config_of(run_dir)["data"]
    valid_text = (texts / "valid.txt").read_text(encoding="utf-8")
    assert data["valid_tokens"] == len(valid_text)                  # characters: the whole file, nothing held out
    assert data["train_tokens"] == len((texts / "train.txt").read_text(encoding="utf-8"))
    logged = [r["valid_loss"] for r in records(run_dir) if "valid_loss" in r][-1]
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--data", str(texts / "valid.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(logged, rel=1e-9)
    assert main(["eval", str(run_dir), "--data", str(texts / "other.txt"), "--json"]) == 0
    other = json.loads(capsys.readouterr().out)["loss"]
    assert math.isfinite(other) and other != pytest.approx(logged, rel=1e-6)


def test_space_tokenizer_keeps_white_space_separated_strings(tmp_path):
    text = "the cat , sat ; on the mat .\nthe dog 's bone .\n" * 40
    (tmp_path / "ptb.txt").write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    assert train("--data", tmp_path / "ptb.txt", "--level", "word", "--tokenizer", "space", "--max-steps", 2,
                 "--out", run_dir) == 0
    vocab = config_of(run_dir)["vocab"]
    assert vocab["tokenizer"] == "space"
    assert set(vocab["tokens"]) == set(text.split()) | {"\n", "<unk>"}       # "'s" stays one token


def test_init_scale_and_embedding_width(texts, tmp_path):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--cell", "lstm", "--init-scale", 0.05, "--embedding", 7,
                 "--max-steps", 1, "--out", run_dir) == 0
    weights = weights_at(run_dir, 0)
    V = config_of(run_dir)["network"]["vocab_size"]
    assert weights["embed.W"].shape == (V, 7) and weights["layer0.lstm.W_x"].shape == (7, 48)
    everything = np.concatenate([w.ravel() for w in weights.values()])
    assert np.abs(everything).max() <= 0.05
    assert everything.std() == pytest.approx(0.05 / np.sqrt(3), rel=0.05)     # uniform(-s, s)


@pytest.mark.parametrize("optimizer, buffers", [
    ("sgd", set()), ("momentum", {"v"}), ("adagrad", {"mem"}), ("rmsprop", {"square_avg"}), ("adam", {"m", "v"})])
def test_every_optimizer_trains_and_checkpoints_its_moments(texts, tmp_path, optimizer, buffers):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--cell", "lstm", "--optimizer", optimizer, "--lr", 0.01,
                 "--max-steps", 3, "--eval-every", 3, "--out", run_dir) == 0
    folder = checkpoint.latest(run_dir)
    state = json.loads((folder / "state.json").read_text())["components"]["optimizer"]
    assert state["name"] == optimizer and state["steps"] == 3
    names = load_file(str(folder / "train.safetensors"))
    found = {k.split(".")[2] for k in names if k.startswith(f"optimizer.{optimizer}.")}
    assert found == buffers
    first, last = weights_at(run_dir, 0), weights_at(run_dir, 3)  # checkpoints 0 and 3 are the last two
    assert all(np.isfinite(w).all() for w in last.values())
    assert all(not np.array_equal(first[k], last[k]) for k in ("out.W", "out.b", "layer0.lstm.W_h"))


def per_step_weights(run_dir, steps):
    return [weights_at(run_dir, s) for s in steps]


def test_clip_value_and_lr_decay_read_back_from_sgd_updates(texts, tmp_path, monkeypatch):
    """SGD with no norm clipping and --clip-value c: each element moves by lr_t · clip(g, ±c), so the largest
    move of step t is exactly lr_t · c (some element's gradient exceeds c). With --lr 1 --lr-decay 0.5
    --lr-decay-every 2 --lr-decay-start 2 the updates k = 0..7 use lr 1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25."""
    monkeypatch.setattr(checkpoint, "KEEP_LAST", 100)
    run_dir = tmp_path / "run"
    c = 1e-3
    assert train("--data", texts / "train.txt", "--optimizer", "sgd", "--lr", 1.0, "--clip", 0, "--clip-value", c,
                 "--lr-decay", 0.5, "--lr-decay-every", 2, "--lr-decay-start", 2, "--max-steps", 8, "--eval-every", 1,
                 "--out", run_dir) == 0
    weights = per_step_weights(run_dir, range(9))
    expected_lr = [1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    for k, lr in enumerate(expected_lr):
        moves = np.concatenate([np.abs(weights[k + 1][n].astype(np.float64) - weights[k][n]).ravel()
                                for n in weights[k]])
        assert moves.max() == pytest.approx(lr * c, rel=1e-3), k
    logged = {r["step"]: r["lr"] for r in records(run_dir) if "lr" in r}
    assert logged[8] == pytest.approx(0.125)                   # the rate of the next update, k = 8


def test_max_time_alone_bounds_the_run(texts, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--max-time", 1e-9, "--out", run_dir) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 0
    assert config_of(run_dir)["train"]["max_time"] == 1e-9 and config_of(run_dir)["train"]["max_steps"] is None


@pytest.mark.parametrize("cell, activation, keys", [
    ("rnn", "relu", {"W_x", "W_h", "b"}), ("rnn", "tanh", {"W_x", "W_h", "b"}), ("gru", "tanh", {"W_x", "W_h", "b", "b_hn"})])
def test_cell_and_activation(texts, tmp_path, cell, activation, keys):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--cell", cell, "--activation", activation, "--max-steps", 2,
                 "--out", run_dir) == 0
    model_config = config_of(run_dir)["network"]
    assert model_config["cell"] == cell and model_config["activation"] == activation
    weights = weights_at(run_dir, 2)
    assert {k.split(".", 2)[2] for k in weights if k.startswith("layer0.")} == keys
    assert all(k.startswith(f"layer0.{cell}.") for k in weights if k.startswith("layer"))
    if cell == "rnn":   # the hidden states of the saved weights, computed here: h = f(E[x] W_x + h W_h + b)
        ids = np.arange(20) % model_config["vocab_size"]
        f = (lambda a: np.maximum(a, 0)) if activation == "relu" else np.tanh
        h, hs = np.zeros(12), []
        for i in ids:
            h = f(weights["embed.W"][i] @ weights["layer0.rnn.W_x"] + h @ weights["layer0.rnn.W_h"] + weights["layer0.rnn.b"])
            hs.append(h)
        _, model, _ = run.load(run_dir)
        logits, _, _ = model.forward(ids.reshape(-1, 1), None, training=False)
        expected = np.stack(hs) @ weights["out.W"] + weights["out.b"]
        np.testing.assert_allclose(logits[:, 0], expected, rtol=1e-4, atol=1e-5)


def test_plot_out_and_sample_top_k(texts, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--max-steps", 4, "--eval-every", 2, "--out", run_dir) == 0
    capsys.readouterr()
    target = tmp_path / "figures" / "mine.png"
    target.parent.mkdir()
    assert main(["plot", str(run_dir), "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert target.is_file() and not (run_dir / "curves.png").exists()
    assert main(["sample", str(run_dir), "--length", "40", "--greedy", "--prime", "A"]) == 0
    greedy = capsys.readouterr().out
    assert main(["sample", str(run_dir), "--length", "40", "--top-k", "1", "--seed", "3", "--prime", "A"]) == 0
    assert capsys.readouterr().out == greedy
    assert main(["sample", str(run_dir), "--length", "40", "--seed", "3", "--prime", "A"]) == 0
    assert capsys.readouterr().out != greedy                     # without top-k the same seed samples freely


def test_progress_lines_on_a_non_terminal(texts, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", texts / "train.txt", "--max-steps", 4, "--log-every", 1, "--eval-every", 2,
                 "--out", run_dir, quiet=False) == 0                # off a terminal: a line per validation
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if line.startswith("step ")]
    assert [line.split(" | ")[0] for line in lines] == ["step 2/4", "step 4/4"]
    logged = {r["step"]: r for r in records(run_dir)}
    for line, step in zip(lines, (2, 4)):
        assert f"loss {logged[step]['train_loss']:.4f} | val {logged[step]['valid_loss']:.4f}" in line
        assert "elapsed" in line
    assert err[0] == f"run folder: {run_dir}"


@pytest.mark.parametrize("cls, kwargs, match", [
    (TrainConfig, dict(batch_size=0), "--batch must be a positive integer"),
    (TrainConfig, dict(optimizer="lbfgs"), "optimizer must be one of"),
    (TrainConfig, dict(lr=0.0), "lr must be positive"),
    (TrainConfig, dict(decay_rate=1.5), r"decay_rate must lie in \(0, 1\]"),
    (TrainConfig, dict(decay_every=0), "--decay-every must be a positive integer"),
    (TrainConfig, dict(schedule="triangular"), "schedule must be one of constant, exponential, multistep, cosine, "
                                               "linear"),
    (TrainConfig, dict(max_steps=0), r"--max-steps must be a positive integer, got 0 \(a run.s step-0 checkpoint"),
    (TrainConfig, dict(max_time=0.0), "max_time must be positive"),
    (TrainConfig, dict(clip=-1.0), "clip and clip_value must be >= 0"),
    (TrainConfig, dict(clip_value=-0.5), "clip and clip_value must be >= 0"),
    (TrainConfig, dict(eval_every=0), "--eval-every must be a positive integer"),
    (TrainConfig, dict(log_every=0), "--log-every must be a positive integer"),
    (ModelConfig, dict(dropout=1.0), r"dropout must lie in \[0, 1\)"),
    (ModelConfig, dict(cell="transformer"), "cell must be one of"),
    (ModelConfig, dict(activation="swish"), "activation must be one of"),
    (BPTTConfig, dict(seq_len=10, bptt=5), r"bptt \(k2\) must be >= seq_len"),
    (CorpusConfig, dict(valid_fraction=1.0), r"valid_fraction must lie in \(0, 1\)"),
])
def test_settings_validation_errors_name_the_setting(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("argv, match", [
    (["--lr", "0"], "lr must be positive"),
    (["--lr-decay", "2"], "decay_rate must lie in"),
    (["--clip-value", "-1"], "clip and clip_value must be >= 0"),
    (["--max-time", "-5"], "max_time must be positive"),
    (["--bptt", "3"], r"bptt \(k2\) must be >= seq_len \(k1\) = 10"),
])
def test_bad_options_are_one_line_cli_errors(texts, tmp_path, capsys, argv, match):
    assert train("--data", texts / "train.txt", "--max-steps", 1, "--out", tmp_path / "run", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unroll: error:") and "\n" not in err
    assert re.search(match, err)
    assert not (tmp_path / "run" / "config.json").exists()
