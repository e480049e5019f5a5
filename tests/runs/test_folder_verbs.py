"""RunFolder's verbs (issue 28): state(), metrics(since=cursor), update_train, load(which, newest_good, dtype),
the layout in one list; and the resume / --out defects that live in the run folder's owner."""

import json
import os

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import RunFolder, lock, run

from tests.tasks.helpers import sentiment_lines


def snapshot(folder):
    """{relative path: (bytes, mtime_ns)} of every file under a folder but the lock (taking it writes the pid)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "lock"}


def test_a_resume_with_nothing_left_to_train_writes_nothing(tiny_lm_run, capsys):
    before = snapshot(tiny_lm_run)
    assert main(["train", "--resume", "run", "--max-steps", "3", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "has nothing left to train: it reached its limit of --max-steps 3 (step 4)" in err
    assert snapshot(tiny_lm_run) == before                  # config.json, its history, metrics.jsonl: untouched


def test_state_is_interrupted_finished_or_training(tiny_lm_run):
    folder = RunFolder(tiny_lm_run)
    assert folder.state() == "finished" and folder.why_finished() == "it reached its limit of --max-steps 4 (step 4)"
    config = json.loads((tiny_lm_run / "config.json").read_text())
    config["train"]["max_steps"] = 8
    (tiny_lm_run / "config.json").write_text(json.dumps(config))
    assert folder.state() == "interrupted" and folder.why_finished() is None
    lock.acquire(tiny_lm_run)                               # a process holds the lock: training
    try:
        assert folder.state() == "training"
    finally:
        lock.release(tiny_lm_run)
    (tiny_lm_run / "result.json").write_text("{}")
    assert folder.state() == "finished"


def test_metrics_since_a_cursor_reads_only_what_was_added(tiny_lm_run):
    folder = RunFolder(tiny_lm_run)
    whole = folder.metrics()
    first = folder.metrics(since=())
    assert first.fresh and [r["step"] for r in first] == [r["step"] for r in whole if "event" not in r]
    with open(tiny_lm_run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 5, "train_loss": 1.5}\n{"step": 6, "tra')           # the last line half-written
    more = folder.metrics(since=first.cursor)
    assert not more.fresh and list(more) == [{"step": 5, "train_loss": 1.5}]
    with open(tiny_lm_run / "metrics.jsonl", "a") as fh:
        fh.write('in_loss": 1.25}\n')
    assert list(folder.metrics(since=more.cursor)) == [{"step": 6, "train_loss": 1.25}]
    folder.truncate_log(2)                                                    # a rollback: read anew
    again = folder.metrics(since=more.cursor)
    assert again.fresh and max(r["step"] for r in again) == 2


def test_update_train_writes_the_section_the_event_and_the_history(tiny_lm_run):
    folder = RunFolder(tiny_lm_run)
    folder.update_train({"lr": [0.002, 0.01]}, step=4)
    assert folder.read_config()["train"]["lr"] == 0.01
    assert folder.metrics()[-1] == {"step": 4, "event": "resumed_with_changes", "changes": {"lr": [0.002, 0.01]}}
    history = [json.loads(line) for line in (tiny_lm_run / "config-history.jsonl").read_text().splitlines()]
    assert [(h["step"], h["changes"]) for h in history] == [(4, {"lr": [0.002, 0.01]})]


def test_load_reads_best_or_last_in_the_asked_precision_and_passes_over_a_damaged_checkpoint(tiny_lm_run, capsys):
    folder = RunFolder(tiny_lm_run)
    task, last, info = folder.load("last")
    assert info["step"] == 4 and info["checkpoint"] == "last" and info["checkpoint_folder"] == "step-00000004"
    _, best, best_info = folder.load("best")
    assert best_info["checkpoint"] == "best" and best_info["step"] in (2, 4)
    _, low, _ = folder.load("last", dtype=np.float32)
    assert all(v.dtype == np.float32 for v in low.params.values())
    assert all(np.allclose(low.params[k], last.params[k], atol=1e-6) for k in last.params)
    older = sorted((tiny_lm_run / "checkpoints").iterdir())[0].name
    with open(tiny_lm_run / "checkpoints" / "step-00000004" / "model.safetensors", "r+b") as fh:
        fh.seek(-3, os.SEEK_END)
        fh.write(b"XYZ")
    _, _, fell_back = folder.load("last")
    assert fell_back["checkpoint_folder"] == older and "step-00000004" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"the older checkpoint {older} is intact"):
        folder.load("last", newest_good=False)


def test_out_on_a_finished_or_busy_run_gives_advice_that_works(tiny_lm_run, capsys):
    assert main(["train", "--data", "c.txt", "--max-steps", "2", "--quiet", "--out", "run"]) == 2
    assert capsys.readouterr().err == ("unroll: error: --out run holds a finished run; give another --out for a new "
                                       "run (or extend it: `unroll train --resume run --max-steps N`)\n")
    lock.acquire(tiny_lm_run)
    try:
        assert main(["train", "--data", "c.txt", "--max-steps", "2", "--quiet", "--out", "run"]) == 2
        assert "holds a run that another unroll process is training; give another --out" in capsys.readouterr().err
    finally:
        lock.release(tiny_lm_run)


def test_resume_parses_with_the_runs_own_task(tmp_path, monkeypatch, capsys):
    """`--resume RUN --readout mean` on a classify run, without --task: classify's flags, so the readout is
    named as a setting that cannot change (not 'unrecognized arguments', the language model's parser)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    assert main(["train", "--task", "classify", "--data", "s.tsv", "--hidden", "6", "--batch", "4",
                 "--max-steps", "2", "--eval-every", "2", "--quiet", "--out", "c"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "c", "--readout", "mean", "--max-steps", "3"]) == 2
    assert "cannot change on --resume: --readout" in capsys.readouterr().err
    assert main(["train", "--resume", "c", "--readout", "max", "--max-steps", "3", "--quiet"]) == 0   # its own


def test_the_layout_is_one_list():
    from unroll.runs import first_start, folder
    assert not hasattr(first_start, "RUN_FILES")
    assert folder.FILES == ("config.json", "config-history.jsonl", "lock", "latest", "checkpoints", "best",
                            "metrics.jsonl", "result.json")


def test_an_imported_run_is_imported_until_it_logs_a_step(tmp_path):
    """`unroll import` writes config.json (naming its source) and a checkpoint, and logs nothing: the runs
    table said "interrupted" (issue 32); it is "imported", and --out refuses it with advice that works."""
    from unroll.runs import RunFolder
    from unroll.runs.run import _taken
    folder = RunFolder(tmp_path / "imp")
    folder.create({"task": "lm", "train": {}, "imported": "/models/lm.pt"})
    folder.release()
    assert folder.imported() and folder.state() == "imported"
    assert _taken(folder, "imp") == "--out imp holds an imported run (it cannot be resumed); give another --out for a new run"
    folder.log({"step": 1, "train_loss": 1.0})
    assert not folder.imported() and folder.state() == "interrupted"
