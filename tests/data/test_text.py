"""Reading corpora: errors that name the file and place; the 90/10 split; the bundled tiny-shakespeare."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from unroll.data import text



def test_reads_utf8_exactly(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("naïve café 中文字符\r\nline two\n".encode("utf-8"))
    assert text.read_text(path) == "naïve café 中文字符\r\nline two\n"      # no newline translation
    path.write_bytes(b"\xef\xbb\xbfhi\n")
    assert text.read_text(str(path)) == "hi\n"                                 # BOM dropped


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(ValueError, match=r"nope.txt: no such file"):
        text.read_text(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.txt: is empty"):
        text.read_text(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match=r": is a folder, not a text file"):
        text.read_text(tmp_path)


def test_binary_file_is_named_binary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"abc\ndef\x00\x01\x02")
    with pytest.raises(ValueError, match=r"model.bin:2: looks binary \(a NUL byte at byte offset 7\), not a text file"):
        text.read_text(path)


def test_non_utf8_names_line_and_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first\nsecond\nthird café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt:3: byte 0xe9 is not utf-8 \(byte offset 22; give its encoding"):
        text.read_text(path)


def test_latin1_file_like_rt_polarity_names_its_line(tmp_path):
    # rt-polarity is Latin-1: build such a file, with the first non-ASCII byte on a line chosen here
    lines = [f"snippet number {i} , plain ascii .\n" for i in range(40)]
    lines[31] = "a touching , affecting drama about a naïve man .\n"
    data = "".join(lines).encode("latin-1")
    path = tmp_path / "rt-polarity.neg"
    path.write_bytes(data)
    offset = data.index(b"\xef")
    assert data[:offset].count(b"\n") + 1 == 32
    with pytest.raises(ValueError) as err:
        text.read_text(path)
    message = str(err.value)
    assert f"rt-polarity.neg:32: byte 0xef is not utf-8 (byte offset {offset};" in message
    assert "\n" not in message


def test_split_first_ninety_last_ten_percent():
    train, valid = text.split("abcdefghij")
    assert (train, valid) == ("abcdefghi", "j")
    ids = np.arange(1000)
    tr, va = text.split(ids, valid_fraction=0.25)
    np.testing.assert_array_equal(np.concatenate([tr, va]), ids)
    assert len(tr) == 750 and tr[-1] == 749 and va[0] == 750
    assert text.split([1, 2, 3], valid_fraction=0.0) == ([1, 2, 3], [])
    with pytest.raises(ValueError, match="valid_fraction must lie in"):
        text.split("abc", valid_fraction=1.0)
    with pytest.raises(ValueError, match="cannot split a sequence of length 1"):
        text.split("a", valid_fraction=0.1)


def test_bundled_tinyshakespeare_is_byte_identical_and_splits_like_nanogpt():
    path = text.bundled_corpus_path()
    data = path.read_bytes()
    assert len(data) == 1_115_394
    assert hashlib.sha256(data).hexdigest() == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    corpus = text.load_bundled("tinyshakespeare")
    assert len(corpus) == 1_115_394 and len(set(corpus)) == 65 and corpus.startswith("First Citizen:\n")
    train, valid = text.split(corpus)
    assert (len(train), len(valid)) == (1_003_854, 111_540)
    with pytest.raises(ValueError, match="no bundled corpus named 'war-and-peace' .bundled: tinyshakespeare."):
        text.load_bundled("war-and-peace")


@pytest.mark.parametrize("reader", ["read_text", "read_lines", "read_tsv", "read_conll", "read_pairs", "read_series",
                                    "read_vectors .csv", "read_vectors .ts"])
def test_every_reader_gives_the_one_message_for_a_folder_and_a_binary_file(tmp_path, reader):
    """One decoder (text.decode_text) under every text reader of the data layer: it used to be three
    decoders and, for the vector files, a codec error that named no file."""
    from unroll.data import columns, pairs, series, vector_formats
    name, _, suffix = reader.partition(" ")
    read = {"read_text": text.read_text, "read_lines": columns.read_lines, "read_tsv": columns.read_tsv,
            "read_conll": columns.read_conll, "read_pairs": pairs.read_pairs, "read_series": series.read_series,
            "read_vectors": vector_formats.read_vectors}[name]
    (tmp_path / f"d{suffix}").mkdir()
    with pytest.raises(ValueError, match=f"^{tmp_path / f'd{suffix}'}: is a folder, not a text file$"):
        read(tmp_path / f"d{suffix}")
    path = tmp_path / f"b{suffix or '.csv'}"
    path.write_bytes(b"id,x\n1,\x89\x00\x01")
    with pytest.raises(ValueError, match=rf"^{path}:2: looks binary \(a NUL byte at byte offset 8\), not a text file$"):
        read(path)
