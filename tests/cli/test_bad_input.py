"""Bad input and user-facing rough edges of issue #21, each through the real CLI: exit 2 and one
`unroll: error:` line naming the flag, file or line (or, where the input can be partly used, a warning that
says what was skipped). Small runs, generated data."""

import json
import os
import sys

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import run

from tests.tasks.helpers import sentiment_lines

CORPUS = "hello world, a tiny text to learn from.\x85 it has\x0c odd breaks.\n" * 30
LM = ["train", "--hidden", "8", "--layers", "1", "--seq-len", "5", "--batch", "2", "--max-steps", "2",
      "--eval-every", "2", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An lm run and a classify run (relative --data paths, trained in their own folder)."""
    folder = tmp_path_factory.mktemp("runs")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        (folder / "c.txt").write_text(CORPUS)
        (folder / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
        (folder / "p.tsv").write_text("".join(f"{s}\t{s[::-1]}\n" for s in ("ab", "ba", "abb", "bab", "aab") * 8))
        assert main([*LM, "--data", "c.txt", "--out", "lm"]) == 0
        assert main(["train", "--task", "classify", "--data", "s.tsv", "--hidden", "6", "--batch", "4",
                     "--max-steps", "2", "--eval-every", "2", "--quiet", "--out", "cls"]) == 0
        assert main(["train", "--task", "seq2seq", "--data", "p.tsv", "--hidden", "6", "--batch", "4",
                     "--max-steps", "2", "--eval-every", "2", "--quiet", "--out", "s2s"]) == 0
    finally:
        os.chdir(cwd)
    return folder


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unroll: error: ") and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------------------------------
# Lines are split on newlines only.

def test_predict_keeps_x85_and_form_feed_inside_a_line(runs, capsys):
    (runs / "in.txt").write_text("hello\x85 wor\nit\x0c has\n")
    assert main(["predict", str(runs / "lm"), str(runs / "in.txt"), "--length", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert len(out) == 3 and out[2] == ""
    assert out[0].startswith("hello\x85 wor") and out[1].startswith("it\x0c has")
    (runs / "in2.txt").write_text("the film\x85 was good\nbad\x0cplot\n")
    assert main(["predict", str(runs / "cls"), str(runs / "in2.txt")]) == 0
    assert len(capsys.readouterr().out.split("\n")) == 3


def test_metrics_log_reader_splits_on_newlines_only(tmp_path):
    from unroll.analysis.plots import read_metrics
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "note": "a\x85b"}\n{"step": 2}\n')
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


# ----------------------------------------------------------------------------------------------------
# Paths.

def test_relative_data_paths_are_stored_absolute(runs, tmp_path, monkeypatch, capsys):
    config = run.read_config(runs / "lm")
    assert config["corpus"]["data"] == str(runs / "c.txt")
    assert run.read_config(runs / "cls")["classify"]["data"] == str(runs / "s.tsv")
    monkeypatch.chdir(tmp_path)                              # another folder: eval and --resume still work
    assert main(["eval", str(runs / "cls"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2


def test_export_to_a_missing_folder_or_onto_a_folder(runs, tmp_path, capsys):
    assert main(["export", str(runs / "lm"), "--to", "torch", str(tmp_path / "no" / "m.safetensors")]) == 2
    assert f"the folder {tmp_path / 'no'} does not exist" in one_error(capsys)
    assert main(["export", str(runs / "lm"), "--to", "torch", str(tmp_path)]) == 2
    assert "is a folder" in one_error(capsys)
    out = tmp_path / "m.safetensors"
    assert main(["export", str(runs / "lm"), "--to", "torch", str(out)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert out.with_suffix(".vocab.json").stat().st_mode & 0o777 == 0o666 & ~umask


# ----------------------------------------------------------------------------------------------------
# Messages name the flag; numbers must be finite.

@pytest.mark.parametrize("flags,message", [
    (["--task", "classify", "--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--task", "classify", "--hidden", "-1"], "--hidden must be a positive integer, got -1"),
    (["--task", "tag", "--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--task", "generate", "--layers", "0"], "--layers must be a positive integer, got 0"),
    (["--task", "seq2seq", "--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--batch", "0"], "--batch must be a positive integer, got 0"),
    (["--clip", "nan"], "argument --clip: 'nan' is not a finite number"),
    (["--forget-bias", "inf"], "argument --forget-bias: 'inf' is not a finite number"),
    (["--lr=-inf"], "argument --lr: '-inf' is not a finite number"),
    (["--hidden", "x"], "argument --hidden: invalid int value: 'x'"),
])
def test_bad_flags_are_one_line_naming_the_flag(runs, flags, message, capsys, monkeypatch):
    monkeypatch.chdir(runs)
    data = {"classify": "s.tsv", "generate": "s.tsv", "seq2seq": "p.tsv"}
    task = flags[1] if flags[0] == "--task" else "lm"
    extra = [] if task == "tag" else ["--data", data.get(task, "c.txt")]
    assert main(["train", *flags, *extra, "--max-steps", "1", "--quiet", "--out", "bad"]) == 2
    assert message in one_error(capsys)
    assert not (runs / "bad").exists()


def test_the_library_refuses_non_finite_settings_too():
    from unroll.config import ModelConfig, TrainConfig
    with pytest.raises(ValueError, match="--clip must be a finite number, got nan"):
        TrainConfig(clip=float("nan"))
    with pytest.raises(ValueError, match="--forget-bias must be a finite number, got inf"):
        ModelConfig(forget_bias=float("inf"))


# ----------------------------------------------------------------------------------------------------
# seq2seq: sources longer than in training, and characters it never saw.

def test_seq2seq_accepts_ten_times_the_longest_source_and_an_override(runs, capsys):
    (runs / "long.txt").write_text("ab" * 15 + "\n")            # 30 tokens = 10 x the longest (3)
    assert main(["predict", str(runs / "s2s"), str(runs / "long.txt")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    (runs / "longer.txt").write_text("ab" * 16 + "\n")
    assert main(["predict", str(runs / "s2s"), str(runs / "longer.txt")]) == 2
    assert "input line 1: the source has 32 tokens, more than the 30 accepted" in one_error(capsys)
    assert main(["predict", str(runs / "s2s"), str(runs / "longer.txt"), "--max-source-len", "40"]) == 0


def test_seq2seq_held_out_errors_name_the_data_file_and_its_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = [(s, s[::-1]) for s in ("ab", "ba", "abb", "bab", "aab") * 8]
    pairs[-1] = ("a" * 40, "b")                                 # held out (last 5%): 40 > 10 x 3
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    assert main(["train", "--task", "seq2seq", "--data", "p.tsv", "--hidden", "6", "--max-steps", "1",
                 "--quiet", "--out", "r"]) == 2
    assert "p.tsv line 40: the source has 40 tokens" in one_error(capsys)


def test_unseen_characters_are_skipped_and_counted_by_eval_and_predict(runs, capsys):
    (runs / "test.tsv").write_text("ab\tba\nazb\tbza\nbab\tbab\nab\tbqa\n")
    assert main(["eval", str(runs / "s2s"), "--data", str(runs / "test.tsv"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["pairs"] == 2
    assert f"{runs / 'test.tsv'}: 2 of 4 pairs skipped" in captured.err and "line 2" in captured.err
    (runs / "in.txt").write_text("ab\nazb\nba\n")
    assert main(["predict", str(runs / "s2s"), str(runs / "in.txt")]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.split("\n")) == 4 and captured.out.split("\n")[1] == ""
    assert "input line 2: character 'z'" in captured.err
    (runs / "odd.txt").write_text(CORPUS.replace("w", "\u20ac"))
    assert main(["eval", str(runs / "lm"), "--data", str(runs / "odd.txt"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["tokens"] == len(CORPUS) - CORPUS.count("w")
    assert f"{CORPUS.count('w')} characters not in the run's vocabulary skipped" in captured.err
    assert main(["eval", str(runs / "s2s"), "--data", str(runs / "in.txt")]) == 2        # nothing evaluated
    one_error(capsys)


# ----------------------------------------------------------------------------------------------------
# Optional extras, data commands.

def test_data_dates_without_the_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "babel", None)
    monkeypatch.setitem(sys.modules, "babel.dates", None)
    monkeypatch.setitem(sys.modules, "num2words", None)
    for kind in ("dates", "numbers"):
        assert main(["data", kind, "--n", "3"]) == 2
        assert "pip install 'unroll[data]'" in one_error(capsys)


def test_readme_names_the_data_extra():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "unroll[data]" in readme and "unroll data dates" in readme


def test_addition_with_one_digit_makes_every_distinct_pair(capsys):
    assert main(["data", "addition", "--n", "100", "--max-digits", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(set(lines)) == 100
    assert main(["data", "addition", "--n", "101", "--max-digits", "1"]) == 2
    assert "exceeds the 100 distinct pairs" in one_error(capsys)


@pytest.mark.parametrize("run_name, flags, message", [
    ("s2s", ["--beam", "0"], "--beam must be a positive integer, got 0"),
    ("s2s", ["--temperature=-1"], "--temperature must be >= 0"),
    ("s2s", ["--max-len", "0"], "--max-len must be a positive integer, got 0"),
    ("lm", ["--length", "0"], "--length must be a positive integer, got 0"),
    ("lm", ["--temperature", "0"], "--temperature must be positive"),
    ("lm", ["--temperature", "nan"], "argument --temperature: 'nan' is not a finite number"),
])
def test_predict_options_are_checked_before_any_output(runs, run_name, flags, message, capsys):
    (runs / "in.txt").write_text("ab\n")
    assert main(["predict", str(runs / run_name), str(runs / "in.txt"), *flags]) == 2
    assert message in one_error(capsys)
    assert capsys.readouterr().out == ""


def test_tag_predict_format_is_checked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.conll").write_text("a\tB\nb\tI\n\nb\tB\na\tI\n\n" * 5)
    assert main(["train", "--task", "tag", "--data", "t.conll", "--hidden", "4", "--batch", "2", "--max-steps", "1",
                 "--quiet", "--out", "r"]) == 0
    (tmp_path / "in.txt").write_text("a b\n")
    capsys.readouterr()
    assert main(["predict", "r", "in.txt", "--format", "bogus"]) == 2
    assert "--format must be tags or words, got 'bogus'" in one_error(capsys)


def test_eval_that_evaluates_nothing_exits_non_zero(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text(CORPUS)
    assert main([*LM, "--data", "c.txt", "--valid", "none", "--out", "r"]) == 0
    capsys.readouterr()
    assert main(["eval", "r"]) == 2
    assert "was trained with --valid none" in one_error(capsys)


def test_long_error_lines_are_bounded(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.conll").write_text("a\tB\nb\tI\n\n" * 10)
    (tmp_path / "v.conll").write_text("".join(f"a\tT{i}\n" for i in range(3000)) + "\n")
    assert main(["train", "--task", "tag", "--data", "t.conll", "--valid", "v.conll", "--max-steps", "1",
                 "--quiet", "--out", "r"]) == 2
    line = one_error(capsys)
    assert len(line) < 500 and "and 2990 more" in line


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, capsys, monkeypatch):
    import time as time_module
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text(CORPUS)
    monkeypatch.setattr(time_module, "strftime", lambda fmt, *a: "20260101-000000" if "%H" in fmt else "2026-01-01")
    for _ in range(2):
        assert main([a for a in LM if a != "--quiet"] + ["--data", "c.txt", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["20260101-000000-gru", "20260101-000000-gru-2"]


def test_plot_names_the_file_it_writes(runs, tmp_path, capsys):
    assert main(["plot", str(runs / "lm"), "--out", str(tmp_path / "curves")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_conll_line_without_a_tab_is_named_as_such(tmp_path):
    from unroll.data.columns import read_conll
    (tmp_path / "t.conll").write_text("a\tB\nb I\n\n")
    with pytest.raises(ValueError, match=r"t.conll:2: no tab between token and tag"):
        read_conll(tmp_path / "t.conll")


def test_lm_and_seq2seq_read_other_encodings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_bytes(("café crème, déjà vu. " * 40).encode("latin-1"))
    assert main([*LM, "--data", "c.txt", "--out", "bad"]) == 2
    assert "--encoding latin-1" in one_error(capsys) and not (tmp_path / "bad").exists()
    assert main([*LM, "--data", "c.txt", "--encoding", "latin-1", "--out", "lm"]) == 0
    assert "é" in run.load(tmp_path / "lm")[0].vocab.tokens
    capsys.readouterr()
    (tmp_path / "p.tsv").write_bytes("".join(f"{s}\t{s[::-1]}\n" for s in ("éa", "aé", "éé", "aéa") * 10).encode("latin-1"))
    assert main(["train", "--task", "seq2seq", "--data", "p.tsv", "--hidden", "4", "--max-steps", "1", "--quiet",
                 "--out", "bad"]) == 2
    assert "--encoding latin-1" in one_error(capsys)
    assert main(["train", "--task", "seq2seq", "--data", "p.tsv", "--encoding", "latin-1", "--hidden", "4",
                 "--max-steps", "1", "--quiet", "--out", "s"]) == 0
    capsys.readouterr()
    assert main(["train", "--task", "lm", "--encoding", "klingon", "--out", "bad"]) == 2
    assert "--encoding 'klingon' is not a codec" in one_error(capsys)


def test_tag_takes_bidirectional_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.conll").write_text("a\tB\nb\tI\n\nb\tB\na\tI\n\n" * 5)
    base = ["train", "--task", "tag", "--data", "t.conll", "--hidden", "4", "--batch", "2", "--max-steps", "1", "--quiet"]
    assert main([*base, "--bidirectional", "--out", "r"]) == 0         # the default, and the flag classify takes
    assert main([*base, "--no-bidirectional", "--out", "r1"]) == 0      # one flag says both (--unidirectional went)
    from unroll.runs import run
    assert any("_reverse" in k for k in run.load(tmp_path / "r")[1].params)
    assert not any("_reverse" in k for k in run.load(tmp_path / "r1")[1].params)
    capsys.readouterr()
    assert main([*base, "--unidirectional", "--out", "r2"]) == 2
    assert "unrecognized arguments: --unidirectional" in capsys.readouterr().err


def test_an_imported_run_without_text_names_what_to_give(runs, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["export", str(runs / "lm"), "--to", "torch", str(model)]) == 0
    assert main(["import", str(model), "--vocab", str(model.with_suffix(".vocab.json")), "--out", str(tmp_path / "imp")]) == 0
    capsys.readouterr()
    assert main(["visualize", str(tmp_path / "imp"), "--out", str(tmp_path / "p.html")]) == 2
    line = one_error(capsys)
    assert "was imported from" in line and "--text FILE" in line and "None" not in line


def test_an_all_unknown_evaluation_warns(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.txt").write_text("the cat sat on the mat . " * 40)
    assert main([*LM, "--data", "w.txt", "--level", "word", "--out", "r"]) == 0
    (tmp_path / "other.txt").write_text("zebra quokka axolotl narwhal " * 5)
    capsys.readouterr()
    assert main(["eval", "r", "--data", "other.txt", "--json"]) == 0
    assert "100% of the 20 tokens of other.txt are <unk>" in capsys.readouterr().err
