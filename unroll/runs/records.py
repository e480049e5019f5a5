"""metrics.jsonl, read whole (strictly) or from where the last read stopped (tolerantly): ``RunFolder.metrics``.

A whole read names the file and line of a damaged record. An incremental read (``since`` a cursor that the
previous read returned) reads only the bytes added since; a line without its newline (a training process
half-way through writing it) is left for the next read, a damaged line is skipped, and a file that was
replaced or is now shorter than the cursor (a NaN rollback truncated it) is read anew, which the result
says (``Records.fresh``) so that a reader that keeps records starts its list again. A symlink, FIFO
or device in its place is read as an empty log (never opened).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path


class Records(list):
    """The records read; ``cursor``: pass it as ``since`` to read what comes after; ``fresh``: read from the
    start (the caller's earlier records are stale)."""

    cursor: tuple = (None, 0)
    fresh: bool = True


def read_all(path: Path, run_dir: Path) -> Records:
    """Every record of metrics.jsonl, or a one-line ValueError naming the file (and line) that is damaged."""
    if not path.is_file():
        raise ValueError(f"run folder {run_dir} has no metrics log (metrics.jsonl is missing)")
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8: byte offset {err.start}") from None
    records = Records()
    for number, line in enumerate(text.split("\n"), start=1):     # "\n" only: \x85 stays inside
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {number} is not valid JSON: {err}") from None
            if not isinstance(records[-1], dict):
                raise ValueError(f"{path} line {number} is not a JSON object")
    records.cursor = (os.stat(path).st_ino, len(data))
    return records


def read_since(path: Path, since: tuple) -> Records:
    """The step records (a dict with a numeric "step") written after the cursor ``since`` (see the module doc)."""
    records = Records()
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):         # missing, or a link or FIFO: never opened
        records.cursor = (None, 0)
        return records
    key, offset = since if since else (None, 0)
    records.fresh = key != st.st_ino or st.st_size < offset
    if records.fresh:
        offset = 0
    data = b""
    if st.st_size > offset:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(st.st_size - offset)
    complete = data[:data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
            records.append(record)
    records.cursor = (st.st_ino, offset + len(complete))
    return records


def logged_step(line: str) -> float:
    """The step of a metrics line, or infinity for a line that does not parse (cut short by a crash)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
