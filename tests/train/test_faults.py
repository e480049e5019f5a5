"""Damaged checkpoints, the fallback to an older one, two processes on one run folder, a full disk.

Every fault ends in one line on stderr (exit 2) that names the file, or in a recovery that ends with the
parameters of an undisturbed run, bit for bit."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.data.text import load_bundled
from unroll.runs import run
from unroll.runs import checkpoint

ROOT = Path(__file__).resolve().parents[2]
STEPS = 6             # checkpoints at steps 0, 2, 4, 6; the last two (4, 6) are kept


def train(*args) -> int:
    return main(["train", *map(str, args)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(load_bundled("tinyshakespeare")[:4000], encoding="utf-8")
    return path


def start(corpus, out, steps=STEPS) -> Path:
    assert train("--data", corpus, "--cell", "gru", "--hidden", 8, "--layers", 1, "--seq-len", 8, "--batch", 2,
                 "--max-steps", steps, "--eval-every", 2, "--dropout", 0.1, "--quiet", "--out", out,
                 "--total-steps", 8) == 0              # one cosine over 8 steps, in the reference and the resumed runs
    return out


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict:
    """Parameters of an undisturbed 8-step run."""
    _, model, info = run.load(start(corpus, tmp_path_factory.mktemp("ref") / "run", steps=8))
    assert info["step"] == 8
    return model.params


@pytest.fixture()
def run_dir(corpus, tmp_path, capsys) -> Path:
    out = start(corpus, tmp_path / "run")
    capsys.readouterr()
    return out


def newest(run_dir: Path) -> Path:
    return checkpoint.latest(run_dir)


def flip_byte(path: Path, offset_from_end: int = 5) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def damage_state_number(path: Path) -> None:
    """Change the step counter in state.json: still valid JSON, different content."""
    state = json.loads(path.read_text())
    state["components"]["counters"]["step"] += 1
    path.write_text(json.dumps(state, indent=1))


DAMAGES = {
    "model truncated": ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:-7]), "SHA-256 differs"),
    "model byte flipped": ("model.safetensors", flip_byte, "SHA-256 differs"),
    "train byte flipped": ("train.safetensors", flip_byte, "SHA-256 differs"),
    "train emptied": ("train.safetensors", lambda p: p.write_bytes(b""), "SHA-256 differs"),
    "state unparsable": ("state.json", lambda p: p.write_text('{"counters": {'), "is not valid JSON"),
    "state edited": ("state.json", damage_state_number, "state.json is damaged"),
    "model missing": ("model.safetensors", lambda p: p.unlink(), "is missing"),
}


@pytest.mark.parametrize("what", DAMAGES)
def test_damaged_latest_checkpoint_is_named_and_resume_falls_back(what, run_dir, reference, capsys):
    file, damage, message = DAMAGES[what]
    path = newest(run_dir) / file
    damage(path)
    assert main(["eval", str(run_dir), "--checkpoint", "last"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err
    assert "older checkpoint step-00000004 is intact" in err
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 0
    err = capsys.readouterr().err
    assert str(path) in err and "resuming from the older checkpoint step-00000004" in err
    _, model, info = run.load(run_dir)
    assert info["step"] == 8
    assert all(np.array_equal(model.params[k], reference[k]) for k in reference)


def test_damaged_latest_pointer_falls_back_to_the_newest_good_folder(run_dir, reference, capsys):
    (run_dir / "latest").write_bytes(b"\xff\xfe garbage")
    assert main(["eval", str(run_dir), "--checkpoint", "last"]) == 2
    assert f"run folder {run_dir}: the file 'latest' is damaged" in capsys.readouterr().err
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 0
    assert "resuming from the older checkpoint step-00000006" in capsys.readouterr().err
    _, model, _ = run.load(run_dir)
    assert all(np.array_equal(model.params[k], reference[k]) for k in reference)


def test_when_every_checkpoint_is_damaged_resume_names_the_newest(run_dir, capsys):
    for folder in (run_dir / "checkpoints").iterdir():
        flip_byte(folder / "model.safetensors")
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("unroll: error: checkpoint file") and "step-00000006" in err
    assert "no older checkpoint loads either (1 tried)" in err


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(corpus, tmp_path, reference, capsys):
    start(corpus, tmp_path / "run", steps=8)
    shutil.rmtree(tmp_path / "run" / "checkpoints")          # as if killed between config.json and step 0
    (tmp_path / "run" / "latest").unlink()
    (tmp_path / "run" / "metrics.jsonl").unlink()
    capsys.readouterr()
    assert train("--resume", tmp_path / "run", "--quiet") == 0
    assert "has no checkpoint yet; starting from step 0" in capsys.readouterr().err
    _, model, info = run.load(tmp_path / "run")
    assert info["step"] == 8 and all(np.array_equal(model.params[k], reference[k]) for k in reference)


def test_a_metrics_line_cut_short_by_a_crash_is_dropped_on_resume(run_dir):
    log = run_dir / "metrics.jsonl"
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"step": 7, "train_lo')                    # the crash came mid-line
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 0
    steps = [json.loads(line)["step"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert steps == sorted(steps) and steps[-1] == 8


def holder(run_dir: Path) -> subprocess.Popen:
    """A process that holds run_dir's lock until killed."""
    code = ("import sys, time; from unroll.runs import lock; lock.acquire(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_on_one_run_folder_is_refused_and_a_killed_one_leaves_no_stale_lock(run_dir, capsys):
    proc = holder(run_dir)
    try:
        assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 2
        err = capsys.readouterr().err
        assert err == f"unroll: error: run folder {run_dir} is in use by another unroll process (pid {proc.pid}); " \
                      "wait for it to finish or stop it first\n"
        assert checkpoint.latest(run_dir).name == "step-00000006"          # nothing was written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (run_dir / "lock").read_text().strip() == str(proc.pid)        # the file stays; the flock went with it
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 0
    assert run.load(run_dir)[2]["step"] == 8


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(run_dir, monkeypatch, capsys):
    _, before, _ = run.load(run_dir)
    real_write = checkpoint._write_bytes

    def full_disk(path, data):
        if path.name == "train.safetensors":                             # the model file got written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write_bytes", full_disk)
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 2
    err = capsys.readouterr().err
    # the best checkpoint (run/best/, written before the latest one) is the first to meet the full disk
    assert err == (f"unroll: error: cannot write checkpoint step-00000008 in {run_dir / 'best'}: No space left on "
                   "device; the previous checkpoint step-00000006 is intact\n")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-00000004", "step-00000006"]
    _, after, info = run.load(run_dir)
    assert info["step"] == 6 and all(np.array_equal(after.params[k], before.params[k]) for k in before.params)
    monkeypatch.undo()
    assert train("--resume", run_dir, "--max-steps", 8, "--quiet") == 0       # space again: it carries on
    assert run.load(run_dir)[2]["step"] == 8


def test_disk_full_outside_a_checkpoint_is_one_line_too(corpus, tmp_path, monkeypatch, capsys):
    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "_write_bytes", full_disk)             # config.json is written through it
    assert train("--data", corpus, "--max-steps", 1, "--quiet", "--out", tmp_path / "new") == 2
    err = capsys.readouterr().err
    assert err == f"unroll: error: No space left on device: {tmp_path / 'new' / 'config.json.tmp'}\n"
    assert not (tmp_path / "new").exists()                                  # a failed start leaves no folder
