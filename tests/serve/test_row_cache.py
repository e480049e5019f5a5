"""The runs table's rows are kept while nothing they depend on changes (serve/runs.py RowCache), and are
built anew the moment the run's metrics, config.json, result.json or lock change: a cached table never
shows a stale step, state or setting."""

import json
import os
import subprocess
import sys

from unroll.cli import main
from unroll.runs import RunFolder, lock
from unroll.serve import runs


def rows_of(cache, run_dir):
    return cache.row("run", run_dir, lock.held_locks())


def touch_later(path):
    """Rewrite a file so that its modification time differs even on a coarse clock."""
    stat = path.stat()
    path.write_text(path.read_text())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_a_row_is_kept_while_the_run_is_unchanged_and_rebuilt_when_it_changes(tiny_lm_run, monkeypatch):
    built = []
    summary_row = runs.summary_row
    monkeypatch.setattr(runs, "summary_row", lambda *a, **k: built.append(1) or summary_row(*a, **k))
    cache = runs.RowCache(runs.MetricsCache())
    first = rows_of(cache, tiny_lm_run)
    assert first["step"] == 4 and first["state"] == "finished" and len(built) == 1
    assert rows_of(cache, tiny_lm_run) is first and len(built) == 1                 # nothing changed: kept

    assert main(["train", "--resume", str(tiny_lm_run), "--max-steps", "6", "--quiet"]) == 0
    grown = rows_of(cache, tiny_lm_run)                                              # metrics, config.json grew
    assert grown["step"] == 6 and grown["max_steps"] == 6 and len(built) == 2

    config = json.loads((tiny_lm_run / "config.json").read_text())
    config["created"] = "2000-01-01T00:00:00"
    (tiny_lm_run / "config.json").write_text(json.dumps(config))
    touch_later(tiny_lm_run / "config.json")
    assert rows_of(cache, tiny_lm_run)["created"] == "2000-01-01T00:00:00" and len(built) == 3

    (tiny_lm_run / "result.json").write_text("{}")
    assert rows_of(cache, tiny_lm_run)["state"] == "finished" and len(built) == 4   # a result written
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tiny_lm_run / "lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"                        # another process trains it
        assert rows_of(cache, tiny_lm_run)["state"] == "training" and len(built) == 5
    finally:
        holder.kill()
        holder.wait()
    assert rows_of(cache, tiny_lm_run)["state"] == "finished" and len(built) == 6


HOLD = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")


def test_stamp_names_config_and_result_times(tiny_lm_run):
    assert RunFolder(tiny_lm_run).stamp()[1] is None                   # a language model writes no result.json
    (tiny_lm_run / "result.json").write_text("{}")
    config, result = RunFolder(tiny_lm_run).stamp()
    assert config == (tiny_lm_run / "config.json").stat().st_mtime_ns
    assert result == (tiny_lm_run / "result.json").stat().st_mtime_ns
    (tiny_lm_run / "result.json").unlink()
    assert RunFolder(tiny_lm_run).stamp()[1] is None
