"""Readers for labelled text: a TSV of ``label<TAB>text``, one file per class, and CoNLL ``token<TAB>tag``.

Lines are split on ``"\\n"`` only (a ``"\\r"`` before it is dropped), never on the other Unicode line breaks
that ``str.splitlines`` knows: sentence polarity's files hold a few ``"\\x0c"`` and ``"\\x85"`` inside
sentences. ``encoding`` is any Python codec name; ``rt-polarity.pos`` / ``.neg`` are Latin-1.

Every malformed line is a one-line ``ValueError`` naming the file and line: a TSV line without a tab, an
empty label or text, bytes the encoding cannot decode, a CoNLL line whose token has no tag.

Formats::

    TSV            pos<TAB>a gripping , funny film .          one example a line; blank lines are skipped
    one per class  rt-polarity.pos, rt-polarity.neg           the class is the file's last suffix ("pos"),
                                                              or its stem for .txt/.tsv ("pos.txt" -> "pos")
    CoNLL          token<TAB>tag                              one token a line, a blank line between
                                                              sequences; more columns: first is the token,
                                                              last the tag (CoNLL-2003 style)
"""

from __future__ import annotations

import codecs
from pathlib import Path


def read_lines(path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file, split on "\\n" only; a final empty piece (the last newline) is dropped."""
    path = Path(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a codec Python knows (try utf-8 or latin-1)") from None
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8) and encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}:{line}: byte 0x{data[err.start]:02x} is not {encoding} (pass --encoding, "
                         "e.g. latin-1)") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_tsv(path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """``label<TAB>text`` lines -> [(label, text)]; the text may hold further tabs; blank lines are skipped."""
    examples = []
    for number, line in enumerate(read_lines(path, encoding), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{number}: no tab between label and text (expected label<TAB>text)")
        label, text = line.split("\t", 1)
        if not label.strip():
            raise ValueError(f"{path}:{number}: empty label")
        if not text.strip():
            raise ValueError(f"{path}:{number}: empty text")
        examples.append((label.strip(), text))
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def class_of(path) -> str:
    """The class a one-per-class file holds: its last suffix, or its stem for .txt / .tsv files."""
    path = Path(path)
    if path.suffix and path.suffix.lower() not in (".txt", ".tsv"):
        return path.suffix[1:]
    return path.stem


def read_class_files(paths, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """One file per class, one example a line -> [(label, text)] in file order; an empty line is an error."""
    paths = [Path(p) for p in paths]
    labels = [class_of(p) for p in paths]
    if len(paths) < 2:
        raise ValueError(f"one-file-per-class data needs at least two files, got {len(paths)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"two files name the same class: {', '.join(str(p) for p in paths)}")
    examples = []
    for path, label in zip(paths, labels):
        for number, line in enumerate(read_lines(path, encoding), 1):
            if not line.strip():
                raise ValueError(f"{path}:{number}: empty text")
            examples.append((label, line))
    return examples


def read_conll(path, encoding: str = "utf-8") -> list[tuple[list[str], list[str]]]:
    """``token<TAB>tag`` lines, blank lines between sequences -> [(tokens, tags)]."""
    sequences, tokens, tags, start = [], [], [], None
    for number, line in enumerate(read_lines(path, encoding) + [""], 1):
        if line.strip() == "":
            if tokens:
                sequences.append((tokens, tags))
            tokens, tags, start = [], [], None
            continue
        start = start or number
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: no tab between token and tag (expected token<TAB>tag): {line[:60]!r}")
        if fields[-1].strip() == "" or fields[0] == "":
            raise ValueError(f"{path}:{number}: the block starting at line {start} has {len(tokens) + 1} tokens "
                             f"but {len(tags)} tags: each line must be token<TAB>tag")
        tokens.append(fields[0])
        tags.append(fields[-1].strip())
    if not sequences:
        raise ValueError(f"{path}: no sequences")
    return sequences


def write_conll(path, sequences, encoding: str = "utf-8") -> None:
    """[(tokens, tags)] -> ``token<TAB>tag`` lines with a blank line after each sequence."""
    with open(path, "w", encoding=encoding, newline="\n") as f:
        for tokens, tags in sequences:
            if len(tokens) != len(tags):
                raise ValueError(f"a sequence has {len(tokens)} tokens but {len(tags)} tags")
            for token, tag in zip(tokens, tags):
                if "\t" in token or "\n" in token:
                    raise ValueError(f"token {token!r} holds a tab or newline: CoNLL cannot store it")
                f.write(f"{token}\t{tag}\n")
            f.write("\n")
