"""A start that fails on bad input leaves no run folder (issue #21): every check that can fail runs before
the folder exists, and a folder whose first start failed anyway is removed, so the same command can be
retried once the input is fixed. Each case is the real CLI: exit 2, one `unroll: error:` line naming the
file, flag or line, and no run folder afterwards."""

import pytest

from unroll.cli import main
from unroll.runs import run

from tests.tasks.helpers import sentiment_lines


@pytest.fixture()
def data(tmp_path):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    (tmp_path / "v-label.tsv").write_text("pos\tgood film\nmeh\tthe film\n")
    conll = "".join(f"{w}\t{'B' if i % 2 == 0 else 'I'}\n" + ("\n" if i % 3 == 2 else "")
                    for i, w in enumerate("the film was good and the story was fine".split() * 6))
    (tmp_path / "t.conll").write_text(conll)
    (tmp_path / "v-tag.conll").write_text("the\tB\nfilm\tX\n\n")
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{s[::-1]}\n" for s in ("ab", "ba", "abb", "bab", "aab") * 8))
    (tmp_path / "v-char.tsv").write_text("ab\tba\nazb\tbza\n")
    (tmp_path / "v-long.tsv").write_text("ab\tba\nabababab\tbabababa\n")
    (tmp_path / "vec.tsv").write_text("".join(f"{i % 3} 1\tgood film {i}\n" for i in range(20)) + "nan 1\tbad\n")
    return tmp_path


def common(task: str) -> list[str]:
    return ["train", "--task", task, "--hidden", "6", "--batch", "4", "--max-steps", "3", "--eval-every", "2",
            "--quiet", "--out", "run"]


CASES = {
    "classify --valid unknown label": (
        ["--task", "classify", "--data", "s.tsv", "--valid", "v-label.tsv"], "v-label.tsv: example 2 has the label 'meh'"),
    "tag --valid unknown tag": (
        ["--task", "tag", "--data", "t.conll", "--valid", "v-tag.conll"], "v-tag.conll: sequence 1 has the tag(s) X"),
    "seq2seq --valid unknown character": (
        ["--task", "seq2seq", "--data", "p.tsv", "--valid", "v-char.tsv"], "v-char.tsv line 2"),
    "seq2seq --valid longer source": (
        ["--task", "seq2seq", "--data", "p.tsv", "--valid", "v-long.tsv", "--max-source-len", "5"],
        "v-long.tsv line 2: the source has 8 tokens"),
    "--workers 3 --batch 2": (
        ["--task", "classify", "--data", "s.tsv", "--workers", "3", "--batch", "2"], "--batch 2"),
    "--forget-bias nan": (["--forget-bias", "nan"], "--forget-bias"),
    "NaN in --cond vector data": (
        ["--task", "generate", "--data", "vec.tsv", "--cond", "vector"], "vec.tsv: example 21"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_start_leaves_no_run_folder(data, case, capsys, monkeypatch):
    monkeypatch.chdir(data)
    flags, message = CASES[case]
    task = flags[flags.index("--task") + 1] if "--task" in flags else "lm"
    argv = [*common(task), *[f for f in flags if f not in ("--task", task)]]
    if task == "lm":
        (data / "c.txt").write_text("hello world, a tiny text to learn from. " * 20)
        argv += ["--data", "c.txt", "--seq-len", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (data / "run").exists()


def test_a_first_start_that_fails_after_the_folder_exists_removes_only_what_it_wrote(data, capsys, monkeypatch):
    """The guard behind the checks: an error in training's first steps removes the folder it created, and in a
    folder that existed before, only the run's own files (never the user's)."""
    from unroll.tasks.classify import ClassifyTask
    monkeypatch.chdir(data)
    monkeypatch.setattr(ClassifyTask, "metrics", lambda self, model, split: (_ for _ in ()).throw(
        ValueError("validation blew up")))
    argv = [*common("classify"), "--data", "s.tsv"]
    assert main(argv) == 2
    assert "validation blew up" in capsys.readouterr().err
    assert not (data / "run").exists()
    (data / "run").mkdir()
    (data / "run" / "notes.txt").write_text("mine")
    assert main(argv) == 2
    assert sorted(p.name for p in (data / "run").iterdir()) == ["notes.txt"]


def test_a_failure_after_the_first_validation_keeps_the_run(data, capsys, monkeypatch):
    """Training that passed a validation and wrote a checkpoint is never deleted: it can be resumed."""
    from unroll.tasks.classify import ClassifyTask
    monkeypatch.chdir(data)
    real, calls = ClassifyTask.metrics, []

    def second_fails(self, model, split):
        calls.append(split)
        if len(calls) > 1:                       # step 2's validation passes, step 4's fails
            raise ValueError("validation blew up")
        return real(self, model, split)

    monkeypatch.setattr(ClassifyTask, "metrics", second_fails)
    assert main([*common("classify"), "--data", "s.tsv", "--max-steps", "6"]) == 2
    assert (data / "run" / "config.json").exists() and (data / "run" / "latest").read_text().strip() == "step-00000002"
    run.read_config(data / "run")
