"""Run folders over their life: checkpoints pruned to the last two, a `latest` naming a missing folder, a
changed corpus refused by its SHA-256, resume with --max-time, SIGTERM, and resume across an epoch boundary
(bit-identical to an uninterrupted run)."""

import hashlib
import json
import signal

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main
from unroll.data.text import load_bundled
from unroll.runs import run

SMALL = ["--hidden", "12", "--layers", "1", "--seq-len", "10", "--batch", "4", "--quiet"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(load_bundled("tinyshakespeare")[:6000], encoding="utf-8")
    return path


def train(*args) -> int:
    return main(["train", *SMALL, *map(str, args)])


def log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def latest_weights(run_dir) -> dict:
    return load_file(str(run_dir / "checkpoints" / (run_dir / "latest").read_text().strip() / "model.safetensors"))


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_only_the_last_two_checkpoints_are_kept(corpus, tmp_path):
    run_dir = tmp_path / "run"
    assert train("--data", corpus, "--max-steps", 10, "--eval-every", 2, "--out", run_dir) == 0
    # written at steps 0, 2, 4, 6, 8, 10; kept: the newest two
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-00000008", "step-00000010"]
    assert (run_dir / "latest").read_text().strip() == "step-00000010"
    assert [r["step"] for r in log(run_dir) if "valid_loss" in r] == [2, 4, 6, 8, 10]


def test_latest_naming_a_missing_folder_is_a_one_line_error(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", corpus, "--max-steps", 2, "--out", run_dir) == 0
    (run_dir / "latest").write_text("step-00000099\n")
    capsys.readouterr()
    for argv in (["eval", str(run_dir)], ["sample", str(run_dir), "--length", "5"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("unroll: error:") and "'latest' names step-00000099, which is missing" in err
        assert "\n" not in err
    # --resume falls back to the newest good checkpoint and says so (issue 8)
    assert main(["train", "--resume", str(run_dir), "--max-steps", "4", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "resuming from the older checkpoint step-00000002" in err
    assert (run_dir / "latest").read_text().strip() == "step-00000004"


def test_a_changed_corpus_is_refused_by_its_sha256(corpus, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train("--data", corpus, "--max-steps", 2, "--out", run_dir) == 0
    data = json.loads((run_dir / "config.json").read_text())["data"]
    assert data["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    corpus.write_text(corpus.read_text(encoding="utf-8").replace("the", "teh", 1), encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--max-steps", "4", "--quiet"]) == 2
    assert "changed since the run started (SHA-256 differs)" in capsys.readouterr().err
    assert (run_dir / "latest").read_text().strip() == "step-00000002"          # nothing was written


def test_resume_with_max_time(corpus, tmp_path, capsys):
    """The elapsed time is part of the checkpoint: a budget already spent trains no further step, while
    --max-steps with a generous --max-time stops on the steps."""
    run_dir = tmp_path / "run"
    assert train("--data", corpus, "--max-steps", 3, "--out", run_dir) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--max-time", "1e-9", "--quiet"]) == 0
    said = capsys.readouterr()
    assert said.out == "" and "reached its limit of --max-time 1e-09 s" in said.err      # issue 12, defect 3
    assert (run_dir / "latest").read_text().strip() == "step-00000003"
    assert main(["train", "--resume", str(run_dir), "--max-time", "10000", "--max-steps", "5", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 5
    elapsed = [r["elapsed"] for r in log(run_dir) if "elapsed" in r]
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0                      # one clock across the resumes


def test_sigterm_stops_at_a_step_boundary_and_the_resumed_run_matches_an_uninterrupted_one(corpus, tmp_path,
                                                                                          monkeypatch):
    options = ["--data", corpus, "--eval-every", 4, "--dropout", 0.1, "--bptt", 15]
    assert train(*options, "--max-steps", 8, "--out", tmp_path / "whole") == 0
    from unroll.train.trainer import Trainer
    real, calls = Trainer._train_step, {"n": 0}

    def step(self):                                           # SIGTERM arrives during the 5th step
        calls["n"] += 1
        if calls["n"] == 5:
            signal.raise_signal(signal.SIGTERM)
        return real(self)

    def outside(signum, frame):                               # what the process had before training
        raise AssertionError("SIGTERM reached the handler outside the trainer")

    monkeypatch.setattr(Trainer, "_train_step", step)
    previous = signal.signal(signal.SIGTERM, outside)
    try:
        assert train(*options, "--max-steps", 8, "--out", tmp_path / "split") == 143    # 128 + SIGTERM
        assert signal.getsignal(signal.SIGTERM) is outside                          # the handler is given back
    finally:
        signal.signal(signal.SIGTERM, previous)
    monkeypatch.setattr(Trainer, "_train_step", real)
    assert (tmp_path / "split" / "latest").read_text().strip() == "step-00000005"   # the step finished
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "8", "--quiet"]) == 0
    assert_same_weights(latest_weights(tmp_path / "whole"), latest_weights(tmp_path / "split"))


def test_resume_across_an_epoch_boundary_is_bit_identical(corpus, tmp_path):
    """Batch 16 over ~5400 training characters with k1 = 10 gives epochs of about 33 steps. Interrupt on the
    last step of epoch 0 and on the first of epoch 1 (read from the uninterrupted run's log) and resume to
    step 40: both equal the uninterrupted run in weights, epochs and validation loss."""
    options = ["--data", corpus, "--batch", 16, "--eval-every", 10, "--log-every", 1, "--bptt", 14, "--dropout", 0.1,
               "--total-steps", 40]                     # one cosine over the 40 steps, whole and split
    assert train(*options, "--max-steps", 40, "--out", tmp_path / "whole") == 0
    whole = log(tmp_path / "whole")
    epochs = {r["step"]: r["epoch"] for r in whole if "epoch" in r}
    first_of_epoch_1 = min(s for s, e in epochs.items() if e == 1)
    assert epochs[first_of_epoch_1 - 1] == 0 and first_of_epoch_1 < 40
    for stop in (first_of_epoch_1 - 1, first_of_epoch_1):
        split = tmp_path / f"split{stop}"
        assert train(*options, "--max-steps", stop, "--out", split) == 0
        assert main(["train", "--resume", str(split), "--max-steps", "40", "--quiet"]) == 0
        assert_same_weights(latest_weights(tmp_path / "whole"), latest_weights(split))
        resumed = {r["step"]: r for r in log(split) if "event" not in r}
        assert resumed[40]["valid_loss"] == whole[-1]["valid_loss"]
        assert all(resumed[s]["epoch"] == epochs[s] for s in resumed if s in epochs)
