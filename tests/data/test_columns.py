"""The column reader (TSV, one-file-per-class, CoNLL): what it returns, its one rule for blank lines and
extra tabs, and one-line errors ``path:LINE: message``."""

import io

import pytest

from unroll.data.columns import (class_of, read_class_files, read_conll, read_lines, read_tsv, stdin_lines,
                                 write_conll)


def test_tsv_reads_label_and_text_the_text_keeps_its_tabs(tmp_path):
    f = tmp_path / "train.tsv"
    f.write_bytes(b"pos\ta fine\tfilm\r\nneg\tdull .\n\n \n")            # blank lines at the end: ignored
    assert read_tsv(f) == [("pos", "a fine\tfilm"), ("neg", "dull .")]


def test_a_blank_line_inside_a_one_record_a_line_file_is_an_error(tmp_path):
    """One rule for every one-record-a-line format (this TSV used to skip it, the class files refused it)."""
    f = tmp_path / "train.tsv"
    f.write_bytes(b"pos\ta fine film\r\n\nneg\tdull .\n")
    with pytest.raises(ValueError, match=r"^.*train.tsv:2: a blank line, but a label<TAB>text file holds one "
                                         r"record a line$"):
        read_tsv(f)


@pytest.mark.parametrize("content, message", [
    (b"pos\tgood\nneg dull\n", r"train.tsv:2: no tab between label and text"),
    (b"pos\tgood\nneg\t  \n", r"train.tsv:2: empty text"),
    (b"\tgood\n", r"train.tsv:1: empty label"),
    (b"pos\tgood\nneg\tcaf\xe9\n", r"train.tsv:2: byte 0xe9 is not utf-8"),
])
def test_tsv_errors_name_file_and_line(tmp_path, content, message):
    f = tmp_path / "train.tsv"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        read_tsv(f)
    assert "\n" not in str(err.value)


def test_class_files_latin1_split_on_newline_only(tmp_path):
    """rt-polarity style: Latin-1 bytes, a form feed and a NEL (0x85) inside sentences stay in them."""
    (tmp_path / "rt.pos").write_bytes(b"caf\xe9 is great\nsimply\x0c fine\tindeed\n")   # a tab is text here
    (tmp_path / "rt.neg").write_bytes(b"a bad\x85 film\n")
    examples = read_class_files([tmp_path / "rt.pos", tmp_path / "rt.neg"], encoding="latin-1")
    assert examples == [("pos", "café is great"), ("pos", "simply\x0c fine\tindeed"), ("neg", "a bad\x85 film")]
    with pytest.raises(ValueError, match=r"rt.pos:1: byte 0xe9 is not utf-8"):
        read_class_files([tmp_path / "rt.pos", tmp_path / "rt.neg"])


def test_class_files_errors(tmp_path):
    (tmp_path / "a.pos").write_text("good\n\nfine\n")
    (tmp_path / "b.neg").write_text("bad\n")
    with pytest.raises(ValueError, match=r"a.pos:2: a blank line, but a text file holds one record a line"):
        read_class_files([tmp_path / "a.pos", tmp_path / "b.neg"])
    with pytest.raises(ValueError, match="at least two files"):
        read_class_files([tmp_path / "b.neg"])
    assert class_of("data/pos.txt") == "pos" and class_of("rt-polarity.neg") == "neg"
    with pytest.raises(ValueError, match="encoding 'latin-9x' is not a codec"):
        read_lines(tmp_path / "b.neg", "latin-9x")


def test_conll_round_trip_and_multi_column(tmp_path):
    seqs = [(["The", "cat"], ["B-NP", "I-NP"]), (["sat"], ["B-VP"])]
    f = tmp_path / "t.conll"
    write_conll(f, seqs)
    assert f.read_text() == "The\tB-NP\ncat\tI-NP\n\nsat\tB-VP\n\n"
    assert read_conll(f) == seqs
    g = tmp_path / "multi.conll"
    g.write_text("\n\nEU\tNNP\tB-NP\tB-ORG\nrejects\tVBZ\tB-VP\tO\n  \n\n")
    assert read_conll(g) == [(["EU", "rejects"], ["B-ORG", "O"])]


def test_a_conll_line_with_more_columns_than_the_file_is_refused(tmp_path):
    """It used to take the last column as the tag without a word."""
    f = tmp_path / "t.conll"
    f.write_text("a\tB\nb\tI\n\nc\tx\tB\n")
    with pytest.raises(ValueError, match=r"^.*t.conll:4: 3 columns, but line 1 has 2 \(a tab inside a token\? the "
                                         r"tag is the last column\)$"):
        read_conll(f)


def test_class_files_sharing_a_class_are_said_once(tmp_path):
    for i in range(20):
        (tmp_path / f"review{i:02}.{'pos' if i % 2 else 'neg'}").write_text("fine\n")
    paths = sorted(tmp_path.iterdir())
    with pytest.raises(ValueError) as err:
        read_class_files(paths, flag="--data")
    assert str(err.value) == (f"--data {tmp_path}: 10 files name class 'neg' (review00.neg, review02.neg, "
                              "review04.neg, ...), but one-file-per-class data holds one file per class "
                              "(rt-polarity.pos, rt-polarity.neg), its class the last suffix, or the stem of a "
                              ".txt/.tsv file")


def test_stdin_lines_split_on_newline_only():
    class Stdin:
        buffer = io.BytesIO("one\rstill one\r\ntwo\x85 too\nthree".encode())
    assert list(stdin_lines(Stdin)) == ["one\rstill one", "two\x85 too", "three"]
    Stdin.buffer = io.BytesIO(b"ok\n\xff\xfe\x00\n")
    with pytest.raises(ValueError, match=r"^standard input:2: byte 0xff is not utf-8 \(a binary file\?"):
        list(stdin_lines(Stdin))


@pytest.mark.parametrize("reader", [read_tsv, read_conll, read_lines])
def test_a_folder_or_a_binary_file_is_one_message_naming_the_flag(tmp_path, reader):
    with pytest.raises(ValueError, match=f"^--data {tmp_path}: is a folder, not a text file$"):
        reader(tmp_path, flag="--data")
    (tmp_path / "b.dat").write_bytes(b"ab\n\x00\x01")
    with pytest.raises(ValueError, match=r"^--data .*b.dat:2: looks binary \(a NUL byte at byte offset 3\), not a "
                                         r"text file$"):
        reader(tmp_path / "b.dat", flag="--data")


def test_conll_block_with_a_missing_tag(tmp_path):
    f = tmp_path / "t.conll"
    f.write_text("a\tB\nb\tI\n\nc\tB\nd\ne\tI\n")
    with pytest.raises(ValueError, match=r"t.conll:5: no tab between token and tag \(expected token<TAB>tag\): 'd'"):
        read_conll(f)
    f.write_text("a\tB\nb\tI\n\nc\tB\nd\t \ne\tI\n")
    with pytest.raises(ValueError, match=r"t.conll:5: the block starting at line 4 has 2 tokens but 1 tags"):
        read_conll(f)
