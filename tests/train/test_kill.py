"""kill -9 at 20 moments, half of them aimed inside checkpoint writes: the run folder always loads, and the run,
resumed after each kill, ends with the parameters of an uninterrupted run, bit for bit.

The training runs in a subprocess (``python -m unroll train``) with a tiny LSTM; the checkpoint writer's test
hook (UNROLL_FAULT_PAUSE, see runs/checkpoint.py) pauses at each stage of a write and names the stage in
RUN_DIR/fault-point, so a kill can be aimed at "the model file is written, state.json is not" and so on."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from unroll.data.text import load_bundled
from unroll.runs import run
from unroll.runs import checkpoint

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
PAUSE = 0.04                       # seconds at each stage of a checkpoint write
STAGES = ("wrote model.safetensors", "wrote train.safetensors", "wrote state.json", "renamed the folder",
          "replaced latest")       # the last stage, "pruned", is the end of a write
MODEL = ["--cell", "lstm", "--hidden", "8", "--layers", "1", "--seq-len", "8", "--batch", "2", "--dropout", "0.1",
         "--max-steps", "60", "--eval-every", "2", "--quiet"]


def launch(args, pause: float | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("UNROLL_FAULT_PAUSE", None)
    if pause:
        env["UNROLL_FAULT_PAUSE"] = str(pause)
    return subprocess.Popen([sys.executable, "-m", "unroll", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_stage(proc: subprocess.Popen, point: Path, stage: str | None, timeout: float = 60.0) -> None:
    """Poll until the writer reports ``stage``, or any stage if None (or until the process ends)."""
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        try:
            if point.read_text(encoding="utf-8") == stage or (stage is None and point.exists()):
                return
        except OSError:
            pass
        time.sleep(0.002)


def test_kill_9_at_20_moments_then_resume_ends_bit_identical(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(load_bundled("tinyshakespeare")[:3000], encoding="utf-8")
    reference = tmp_path / "reference"                      # uninterrupted, in the killed runs' environment:
    ref = launch(["--data", str(corpus), *MODEL, "--out", str(reference)], pause=None)   # one BLAS thread, so
    assert ref.communicate(timeout=300)[1] is not None and ref.returncode == 0       # the same BLAS (lever 15)
    expected = run.load(reference)[1].params

    run_dir, point, rng = tmp_path / "run", tmp_path / "run" / "fault-point", random.Random(9)
    first = ["--data", str(corpus), *MODEL, "--out", str(run_dir)]
    inside_writes, outcomes = 0, []
    for kill in range(KILLS):
        point.unlink(missing_ok=True)
        proc = launch(first if not (run_dir / "config.json").exists() else ["--resume", str(run_dir)], PAUSE)
        if kill % 2 == 0:                                    # aimed: inside a write, after a chosen stage
            wait_for_stage(proc, point, rng.choice(STAGES))
            time.sleep(rng.uniform(0, PAUSE / 2))
        elif kill % 4 == 1:                                  # anywhere in training, validation and writes
            wait_for_stage(proc, point, None)
            time.sleep(rng.uniform(0.0, 0.5))
        else:                                                # any time from launch on, start-up included
            time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stage = point.read_text(encoding="utf-8") if point.exists() else "before any write"
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr.read())
        inside_writes += stage in STAGES
        outcomes.append(stage)
        if (run_dir / "latest").exists():                    # the run folder always loads, with nothing skipped
            _, model, info = run.load(run_dir)
            folder, _, skipped = checkpoint.find_good(run_dir, {k: v.shape for k, v in model.params.items()})
            assert skipped == [] and folder == checkpoint.latest(run_dir), outcomes
    assert inside_writes >= KILLS // 4, outcomes

    proc = launch(["--resume", str(run_dir)], pause=None)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    _, model, info = run.load(run_dir)
    assert info["step"] == 60
    assert all(np.array_equal(model.params[k], expected[k]) for k in expected), outcomes
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 60
