"""`unroll tune`'s search specs and flags: what it parses, and the one line that refuses each bad one before
any trial starts (no study folder is left behind)."""

import sys

import pytest

from unroll.cli import main
from unroll.tune import spec

pytest.importorskip("optuna")


def test_a_search_parses_into_typed_ranges_and_choices():
    params = spec.parse("hidden=64..512:log,dropout=0..0.6,lr=3e-4..1e-2:log,cell=lstm|gru,seq_len=50|100",
                        "lm", [])
    shown = [(p.name, p.kind, p.low, p.high, p.log, p.values) for p in params]
    assert shown == [("hidden", "int", 64, 512, True, ()), ("dropout", "float", 0.0, 0.6, False, ()),
                     ("lr", "float", 3e-4, 1e-2, True, ()), ("cell", "choice", None, None, False, ("lstm", "gru")),
                     ("seq-len", "choice", None, None, False, (50, 100))]
    assert params[2].argv(0.001) == ["--lr", "0.001"] and params[4].argv(50) == ["--seq-len", "50"]
    assert spec.values_of("hidden=256,dropout=0,lr=2e-3,cell=lstm,seq_len=100", params) == \
        {"hidden": 256, "dropout": 0.0, "lr": 2e-3, "cell": "lstm", "seq-len": 100}


BAD = [
    ("hiden=1..2", "--search hiden: unroll train --task lm has no flag --hiden"),
    ("hidden=64..512.5", "--search hidden=64..512.5: --hidden takes an integer, got '512.5'"),
    ("lr=1e-2..1e-4", "--search lr=1e-2..1e-4: the low end 0.01 must be below the high end 0.0001"),
    ("dropout=0..0.5:log", "--search dropout=0..0.5:log: a :log range needs a low end above 0, got 0.0"),
    ("lr=1e-3..1e-2:ln", "--search lr=1e-3..1e-2:ln: unknown scale 'ln' (only :log)"),
    ("cell=lstm..gru", "--search cell=lstm..gru: --cell takes a name, not a number range; give its values as "
                       "cell=A|B"),
    ("cell=lstm|gri", "--search cell=lstm|gri: --cell has no choice 'gri' (choices: rnn, lstm, gru, leaky, skip, "
                      "deep_transition, deep_output)"),
    ("hidden=32", "--search hidden=32: one value is not a search; give it as the fixed flag --hidden 32, or write "
                  "NAME=LOW..HIGH, NAME=LOW..HIGH:log or NAME=A|B|C"),
    ("dropout=0..1.5", "--search dropout: unroll train refuses dropout=1.5: --dropout must lie in [0, 1), got 1.5"),
    ("hidden=8..16,hidden=4..8", "--search hidden: given twice"),
    ("layers=1..2", "--search layers: --layers is also given as a fixed flag; give it one way"),
    ("lr=", "--search lr=: no values; write NAME=LOW..HIGH, NAME=LOW..HIGH:log or NAME=A|B|C"),
    ("out=a|b", "--search out: tune gives every trial its own run folder under the study folder"),
]


@pytest.mark.parametrize("search, message", BAD)
def test_a_bad_search_is_one_line_naming_the_parameter_and_starts_nothing(tmp_path, monkeypatch, capsys,
                                                                          search, message):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--out", "s", "--search", search, "--layers", "1", "--trials", "1"]) == 2
    assert capsys.readouterr().err == f"unroll: error: {message}\n"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv, message", [
    (["--search", "lr=1e-3..1e-2", "--hiden", "8"], "the fixed unroll train flags: unrecognized arguments: --hiden 8"),
    (["--search", "lr=1e-3..1e-2", "--dropout", "2"], "the fixed unroll train flags: --dropout must lie in [0, 1), "
                                                      "got 2.0"),
    (["--search", "lr=1e-3..1e-2", "--workers", "2"], "--workers cannot be a fixed flag of the trials: a trial "
                                                      "trains in one process; --jobs N runs N trials at once"),
    (["--search", "lr=1e-3..1e-2", "--trial-time", "5", "--max-time", "9"],
     "--trial-time is each trial's --max-time; give one of them"),
    (["--search", "lr=1e-3..1e-2", "--enqueue", "lr=0.5"], "--enqueue lr=0.5: 0.5 lies outside the search of lr"),
    (["--search", "lr=1e-3..1e-2", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
    ([], "--search names what to search, e.g. --search 'hidden=64..512:log,lr=3e-4..1e-2:log'"),
    (["--search", "lr=1e-3..1e-2", "--pruner", "none", "--startup-trials", "2"],
     "--startup-trials counts the trials before the pruner starts; with --pruner none leave it out"),
])
def test_bad_tune_flags_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--out", "s", *argv]) == 2
    assert capsys.readouterr().err == f"unroll: error: {message}\n"
    assert not (tmp_path / "s").exists()


def test_a_resumed_study_keeps_its_search_and_a_missing_study_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--resume", "s", "--search", "lr=1..2"]) == 2
    assert capsys.readouterr().err == ("unroll: error: --search: a resumed study keeps the settings in s/tune.json; "
                                       "only --budget, --trials and --jobs may be given with --resume\n")
    assert main(["tune", "--resume", "s"]) == 2
    assert capsys.readouterr().err == ("unroll: error: s is not a study folder (it has no tune.json; start one with "
                                       "unroll tune --out)\n")
    for more in (["--hidden", "4"], ["--jobs", "2"], ["--trials", "3"]):
        assert main(["tune", "s", "--report", *more]) == 2
        assert capsys.readouterr().err == ("unroll: error: --report reads one study: `unroll tune STUDY --report`, "
                                           "nothing else\n")


def test_without_optuna_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["tune", "--out", "s", "--search", "lr=1e-3..1e-2"]) == 2
    assert capsys.readouterr().err == ("unroll: error: unroll tune needs Optuna: pip install 'unroll[tune]' "
                                       "(or pip install optuna)\n")


def test_other_commands_still_refuse_unknown_flags(capsys):
    assert main(["eval", "run", "--hiden", "3"]) == 2
    assert "unroll: error: unrecognized arguments: --hiden 3" in capsys.readouterr().err


def test_trials_that_keep_failing_stop_the_study_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--out", "s", "--task", "classify", "--search", "hidden=4..8", "--max-steps", "2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "unroll: error: 3 trials in a row failed, the last with: --task classify needs --data (a TSV " \
                      "file, or one file per class)"
    assert [line.split(" (")[0] for line in err[:3]] == ["trial 0 fail", "trial 1 fail", "trial 2 fail"]


def test_a_study_run_by_another_process_is_refused_naming_it(tmp_path, monkeypatch, capsys):
    import subprocess
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "tune.json").write_text('{"format": 1}')
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from unroll.runs import lock; "
                               "lock.acquire('s', 'study'); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(["tune", "--resume", "s"]) == 2
    finally:
        holder.kill()
        holder.wait()
    assert capsys.readouterr().err == (f"unroll: error: study {tmp_path / 's'} is in use by another unroll process "
                                       f"(pid {holder.pid}); wait for it to finish or stop it first\n")
