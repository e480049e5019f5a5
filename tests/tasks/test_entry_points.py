"""A task published by another package reaches `unroll train --task NAME` through the entry-point group
``unroll.tasks``: a temporary dist-info folder on the path stands for the installed package, and the task
is the worked example of tests/tasks/test_protocol.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def installed(tmp_path: Path, value: str) -> dict:
    """The environment of a process that sees a package publishing ``mean = value`` in group unroll.tasks."""
    dist = tmp_path / "site" / "unroll_mean-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: unroll-mean\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[unroll.tasks]\nmean = {value}\n", encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}


def unroll(env, *argv):
    return subprocess.run([sys.executable, "-m", "unroll", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=ROOT)


def test_an_entry_point_task_trains_and_evaluates_through_the_cli(tmp_path):
    env = installed(tmp_path, "tests.tasks.test_protocol:MeanTask")
    run = tmp_path / "run"
    done = unroll(env, "train", "--task", "mean", "--T", "4", "--batch", "8", "--max-steps", "20",
                  "--eval-every", "10", "--quiet", "--out", run)
    assert done.returncode == 0, done.stderr
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r["valid_loss"] for r in log if "valid_loss" in r]
    assert log[-1]["step"] == 20 and log[-1]["lr"] == 1e-2 and valid[-1] < valid[0]
    assert json.loads((run / "config.json").read_text())["mean"] == {"T": 4, "hidden": 8}
    evaluated = unroll(env, "eval", run, "--json")
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout)["loss"] == valid[-1]


def test_without_the_package_the_task_is_unknown_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = unroll(env, "train", "--task", "mean", "--max-steps", "1", "--out", tmp_path / "run")
    assert out.returncode == 2 and "invalid choice: 'mean'" in out.stderr and not (tmp_path / "run").exists()


def test_a_module_value_names_its_TASK(tmp_path):
    env = installed(tmp_path, "tests.tasks.test_protocol")
    code = "from unroll.tasks import get_task; t = get_task('mean'); print(t.__name__, t.train_defaults['lr'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.stdout.split() == ["MeanTask", "0.01"]
