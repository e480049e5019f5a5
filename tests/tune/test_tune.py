"""`unroll tune` end to end on a tiny language model: trials are run folders, pruning, kill -9 and --resume,
--jobs 2, and the report's command line training the best trial's settings again."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from unroll.cli import main  # noqa: E402
from unroll.tune import report, study as studies  # noqa: E402

TEXT = "hello world, a tiny text to learn from. " * 60
TINY = ["--data", "c.txt", "--layers", "1", "--seq-len", "5", "--batch", "2", "--eval-every", "2"]
State = optuna.trial.TrialState


@pytest.fixture()
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text(TEXT)
    return tmp_path


def trials_of(folder):
    info = studies.read_info(folder)
    return studies.open_study(folder, info).get_trials(deepcopy=False)


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_three_trials_are_run_folders_with_their_sampled_settings(here, capsys):
    argv = ["tune", "--out", "s", "--search", "hidden=4..16:log,lr=1e-3..3e-2:log,cell=lstm|gru", "--trials", "3",
            "--sampler-seed", "0", *TINY, "--max-steps", "6"]
    assert main(argv) == 0
    trials = trials_of(here / "s")
    assert [t.state for t in trials] == [State.COMPLETE] * 3
    for t in trials:
        run = here / "s" / "trials" / f"{t.number:04d}"
        config = json.loads((run / "config.json").read_text())
        assert (config["network"]["hidden_size"], config["network"]["cell"]) == (t.params["hidden"], t.params["cell"])
        assert config["train"]["lr"] == t.params["lr"] and config["train"]["max_steps"] == 6
        valid = [r["valid_loss"] for r in records(run) if "valid_loss" in r and r["step"] % 2 == 0]
        assert t.value == min(valid)                                   # the best checkpoint's validation
        assert [step for step, _ in sorted(t.intermediate_values.items())] == [2, 4, 6]
    err = capsys.readouterr().err
    assert "trial 2 complete" in err and "3 trials finished" in err
    text = report.render(here / "s")
    best = min(trials, key=lambda t: t.value)
    assert f"best: trial {best.number}, valid_loss {best.value:.6g}" in text
    assert text.splitlines()[2].split() == ["trial", "state", "valid_loss", "steps", "seconds", "cell", "hidden", "lr"]
    assert "importances: " in text and (here / "s" / "report.png").stat().st_size > 1000


def test_a_poor_trial_is_pruned_and_its_run_folder_says_so(here):
    argv = ["tune", "--out", "s", "--search", "lr=1e-6..3e-2:log", "--startup-trials", "2",
            "--enqueue", "lr=0.03", "--enqueue", "lr=0.02", "--enqueue", "lr=1e-6", "--trials", "3",
            *TINY, "--max-steps", "6", "--hidden", "8"]
    assert main(argv) == 0
    trials = trials_of(here / "s")
    assert [t.state for t in trials] == [State.COMPLETE, State.COMPLETE, State.PRUNED]
    assert [t.params["lr"] for t in trials] == [0.03, 0.02, 1e-6]
    lines = records(here / "s" / "trials" / "0002")
    stop = [r for r in lines if r.get("event") == "stop"]
    assert len(stop) == 1 and stop[0]["step"] == 2
    assert stop[0]["message"].startswith("pruned by unroll tune: valid_loss ")
    assert max(r["step"] for r in lines) == 2                          # it trained no step after the pruning
    assert trials[2].value == trials[2].intermediate_values[2]         # its value: the last one reported


def test_kill_9_then_resume_keeps_the_finished_trials_and_completes(here):
    argv = [sys.executable, "-m", "unroll", "tune", "--out", "s", "--search", "hidden=4..12", "--trials", "3",
            "--sampler-seed", "1", "--pruner", "none", "--trial-time", "3", *TINY, "--max-steps", "100000",
            "--eval-every", "100"]
    # each trial runs 3 s (by time, not steps): the third is still running when the poll sees two finished,
    # however fast the kernels (800 steps once took under the poll's own time and the third trial finished)
    tune = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.05)
            if (here / "s" / "study.db").exists() and (here / "s" / "tune.json").exists():
                try:
                    trials = trials_of(here / "s")
                except Exception:                # the tune process may still be creating the tables: poll again
                    continue
                if sum(t.state == State.COMPLETE for t in trials) == 2 and len(trials) == 3:
                    break
        os.kill(tune.pid, signal.SIGKILL)
    finally:
        tune.wait()
    before = trials_of(here / "s")
    assert [t.state for t in before] == [State.COMPLETE, State.COMPLETE, State.RUNNING]
    assert main(["tune", "--resume", "s"]) == 0
    after = trials_of(here / "s")
    assert [(t.number, t.value, t.params) for t in after[:2]] == [(t.number, t.value, t.params) for t in before[:2]]
    assert [t.state for t in after] == [State.COMPLETE, State.COMPLETE, State.FAIL, State.COMPLETE]
    assert after[3].user_attrs["retry_of"] == 2 and after[3].params == before[2].params
    assert main(["tune", "--resume", "s"]) == 0 and len(trials_of(here / "s")) == 4   # nothing left to run


def test_jobs_2_runs_trials_in_two_worker_processes(here):
    argv = ["tune", "--out", "s", "--search", "hidden=4..12", "--trials", "4", "--jobs", "2", "--sampler-seed", "3",
            *TINY, "--max-steps", "40", "--eval-every", "20"]
    assert main(argv) == 0
    trials = trials_of(here / "s")
    assert len(trials) >= 4 and all(t.state == State.COMPLETE for t in trials)
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids
    assert sorted(p.name for p in (here / "s" / "trials").iterdir()) == [f"{t.number:04d}" for t in trials]


def test_the_reports_command_line_trains_the_best_trials_settings_again(here, capsys):
    argv = ["tune", "--out", "s", "--search", "hidden=4..12,dropout=0..0.5", "--trials", "2", "--sampler-seed", "0",
            *TINY, "--max-steps", "4"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["tune", "s", "--report"]) == 0
    out = capsys.readouterr().out
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("unroll train "))
    best = studies.open_study(here / "s", studies.read_info(here / "s")).best_trial
    args = shlex.split(command)[1:]
    assert args[-2:] == ["--out", f"runs/tune-trial-{best.number}"]
    assert main([*args[:-1], "again"]) == 0
    mine, theirs = (json.loads((here / p / "config.json").read_text()) for p in ("again", f"s/trials/{best.number:04d}"))
    mine.pop("created"), theirs.pop("created")
    assert mine == theirs
    assert theirs["network"]["hidden_size"] == best.params["hidden"] and theirs["network"]["dropout"] == best.params["dropout"]


def test_ctrl_c_stops_the_study_and_resume_runs_the_interrupted_settings_again(here):
    argv = [sys.executable, "-m", "unroll", "tune", "--out", "s", "--search", "hidden=4..12", "--trials", "2",
            "--sampler-seed", "2", "--pruner", "none", *TINY, "--trial-time", "2", "--eval-every", "50"]
    tune = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((here / "s" / "trials").glob("0000/checkpoints/step-00000050*")):
        time.sleep(0.02)
    tune.send_signal(signal.SIGINT)
    assert tune.wait(timeout=60) == 130
    assert "unroll: tune interrupted; finished trials are kept: unroll tune --resume" in tune.stderr.read()
    (first,) = trials_of(here / "s")
    assert first.state == State.FAIL and "error" not in first.user_attrs
    stop = [r for r in records(here / "s" / "trials" / "0000") if "elapsed" in r][-1]
    assert stop["elapsed"] < 2                                          # stopped early, with a checkpoint
    assert main(["tune", "--resume", "s", "--trials", "1"]) == 0
    again = trials_of(here / "s")
    assert [t.state for t in again] == [State.FAIL, State.COMPLETE]
    assert again[1].user_attrs["retry_of"] == 0 and again[1].params == first.params


def test_trial_time_is_each_trials_max_time_and_the_budget_starts_no_trial_that_would_overrun(here, capsys):
    argv = ["tune", "--out", "s", "--search", "hidden=4..12", "--trial-time", "30", "--budget", "10", *TINY]
    assert main(argv) == 0
    assert trials_of(here / "s") == [] and "0 trials finished" in capsys.readouterr().err
    argv = ["tune", "--out", "t", "--search", "hidden=4..12", "--trial-time", "0.5", "--trials", "1", *TINY]
    assert main(argv) == 0
    config = json.loads((here / "t" / "trials" / "0000" / "config.json").read_text())
    assert (config["train"]["max_time"], config["train"]["max_steps"]) == (0.5, None)
    assert studies.read_info(here / "t")["trial_time"] == 0.5


def test_a_shared_storage_url_holds_the_study(here):
    url = f"sqlite:///{here / 'shared.db'}"
    argv = ["tune", "--out", "s", "--search", "hidden=4..12", "--trials", "2", "--storage", url, "--study-name", "x",
            *TINY, "--max-steps", "4"]
    assert main(argv) == 0
    assert not (here / "s" / "study.db").exists()
    shared = optuna.load_study(study_name="x", storage=url)
    assert [t.state for t in shared.trials] == [State.COMPLETE] * 2
    assert [t.user_attrs["run"] for t in shared.trials] == [str(here / "s" / "trials" / f"000{k}") for k in (0, 1)]


def test_kill_9_of_tune_ends_its_workers(here):
    argv = [sys.executable, "-m", "unroll", "tune", "--out", "s", "--search", "hidden=4..12", "--trials", "4",
            "--jobs", "2", *TINY, "--max-steps", "100000", "--eval-every", "50"]
    tune = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((here / "s" / "trials").glob("*/metrics.jsonl"))) < 2:
        time.sleep(0.05)
    pids = {t.user_attrs["pid"] for t in trials_of(here / "s")}
    os.kill(tune.pid, signal.SIGKILL)
    tune.wait()
    for _ in range(200):
        if not [p for p in pids if _alive(p)]:
            break
        time.sleep(0.05)
    assert len(pids) == 2 and not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                                # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
