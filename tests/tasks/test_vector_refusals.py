"""Vector runs of classify and seq2seq: --init-from (a language model's token embedding) is refused in one
line naming the flag (it ended in a KeyError traceback), and vector seq2seq applies --max-source-len to what
it evaluates and predicts (it was accepted and ignored)."""

import pytest

from unroll.cli import main

from tests.data.vector_helpers import make_sequences, write_csv


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    xs, labels, _ = make_sequences(40, seed=1)
    write_csv(tmp_path / "c.csv", xs, labels)
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 10)
    return tmp_path


def test_init_from_a_language_model_on_vector_input_is_one_line(folder, capsys):
    assert main(["train", "--data", "t.txt", "--level", "word", "--hidden", "4", "--layers", "1", "--seq-len", "4",
                 "--batch", "2", "--max-steps", "1", "--quiet", "--out", "lm"]) == 0
    capsys.readouterr()
    assert main(["train", "--task", "classify", "--data", "c.csv", "--init-from", "lm", "--hidden", "4",
                 "--max-steps", "1", "--quiet", "--out", "c"]) == 2
    err = capsys.readouterr().err
    assert err == ("unroll: error: --init-from lm: a language model's weights start a model of tokens, and this run "
                   "reads vectors (there is no embedding to copy)\n")
    assert not (folder / "c").exists()


def test_vector_seq2seq_applies_max_source_len(folder, capsys):
    common = ["train", "--task", "seq2seq", "--data", "c.csv", "--hidden", "4", "--max-steps", "2",
              "--eval-every", "2", "--quiet"]
    assert main([*common, "--out", "s"]) == 0
    capsys.readouterr()
    assert main([*common, "--max-source-len", "2", "--out", "short"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unroll: error: ") and "more than --max-source-len 2" in err and err.count("\n") == 1
