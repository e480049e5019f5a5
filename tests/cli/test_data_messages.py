"""Data files the tasks cannot read, through the real CLI (issue 28): exit 2 and one `unroll: error:` line in
the one format `[--data ]PATH[:LINE]: message`, the same words whichever task reads the file, naming the
cause; and predict's standard input split on newlines only."""

import io
import os

import pytest

from unroll.cli import main

from tests.tasks.helpers import sentiment_lines

TASKS = ("lm", "classify", "tag", "seq2seq", "generate")
SMALL = ["--hidden", "4", "--max-steps", "1", "--quiet"]


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unroll: error: ") and "Traceback" not in err, err
    return lines[0][len("unroll: error: "):]


def train(tmp_path, task, data, *more) -> int:
    return main(["train", "--task", task, "--data", str(data), *SMALL, *more, "--out", str(tmp_path / "run")])


@pytest.mark.parametrize("task", TASKS)
def test_a_binary_data_file_is_one_message_naming_the_flag(task, tmp_path, capsys):
    (tmp_path / "model.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x80\x81")
    assert train(tmp_path, task, tmp_path / "model.bin") == 2
    assert one_error(capsys) == (f"--data {tmp_path / 'model.bin'}:3: looks binary (a NUL byte at byte offset 8), "
                                 "not a text file")


@pytest.mark.parametrize("task", ("lm", "tag", "seq2seq"))
def test_a_folder_as_data_is_one_message_naming_the_flag(task, tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("some text\n")
    assert train(tmp_path, task, tmp_path / "corpus") == 2
    assert one_error(capsys) == f"--data {tmp_path / 'corpus'}: is a folder, not a text file"


def test_a_folder_of_files_sharing_a_class_is_said_once(tmp_path, capsys):
    (tmp_path / "reviews").mkdir()
    for i in range(20):
        (tmp_path / "reviews" / f"r{i:02}.{'pos' if i < 10 else 'neg'}").write_text("a fine film\n")
    assert train(tmp_path, "classify", tmp_path / "reviews") == 2
    assert one_error(capsys) == (f"--data {tmp_path / 'reviews'}: 10 files name class 'neg' (r10.neg, r11.neg, "
                                 "r12.neg, ...), but one-file-per-class data holds one file per class (rt-polarity.pos, "
                                 "rt-polarity.neg), its class the last suffix, or the stem of a .txt/.tsv file")


def test_tag_on_a_label_text_file_names_the_file_and_the_cause(tmp_path, capsys):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(30)))
    assert train(tmp_path, "tag", tmp_path / "s.tsv") == 2
    text = sentiment_lines(30)[0][1]
    assert one_error(capsys) == (f"--data {tmp_path / 's.tsv'}:1: the tag {text[:30]!r} holds a space: not a CoNLL "
                                 "token<TAB>tag file (one token a line, blank lines between sequences); "
                                 "label<TAB>text lines are --task classify's")


def test_seq2seq_on_a_conll_file_names_the_line_and_the_likely_cause(tmp_path, capsys):
    (tmp_path / "t.conll").write_text("The\tDT\ncat\tNN\n\nA\tDT\n" * 5)
    assert train(tmp_path, "seq2seq", tmp_path / "t.conll") == 2
    assert one_error(capsys) == (f"--data {tmp_path / 't.conll'}:3: a blank line, but a source<TAB>target file "
                                 "holds one record a line; blank lines between blocks are the layout of CoNLL "
                                 "token<TAB>tag files, which --task tag reads")


def test_a_three_column_conll_line_is_refused_naming_it(tmp_path, capsys):
    (tmp_path / "t.conll").write_text("The\tDT\ncat\tNN\n\nA\tDT\n" * 5 + "a\tx\tDT\n")
    assert train(tmp_path, "tag", tmp_path / "t.conll") == 2
    assert one_error(capsys) == (f"--data {tmp_path / 't.conll'}:21: 3 columns, but line 1 has 2 (a tab inside a "
                                 "token? the tag is the last column)")


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    (folder / "c.txt").write_text("ab\rc\n" * 200)
    assert main(["train", "--data", str(folder / "c.txt"), "--hidden", "4", "--seq-len", "4", "--batch", "2",
                 "--max-steps", "1", "--quiet", "--out", str(folder / "run")]) == 0
    return folder / "run"


class Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


def test_predict_from_stdin_keeps_a_lone_carriage_return_in_its_line(lm_run, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", Stdin(b"ab\rc\nba\r\n"))
    capsys.readouterr()
    assert main(["predict", str(lm_run), "--length", "2", "--seed", "0"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert len(out) == 3 and out[0].startswith("ab\rc") and out[1].startswith("ba")
    assert (len(out[0]), len(out[1])) == (4 + 2, 2 + 2)            # the primes "ab\rc" and "ba", and 2 characters each


def test_predict_on_binary_input_names_where_it_read(lm_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", Stdin(b"ab\n\xff\xfe\x00\x00"))
    capsys.readouterr()
    assert main(["predict", str(lm_run), "--length", "2"]) == 2
    assert one_error(capsys).startswith("standard input:2: byte 0xff is not utf-8 (a binary file?")
    (tmp_path / "in.bin").write_bytes(b"ab\n\xff\xfe\x00\x00")
    assert main(["predict", str(lm_run), str(tmp_path / "in.bin")]) == 2
    assert one_error(capsys) == f"{tmp_path / 'in.bin'}:2: looks binary (a NUL byte at byte offset 5), not a text file"


def test_tag_on_a_file_without_blank_lines_says_it_holds_one_sequence(tmp_path, capsys):
    (tmp_path / "t.conll").write_text("The\tDT\ncat\tNN\nsat\tVB\n" * 4)
    assert train(tmp_path, "tag", tmp_path / "t.conll") == 2
    assert one_error(capsys) == (f"--data {tmp_path / 't.conll'} holds 1 CoNLL sequence: too few to hold out 10% "
                                 "for validation (blank lines separate CoNLL sequences: are there none?); give more, "
                                 "or a --valid file")
