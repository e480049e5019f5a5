"""Column files: ``label<TAB>text``, one file per class, CoNLL ``token<TAB>tag`` and ``source<TAB>target``.

One reader for all of them. A file is decoded by ``text.decode_text`` (``encoding`` is any Python codec name;
``rt-polarity.pos`` / ``.neg`` are Latin-1) and split into lines on ``"\\n"`` only (a ``"\\r"`` before it is
dropped), never on the other Unicode line breaks that ``str.splitlines`` knows: sentence polarity's files
hold a few ``"\\x0c"`` and ``"\\x85"`` inside sentences. Every malformed line is a one-line ``ValueError`` in
one format, ``[FLAG ]PATH:LINE: message``.

The rules, the same for every format:

- **Blank lines** (white space only) separate the sequences of a CoNLL file. In the one-record-a-line
  formats a blank line before the last record is an error (the record is missing, or the file is not of
  that format); blank lines at the end of a file are ignored.
- **Extra tabs.** A format whose last column is free text (``label<TAB>text``, one per class) gives it the
  rest of the line, tabs included. In the others every line has as many columns as the file's first record, so a stray
  tab inside a token is an error, not a shifted column; the columns after the format's own are ignored
  (Anki's attribution after ``source<TAB>target``), except that CoNLL's tag is the last column.

Formats::

    label<TAB>text  pos<TAB>a gripping , funny film .         one example a line
    one per class   rt-polarity.pos, rt-polarity.neg          one example a line; the class is the file's last
                                                              suffix ("pos"), or its stem for .txt/.tsv
    CoNLL           token<TAB>tag                             one token a line, a blank line between
                                                              sequences; more columns: the first is the token,
                                                              the last the tag (CoNLL-2003 style)
    pairs           source<TAB>target                         one pair a line (``data.pairs``)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

from unroll.data.text import read_text

NOT_CONLL = "blank lines between blocks are the layout of CoNLL token<TAB>tag files, which --task tag reads"


def lines_of(text: str) -> list[str]:
    """Lines split on "\\n" only, a "\\r" before it dropped; a final empty piece (the last newline) is dropped."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path, encoding: str = "utf-8", flag: str | None = None) -> list[str]:
    """The lines of a text file (see ``lines_of``); errors name ``flag`` (when given) and the file."""
    return lines_of(read_text(path, encoding, flag))


def stdin_lines(stream=None, encoding: str = "utf-8") -> Iterator[str]:
    """Standard input's lines, one at a time as they arrive, split on "\\n" only: a lone "\\r" stays inside
    its line (text-mode input would split there); a "\\r\\n" ends a line like "\\n"."""
    stream = sys.stdin if stream is None else stream
    raw = getattr(stream, "buffer", None)
    if raw is None:                                        # a text stream handed in (a test's StringIO)
        yield from (line[:-1] if line.endswith("\n") else line for line in stream)
        return
    for number, data in enumerate(iter(raw.readline, b""), 1):
        data = data[:-1] if data.endswith(b"\n") else data
        data = data[:-1] if data.endswith(b"\r") else data
        try:
            yield data.decode(encoding)
        except UnicodeDecodeError as err:
            raise ValueError(f"standard input:{number}: byte 0x{data[err.start]:02x} is not {encoding} (a binary "
                             "file? give text, or its encoding, e.g. --encoding latin-1)") from None


def records(lines, who: str, columns: tuple[str, ...], rest: bool = False,
            hint: str = "") -> list[tuple[int, list[str]]]:
    """(line number, fields) of each record of a one-record-a-line format (the rules in the module docstring).

    columns: the format's column names; rest: the last column takes the rest of the line, tabs included;
    hint: the likely cause said after a blank line's error."""
    last = len(lines)
    while last and not lines[last - 1].strip():
        last -= 1
    out, width = [], None
    for number, line in enumerate(lines[:last], 1):
        if not line.strip():
            raise ValueError(f"{who}:{number}: a blank line, but a {'<TAB>'.join(columns)} file holds one record "
                             f"a line{'; ' + hint if hint else ''}")
        fields = split_fields(line, who, number, columns, rest)
        width = width or (len(fields), number)
        if not rest and len(fields) != width[0]:
            raise ValueError(f"{who}:{number}: {len(fields)} columns, but line {width[1]} has {width[0]} "
                             f"(a tab inside a {columns[0]}?)")
        for name, field in zip(columns, fields):
            if not field.strip():
                raise ValueError(f"{who}:{number}: empty {name}")
        out.append((number, fields))
    if not out:
        raise ValueError(f"{who}: no {'<TAB>'.join(columns)} lines")
    return out


def split_fields(line: str, who: str, number: int, columns: tuple[str, ...], rest: bool = False) -> list[str]:
    """The tab-separated fields of one line; fewer than ``columns`` is an error naming the line."""
    fields = line.split("\t", len(columns) - 1) if rest else line.split("\t")
    if len(fields) < len(columns):
        expected = "<TAB>".join(columns)
        raise ValueError(f"{who}:{number}: no tab between {columns[0]} and {columns[1]} (expected {expected}): "
                         f"{line[:60]!r}")
    return fields


def read_tsv(path, encoding: str = "utf-8", flag: str | None = None) -> list[tuple[str, str]]:
    """``label<TAB>text`` lines -> [(label, text)]; the text may hold further tabs."""
    who = f"{flag} {path}" if flag else str(path)
    found = records(read_lines(path, encoding, flag), who, ("label", "text"), rest=True)
    return [(label.strip(), text) for _, (label, text) in found]


def class_of(path) -> str:
    """The class a one-per-class file holds: its last suffix, or its stem for .txt / .tsv files."""
    path = Path(path)
    if path.suffix and path.suffix.lower() not in (".txt", ".tsv"):
        return path.suffix[1:]
    return path.stem


def read_class_files(paths, encoding: str = "utf-8", flag: str | None = None) -> list[tuple[str, str]]:
    """One file per class, one example a line -> [(label, text)] in file order."""
    paths = [Path(p) for p in paths]
    labels = [class_of(p) for p in paths]
    if len(paths) < 2:
        raise ValueError(f"one-file-per-class data needs at least two files, got {len(paths)}")
    shared = sorted({label for label in labels if labels.count(label) > 1})
    if shared:
        named = [str(p.name) for p, label in zip(paths, labels) if label == shared[0]]
        raise ValueError(f"{flag + ' ' if flag else ''}{_common(paths)}: {len(named)} files name class "
                         f"{shared[0]!r} ({', '.join(named[:3])}{', ...' if len(named) > 3 else ''}), but one-file-"
                         "per-class data holds one file per class (rt-polarity.pos, rt-polarity.neg), its class "
                         "the last suffix, or the stem of a .txt/.tsv file")
    examples = []
    for path, label in zip(paths, labels):
        who = f"{flag} {path}" if flag else str(path)
        lines = read_lines(path, encoding, flag)
        examples += [(label, text) for _, (text,) in records(lines, who, ("text",), rest=True)]   # tabs are text
    return examples


def _common(paths) -> str:
    """The folder all of ``paths`` are in, or the comma-separated list."""
    parents = {p.parent for p in paths}
    return str(parents.pop()) if len(parents) == 1 else ",".join(map(str, paths))


def read_conll(path, encoding: str = "utf-8", flag: str | None = None) -> list[tuple[list[str], list[str]]]:
    """``token<TAB>tag`` lines, blank lines between sequences -> [(tokens, tags)]."""
    who = f"{flag} {path}" if flag else str(path)
    sequences, tokens, tags, start, width = [], [], [], None, None
    for number, line in enumerate(read_lines(path, encoding, flag) + [""], 1):
        if line.strip() == "":
            if tokens:
                sequences.append((tokens, tags))
            tokens, tags, start = [], [], None
            continue
        start = start or number
        fields = split_fields(line, who, number, ("token", "tag"))
        width = width or (len(fields), number)
        if len(fields) != width[0]:
            raise ValueError(f"{who}:{number}: {len(fields)} columns, but line {width[1]} has {width[0]} (a tab "
                             "inside a token? the tag is the last column)")
        if fields[-1].strip() == "" or fields[0] == "":
            raise ValueError(f"{who}:{number}: the block starting at line {start} has {len(tokens) + 1} tokens "
                             f"but {len(tags)} tags: each line must be token<TAB>tag")
        if any(c.isspace() for c in fields[-1].strip()):
            raise ValueError(f"{who}:{number}: the tag {fields[-1].strip()[:30]!r} holds a space: not a CoNLL "
                             "token<TAB>tag file (one token a line, blank lines between sequences); label<TAB>text "
                             "lines are --task classify's")
        tokens.append(fields[0])
        tags.append(fields[-1].strip())
    if not sequences:
        raise ValueError(f"{who}: no sequences")
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
