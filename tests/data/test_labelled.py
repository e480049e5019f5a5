"""TSV, one-file-per-class and CoNLL readers: what they return, and one-line errors naming file and line."""

import pytest

from unroll.data.labelled import class_of, read_class_files, read_conll, read_lines, read_tsv, write_conll


def test_tsv_reads_label_and_text_and_skips_blank_lines(tmp_path):
    f = tmp_path / "train.tsv"
    f.write_bytes(b"pos\ta fine\tfilm\r\n\nneg\tdull .\n")
    assert read_tsv(f) == [("pos", "a fine\tfilm"), ("neg", "dull .")]


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
    (tmp_path / "rt.pos").write_bytes(b"caf\xe9 is great\nsimply\x0c fine\n")
    (tmp_path / "rt.neg").write_bytes(b"a bad\x85 film\n")
    examples = read_class_files([tmp_path / "rt.pos", tmp_path / "rt.neg"], encoding="latin-1")
    assert examples == [("pos", "café is great"), ("pos", "simply\x0c fine"), ("neg", "a bad\x85 film")]
    with pytest.raises(ValueError, match=r"rt.pos:1: byte 0xe9 is not utf-8"):
        read_class_files([tmp_path / "rt.pos", tmp_path / "rt.neg"])


def test_class_files_errors(tmp_path):
    (tmp_path / "a.pos").write_text("good\n\nfine\n")
    (tmp_path / "b.neg").write_text("bad\n")
    with pytest.raises(ValueError, match=r"a.pos:2: empty text"):
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


def test_conll_block_with_a_missing_tag(tmp_path):
    f = tmp_path / "t.conll"
    f.write_text("a\tB\nb\tI\n\nc\tB\nd\ne\tI\n")
    with pytest.raises(ValueError, match=r"t.conll:5: no tab between token and tag \(expected token<TAB>tag\): 'd'"):
        read_conll(f)
    f.write_text("a\tB\nb\tI\n\nc\tB\nd\t \ne\tI\n")
    with pytest.raises(ValueError, match=r"t.conll:5: the block starting at line 4 has 2 tokens but 1 tags"):
        read_conll(f)
