"""Execute every notebook of notebooks/ once per test session (issue 33).

Each notebook runs top to bottom in a fresh python3 kernel (ipykernel) with nbclient, in its own temporary
folder (the notebooks write only into their working directory), with MPLBACKEND=Agg so figures render
without a display. A cell that raises, or runs longer than CELL_TIMEOUT seconds, fails the notebook.
The executed copies are written next to it as ``<name>.ipynb``, where the tests read their outputs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT = 300          # seconds per cell: a generous bound on a loaded 2-core machine


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def execute(path: Path, folder: Path) -> tuple[Path, str | None]:
    """Run one notebook in ``folder``; return (the executed copy, the error text or None)."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    error = None
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(cwd=str(folder), env={**os.environ, "MPLBACKEND": "Agg"})
    except (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError,
            nbclient.exceptions.DeadKernelError) as exc:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))        # the traceback without its terminal colours
    out = folder / path.name
    nbformat.write(nb, out)
    return out, error


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory) -> dict[str, Path]:
    """{file name: path of the executed .ipynb}; failures are kept in ``executed_notebooks.errors``."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    results, errors = {}, {}
    before = _listing()
    for path in notebook_paths():
        folder = tmp_path_factory.mktemp(path.stem)
        results[path.name], error = execute(path, folder)
        if error is not None:
            errors[path.name] = error
    executed = ExecutedNotebooks(results)
    executed.errors = errors
    executed.written_in_repo = sorted(_listing() - before)
    return executed


def _listing() -> set[str]:
    """The entries of the repository's root and of notebooks/ (what a notebook writing outside its folder
    would change)."""
    return {str(p) for folder in (NOTEBOOKS.parent, NOTEBOOKS) for p in folder.iterdir()}


class ExecutedNotebooks(dict):
    """A dict {file name: executed path} with ``errors`` {file name: the failing cell's traceback} and
    ``written_in_repo``: entries that appeared in the repository's root or notebooks/ while they ran."""

    errors: dict[str, str]
    written_in_repo: list[str]
