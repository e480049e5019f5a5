"""A resumed classify/tag/seq2seq run on vectors whose data file changed since it started is refused in
one line, as token runs are (issue 29): `--data` or `--valid` edited between the start and `--resume`
ends in exit status 2, one line naming the flag and the files (the token runs' own line), and nothing written to the run
folder."""

import numpy as np
import pytest

from unroll.cli import main

from tests.tasks.helpers import sentiment_lines


def vector_csv(labels) -> str:
    rng = np.random.default_rng(1)
    rows = ["id,time,f1,f2,label"]
    for n in range(24):
        rows += [f"s{n},{t},{rng.normal():.3f},{rng.normal():.3f},{labels(n)}" for t in range(3)]
    return "\n".join(rows) + "\n"


RUNS = {
    "classify": (["--task", "classify", "--hidden", "4"], lambda n: "yes" if n % 2 else "no"),
    "tag": (["--task", "tag", "--hidden", "4"], lambda n: "B" if n % 2 else "I"),
    "seq2seq": (["--task", "seq2seq", "--hidden", "4"], lambda n: "a b" if n % 2 else "b a"),
}


def refused(capsys, run_dir) -> str:
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != "lock"}
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--max-steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != "lock"} == before
    assert (run_dir / "latest").read_text().strip() == "step-00000002"
    return err[0]


@pytest.mark.parametrize("task", sorted(RUNS))
@pytest.mark.parametrize("changed", ["--data", "--valid"])
def test_a_changed_vector_file_is_refused_on_resume(tmp_path, task, changed, capsys):
    flags, labels = RUNS[task]
    data, valid = tmp_path / "train.csv", tmp_path / "valid.csv"
    data.write_text(vector_csv(labels))
    valid.write_text(vector_csv(labels).replace("\ns", "\nv"))
    run_dir = tmp_path / "run"
    assert main(["train", *flags, "--data", str(data), "--valid", str(valid), "--batch", "4", "--max-steps", "2",
                 "--eval-every", "2", "--quiet", "--out", str(run_dir)]) == 0
    edited = data if changed == "--data" else valid
    edited.write_text(edited.read_text().replace(",0.", ",1.", 1))          # one value differs
    line = refused(capsys, run_dir)
    assert line == (f"unroll: error: --data {data}, {valid} changed since the run started "
                    "(SHA-256 differs); train on it in a new run folder")          # the token runs' line


def test_token_runs_are_refused_with_the_same_line(tmp_path, capsys):
    data = tmp_path / "s.tsv"
    data.write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    assert main(["train", "--task", "classify", "--data", str(data), "--hidden", "4", "--batch", "8",
                 "--max-steps", "2", "--eval-every", "2", "--quiet", "--out", str(tmp_path / "run")]) == 0
    data.write_text(data.read_text() + "pos\tgood film\n")
    assert refused(capsys, tmp_path / "run") == (f"unroll: error: --data {data} changed since the run started "
                                                 "(SHA-256 differs); train on it in a new run folder")
