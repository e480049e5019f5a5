"""The lecture notes' notebooks (notebooks/*.ipynb, issue 33): committed without outputs, and each one runs
top to bottom without error. The notebooks assert their own numbers; these tests also read a few key
outputs back from the executed copies."""

from __future__ import annotations

import json

import pytest

from tests.notebooks.conftest import notebook_paths

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


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(executed_notebooks, name):
    assert name in executed_notebooks, f"notebooks/{name} is missing"
    assert name not in executed_notebooks.errors, executed_notebooks.errors[name][-3000:]


def test_hello_prints_the_trained_sample(executed_notebooks):
    lines = text_outputs(executed_notebooks["wirings-and-hello.ipynb"]).splitlines()
    assert "sample: hello" in lines
