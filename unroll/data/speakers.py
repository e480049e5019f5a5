"""Speeches of a play by their speaker: a labelled data set for ``unroll train --task classify`` made from
the bundled tiny Shakespeare (or any text in its layout), so a fresh clone can train a classifier.

The layout: speeches separated by a blank line, each opening with the speaker's name and a colon alone on
its line (``ROMEO:``), then the speech's lines. ``speeches(text)`` gives (speaker, speech) in order, the
speech's lines joined by one space; blocks without such a first line (stage text) are skipped.
``cmd_data_speakers`` (``unroll data speakers``) writes ``speaker<TAB>speech`` lines, the TSV that
``--task classify`` reads.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def speeches(text: str) -> list[tuple[str, str]]:
    """(speaker, speech) for each block that opens with ``NAME:`` on its own line."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        first, _, rest = block.strip("\n").partition("\n")
        if first.endswith(":") and first[:-1].strip() and rest.strip() and "\t" not in first:
            found.append((first[:-1].strip(), " ".join(line.strip() for line in rest.splitlines() if line.strip())))
    return found


def choose_speakers(found: list[tuple[str, str]], names: list[str] | None, top: int) -> list[str]:
    """The named speakers (each must speak), or the ``top`` speakers with the most speeches."""
    counts = Counter(speaker for speaker, _ in found)
    if names:
        missing = [n for n in names if n not in counts]
        if missing:
            raise ValueError(f"--speakers: {', '.join(missing)} never speaks in this text "
                             f"(most speeches: {', '.join(n for n, _ in counts.most_common(5))})")
        return names
    if top < 2:
        raise ValueError(f"--top must be at least 2 (a classifier needs two classes), got {top}")
    return [n for n, _ in counts.most_common(top)]


def arguments(s) -> None:
    s.add_argument("--text", type=Path, default=None, help="a play in tiny Shakespeare's layout "
                                                           "(default: the bundled tiny Shakespeare)")
    s.add_argument("--speakers", default=None, help="comma-separated speaker names (default: the --top ones)")
    s.add_argument("--top", type=int, default=2, help="without --speakers: the speakers with the most speeches")
    s.add_argument("--out", type=Path, help="the TSV to write (default: standard output)")


def cmd_data_speakers(args) -> int:
    from unroll.data.text import load_bundled, read_text
    text = load_bundled() if args.text is None else read_text(args.text)
    found = speeches(text)
    names = choose_speakers(found, args.speakers.split(",") if args.speakers else None, args.top)
    rows = [f"{speaker}\t{speech}\n" for speaker, speech in found if speaker in names]
    if args.out is None:
        sys.stdout.write("".join(rows))
    else:
        args.out.write_text("".join(rows), encoding="utf-8")
    print(f"{len(rows)} speeches of {', '.join(names)}", file=sys.stderr)
    return 0
