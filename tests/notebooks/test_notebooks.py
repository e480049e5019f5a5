"""The lecture notes' notebooks (notebooks/*.ipynb, issue 33): committed without outputs, and each one runs
top to bottom without error. The notebooks assert their own numbers; these tests also read a few key
outputs back from the executed copies."""

from __future__ import annotations

import json

import pytest

from tests.notebooks.conftest import execute, notebook_paths

NAMES = ("wirings-and-hello.ipynb", "computational-graphs.ipynb", "backprop-through-time.ipynb",
         "vanishing-and-exploding.ipynb", "encoder-decoder.ipynb")


def text_outputs(path) -> str:
    """All stream and text/plain outputs of an executed notebook, joined by newlines."""
    parts = []
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                parts.append("".join(out["text"]))
            elif "data" in out and "text/plain" in out["data"]:
                parts.append("".join(out["data"]["text/plain"]))
    return "\n".join(parts)


def image_count(path) -> int:
    return sum("image/png" in out.get("data", {})
               for cell in json.loads(path.read_text())["cells"] for out in cell.get("outputs", []))


def test_every_notebook_is_present():
    assert sorted(NAMES) == sorted(p.name for p in notebook_paths())


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; strip them before committing"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_opens_with_a_title(path):
    first = json.loads(path.read_text())["cells"][0]
    assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# "), path.name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(executed_notebooks, name):
    assert name in executed_notebooks, f"notebooks/{name} is missing"
    assert name not in executed_notebooks.errors, executed_notebooks.errors[name][-3000:]


def test_hello_prints_the_trained_sample(executed_notebooks):
    lines = text_outputs(executed_notebooks["wirings-and-hello.ipynb"]).splitlines()
    assert "sample: hello" in lines


def test_backprop_notebook_reports_the_gradient_checks(executed_notebooks):
    text = text_outputs(executed_notebooks["backprop-through-time.ipynb"])
    assert "W = 3.0:  dh_3/dh_0 = 27 " in text
    assert "(threshold 1e-7): PASS" in text
    assert "k1 = 4, k2 = 8: largest difference from full BPTT" in text


def test_notebooks_keep_their_figures(executed_notebooks):
    figures = {name: image_count(path) for name, path in executed_notebooks.items()}
    assert figures["vanishing-and-exploding.ipynb"] >= 4     # norms, derivatives, sigmoids, the forecast
    assert figures["computational-graphs.ipynb"] >= 3
    assert figures["wirings-and-hello.ipynb"] >= 1


def test_notebooks_write_only_into_their_working_folder(executed_notebooks):
    """They ran in temporary folders; nothing appeared in the repository's root or in notebooks/ meanwhile."""
    assert executed_notebooks.written_in_repo == []


def test_a_failing_assertion_fails_the_notebook(tmp_path):
    """The harness itself: a notebook whose assertion fails comes back with that cell's traceback."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    cells = [nbformat.v4.new_code_cell("loss = 0.3"), nbformat.v4.new_code_cell('assert loss < 0.1, f"loss {loss}"'),
             nbformat.v4.new_code_cell("print('never reached')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "broken.ipynb")
    (tmp_path / "run").mkdir()
    executed, error = execute(tmp_path / "broken.ipynb", tmp_path / "run")
    assert error is not None and "AssertionError: loss 0.3" in error
    assert "never reached" not in text_outputs(executed)
