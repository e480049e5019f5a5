"""Defects of issue 28 at the command line: eval and predict on a run that is still training say which
checkpoint and step they read; every eval line names its step (classify's did not); a forecast run's
predict refuses a positional INPUT it would ignore."""

import numpy as np

from unroll.cli import main
from unroll.runs import lock

from tests.tasks.helpers import sentiment_lines


def test_eval_and_predict_on_a_training_run_say_the_step_they_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    (tmp_path / "in.txt").write_text("a good film\n")
    assert main(["train", "--task", "classify", "--data", "s.tsv", "--hidden", "6", "--batch", "4",
                 "--max-steps", "3", "--eval-every", "2", "--quiet", "--out", "c"]) == 0
    capsys.readouterr()
    assert main(["eval", "c", "--checkpoint", "last"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("step 3 (last checkpoint): loss ") and err == ""           # the step, and no note
    lock.acquire(tmp_path / "c")                                                      # another trainer holds it
    try:
        assert main(["eval", "c"]) == 0
        out, err = capsys.readouterr()
        assert err == "unroll: c is still training; eval reads its best checkpoint, step 2\n"
        assert out.startswith("step 2 (best checkpoint): loss ")
        assert main(["predict", "c", "in.txt", "--checkpoint", "last"]) == 0
        assert capsys.readouterr().err == "unroll: c is still training; predict reads its last checkpoint, step 3\n"
    finally:
        lock.release(tmp_path / "c")


def test_forecast_predict_refuses_an_input_file_it_would_ignore(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = ["month,sales"] + [f"{np.datetime64('2000-01') + t},{20 + 5 * np.sin(t / 2):.4f}" for t in range(40)]
    (tmp_path / "sales.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "other.csv").write_text("\n".join(rows[:30]) + "\n")
    assert main(["train", "--task", "forecast", "--data", "sales.csv", "--context", "8", "--horizon", "4",
                 "--hidden", "6", "--batch", "4", "--max-steps", "2", "--eval-every", "2", "--quiet",
                 "--out", "f"]) == 0
    capsys.readouterr()
    assert main(["predict", "f", "other.csv"]) == 2
    assert capsys.readouterr() == ("", "unroll: error: this run has no --future-covariates, so predict reads no file "
                                       "(other.csv); leave it out, or forecast after the end of that file with "
                                       "--data other.csv\n")     # issue 31: a run with them reads future.csv
    assert main(["predict", "f"]) == 0 and len(capsys.readouterr().out.splitlines()) == 5     # header + h rows
