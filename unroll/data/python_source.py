"""A code corpus read at run time: the Python standard library's own ``.py`` files on this machine.

Karpathy, Johnson and Fei-Fei (2015) found cells that track quotes, indentation and brackets in a model of
the Linux source. ``python_source`` gives a comparable corpus without bundling one: every ``.py`` file under
``sysconfig.get_paths()["stdlib"]`` (``site-packages`` and ``__pycache__`` left out), in sorted path order,
each preceded by a ``# file: <relative path>`` line. Files that are not UTF-8 are skipped; ``ascii_only``
also skips files with any non-ASCII character (a small vocabulary of ~100 characters); ``max_chars`` stops
after the file that crosses that many characters.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


def stdlib_dir() -> Path:
    """The standard library folder of the running interpreter."""
    return Path(sysconfig.get_paths()["stdlib"])


def source_files(root: Path | None = None) -> list[Path]:
    """Every ``.py`` file under ``root`` (default: the standard library), sorted, third-party folders left out."""
    root = Path(root) if root is not None else stdlib_dir()
    if not root.is_dir():
        raise ValueError(f"Python source folder {root} does not exist")
    return sorted(p for p in root.rglob("*.py") if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts))


def python_source(root: Path | None = None, max_chars: int | None = None, ascii_only: bool = True) -> str:
    """Concatenate the ``.py`` files under ``root``; see the module docstring."""
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be a positive number of characters, got {max_chars}")
    root = Path(root) if root is not None else stdlib_dir()
    parts, total = [], 0
    for path in source_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip() or (ascii_only and not text.isascii()):
            continue
        piece = f"# file: {path.relative_to(root).as_posix()}\n{text}" + ("" if text.endswith("\n") else "\n")
        parts.append(piece)
        total += len(piece)
        if max_chars is not None and total >= max_chars:
            break
    if not parts:
        raise ValueError(f"no readable .py files under {root}")
    return "".join(parts)
