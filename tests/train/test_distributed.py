"""Data-parallel training over MPI: 2 ranks give the parameters of one process on the same global batch.

Each test starts real processes with mpiexec (Open MPI from the test extra). Expected values come from a
single-process run of the same command: the reference is the trainer without any MPI.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.data.text import load_bundled
from unroll.train import distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--layers", "2", "--seq-len", "10", "--batch", "4", "--eval-every", "10", "--quiet",
        "--dropout", "0"]      # the language model's default dropout draws its masks per rank's shard


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text(load_bundled("tinyshakespeare")[:20000], encoding="utf-8")
    return path


def environment(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", **extra}
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"})
    return env


def train(ranks: int, *args, **env) -> subprocess.CompletedProcess:
    """`unroll train` on ``ranks`` MPI processes (1: a plain process, no mpiexec)."""
    command = [sys.executable, str(WORKER), "train", *TINY, *map(str, args)]
    if ranks > 1:
        command = distributed.launch_command(ranks, [])[0][:3] + command
    return subprocess.run(command, env=environment(**env), capture_output=True, text=True, timeout=300)


def weights(run: Path) -> dict:
    folder = run / "checkpoints" / (run / "latest").read_text().strip()
    return load_file(str(folder / "model.safetensors"))


def assert_close(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        scale = np.abs(a[key]).max()
        assert np.abs(a[key] - b[key]).max() <= rtol * scale, key


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_two_ranks_give_the_parameters_of_one_process(corpus, tmp_path, dtype, rtol):
    options = ["--data", corpus, "--max-steps", 20, "--cell", "lstm"]
    one = train(1, *options, "--out", tmp_path / "one", UNROLL_TEST_DTYPE=dtype)
    two = train(2, *options, "--out", tmp_path / "two", UNROLL_TEST_DTYPE=dtype)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert next(iter(a.values())).dtype == np.dtype(dtype)
    assert_close(a, b, rtol)
    assert any(not np.array_equal(a[k], b[k]) for k in a) or dtype == "float32"   # two sums, not one copy
    one_log = (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()
    two_log = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(one_log) == len(two_log)                       # rank 0 alone writes the log


def test_the_workers_flag_runs_mpiexec_and_resumes_with_the_same_count(corpus, tmp_path):
    options = ["--data", corpus, "--cell", "gru", "--total-steps", 20]   # one cosine over 20 steps, whole and part
    whole = train(1, *options, "--max-steps", 20, "--workers", 2, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.count('"run"') == 1                   # one report, from rank 0
    part = train(1, *options, "--max-steps", 10, "--workers", 2, "--out", tmp_path / "part")
    assert part.returncode == 0, part.stderr
    alone = train(1, "--resume", tmp_path / "part", "--max-steps", 20)
    assert alone.returncode == 2
    assert "resume it with the same number (--workers 2" in alone.stderr and len(alone.stderr.splitlines()) == 1
    resumed = train(1, "--resume", tmp_path / "part", "--max-steps", 20, "--workers", 2)
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "part")
    for key in a:                                             # same P, same order of sums: bit for bit
        assert np.array_equal(a[key], b[key]), key


def test_a_rank_that_dies_ends_the_run_and_it_resumes(corpus, tmp_path):
    options = ["--data", corpus, "--max-steps", 400, "--out", tmp_path / "run"]
    crashed = train(2, *options, UNROLL_TEST_KILL="1:25")   # a hang would end in TimeoutExpired
    assert crashed.returncode != 0
    resumed = train(2, "--resume", tmp_path / "run", "--max-steps", 30)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "run" / "latest").read_text().strip() == "step-00000030"


def run_ranks(ranks: int, *args) -> subprocess.CompletedProcess:
    """`unroll train ARGS` (no language-model flags) on ``ranks`` MPI processes (1: a plain process)."""
    command = [sys.executable, str(WORKER), "train", *map(str, args)]
    if ranks > 1:
        command = distributed.launch_command(ranks, [])[0][:3] + command
    return subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)


UNEQUAL = {   # the batch is the whole training set; rank 0 gets its first half of the sequences, rank 1 the rest
    "tag": ("t.conll", "a\tB\n\nb\tB\nc\tI\nd\tI\n\n", 2),        # 1 token on rank 0, 3 on rank 1
    "classify": ("c.tsv", "pos\ta b\nneg\tb c\npos\ta a\nneg\tc\npos\tb a c\n", 5),   # 2 and 3 sequences
}


@pytest.mark.parametrize("task", list(UNEQUAL))
def test_unequal_shards_are_weighted_by_tokens_not_ranks(tmp_path, task):
    name, text, batch = UNEQUAL[task]
    (tmp_path / name).write_text(text)
    options = ["--task", task, "--data", tmp_path / name, "--valid", tmp_path / name, "--hidden", 5,
               "--batch", batch, "--max-steps", 6, "--eval-every", 3, "--dtype", "float64", "--lr", 0.05, "--quiet"]
    options += ["--dropout", 0]                 # both tasks' defaults drop out, and each rank draws its own masks
    if task == "classify":
        options += ["--embedding-dropout", 0]
    one = run_ranks(1, *options, "--out", tmp_path / "one")
    two = run_ranks(2, *options, "--out", tmp_path / "two")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert next(iter(a.values())).dtype == np.float64
    assert_close(a, b, 1e-12)
    losses = [[json.loads(line)["train_loss"] for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
              for r in ("one", "two")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)


def test_workers_errors_are_one_line_with_no_mpi_notice_and_stdout_is_clean(tmp_path):
    (tmp_path / "c.tsv").write_text(UNEQUAL["classify"][1])
    bad = run_ranks(1, "--task", "classify", "--data", tmp_path / "missing.tsv", "--workers", 2, "--out", tmp_path / "r")
    assert bad.returncode == 2 and bad.stderr == f"unroll: error: --data {tmp_path / 'missing.tsv'}: no such file\n"
    good = run_ranks(1, "--task", "classify", "--data", tmp_path / "c.tsv", "--hidden", 4, "--batch", 4, "--max-steps",
                     2, "--workers", 2, "--quiet", "--out", tmp_path / "r")
    assert good.returncode == 0, good.stderr
    assert "\x1b" not in good.stdout and len(good.stdout.splitlines()) == 1
    assert json.loads(good.stdout)["step"] == 2
