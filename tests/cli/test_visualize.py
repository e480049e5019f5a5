"""unroll visualize / inspect --gates / data python-source end to end, and the one-line errors users meet."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.data import python_source as PS

TEXT = 'def f(x, y):\n    """Add."""\n    return (x + y) * 2\n\n\nprint(f(1, [2][0]), \'ok\')\n' * 20


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("viz")
    corpus = folder / "code.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = folder / "run"
    assert main(["train", "--data", str(corpus), "--cell", "lstm", "--hidden", "8", "--layers", "2", "--seq-len", "16",
                 "--batch", "4", "--max-steps", "4", "--eval-every", "4", "--quiet", "--out", str(out)]) == 0
    return out


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_visualize_find_prints_the_table_and_writes_the_page(run, tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text(TEXT[:300] + "\u20ac\n", encoding="utf-8")
    page = tmp_path / "page.html"
    capsys.readouterr()
    assert main(["visualize", str(run), "--text", str(text), "--find", "--feature-regex", "def|return",
                 "--unit", "1:7", "--out", str(page)]) == 0
    out, err = capsys.readouterr()
    table = out.splitlines()
    assert table[0].split() == ["feature", "state", "layer", "unit", "r"]
    features = {line.split()[0] for line in table[1:]}
    assert features == {"line_position", "inside_quotes", "bracket_depth", "indentation", "word_start", "regex",
                        "inside_short_string", "inside_triple_quotes"}
    assert all(-1 <= float(line.split()[-1]) <= 1 for line in table[1:])
    assert "302 characters, 1 outside the vocabulary (marked)" in err and "layer 1 unit 7 (tanh(c))" in err
    data = json.loads(re.search(r'id="data">(.*?)</script>', page.read_text(encoding="utf-8"), re.S).group(1))
    assert data["unit"] == {"kind": "c", "layer": 1, "unit": 7} and len(data["find"]) == 3 * 8


def test_visualize_from_a_prime_and_by_default_from_the_validation_text(run, tmp_path, capsys):
    assert main(["visualize", str(run), "--prime", "def f(", "--chars", "120", "--state", "h",
                 "--out", str(tmp_path / "a.html")]) == 0
    assert "120 characters" in capsys.readouterr().err
    assert main(["visualize", str(run), "--out", str(tmp_path / "b.html")]) == 0
    assert f"{len(TEXT) - int(len(TEXT) * 0.9)} characters" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--unit", "2:0"], "--unit 2:0: layer 2 is out of range (the model has layers 0..1)"),
    (["--unit", "0:8"], "--unit 0:8: unit 8 is out of range (each layer has units 0..7)"),
    (["--unit", "x"], "--unit must be LAYER:UNIT such as 1:17, got 'x'"),
    (["--prime", ""], "--prime is empty"),
    (["--prime", "\u20ac"], "--prime has characters outside the model's vocabulary"),
    (["--feature-regex", "("], "is not a regular expression"),
])
def test_visualize_bad_input_is_one_line(run, tmp_path, capsys, args, message):
    capsys.readouterr()
    assert main(["visualize", str(run), *args, "--out", str(tmp_path / "p.html")]) == 2
    line = error_line(capsys)
    assert line.startswith("unroll: error: ") and message in line


def test_empty_text_and_text_without_known_characters(run, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    capsys.readouterr()
    assert main(["visualize", str(run), "--text", str(empty), "--out", str(tmp_path / "p.html")]) == 2
    assert "is empty" in error_line(capsys)
    alien = tmp_path / "alien.txt"
    alien.write_text("\u20ac\u20ac", encoding="utf-8")
    assert main(["visualize", str(run), "--text", str(alien), "--out", str(tmp_path / "p.html")]) == 2
    assert "no character in the model's vocabulary" in error_line(capsys)


def test_a_run_folder_of_another_task_or_none_at_all(tmp_path, capsys):
    other = tmp_path / "adding"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"format": 3, "task": "longterm", "train": {}}))
    capsys.readouterr()
    assert main(["visualize", str(other), "--out", str(tmp_path / "p.html")]) == 2
    assert "is a run of task 'longterm'; visualize and inspect need a character-level language model" in error_line(capsys)
    assert main(["inspect", str(tmp_path / "nothing"), "--gates"]) == 2
    assert "does not exist" in error_line(capsys)


def test_inspect_gates_writes_json_and_png(run, tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text(TEXT, encoding="utf-8")
    capsys.readouterr()
    assert main(["inspect", str(run), "--gates", "--text", str(text), "--chars", "500", "--out", str(tmp_path)]) == 0
    sat = json.loads((tmp_path / "gates.json").read_text())
    assert sat["cell"] == "lstm" and sat["steps"] == 500 and len(sat["layers"]) == 2
    assert set(sat["layers"][1]) == {"i", "f", "o"} and len(sat["layers"][1]["f"]["left"]) == 8
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 6 and rows[1].split()[:2] == ["0", "f"]
    assert float(rows[1].split()[3]) == pytest.approx(np.mean(sat["layers"][0]["f"]["right"]), abs=5e-4)
    assert (tmp_path / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["inspect", str(run)]) == 2
    assert "--gates" in error_line(capsys)


def test_python_source_concatenates_sorted_py_files_and_skips_the_rest(tmp_path):
    root = tmp_path / "lib"
    (tmp_path / "empty").mkdir()
    (root / "pkg").mkdir(parents=True)
    (root / "site-packages").mkdir()
    (root / "__pycache__").mkdir()
    (root / "b.py").write_text("b = 2\n")
    (root / "a.py").write_text("a = 1")                         # no final newline: one is added
    (root / "pkg" / "c.py").write_text("c = 3\n")
    (root / "pkg" / "u.py").write_text("s = '\u00e9'\n", encoding="utf-8")
    (root / "pkg" / "l1.py").write_bytes(b"s = '\xe9'\n")        # Latin-1: not UTF-8, skipped
    (root / "site-packages" / "x.py").write_text("x = 0\n")
    (root / "__pycache__" / "y.py").write_text("y = 0\n")
    (root / "notes.txt").write_text("not python\n")
    assert PS.python_source(root) == "# file: a.py\na = 1\n# file: b.py\nb = 2\n# file: pkg/c.py\nc = 3\n"
    assert "# file: pkg/u.py\ns = '\u00e9'\n" in PS.python_source(root, ascii_only=False)
    assert PS.python_source(root, max_chars=5) == "# file: a.py\na = 1\n"
    with pytest.raises(ValueError, match="no readable .py files"):
        PS.python_source(tmp_path / "empty")


def test_data_python_source_reads_this_machines_standard_library(tmp_path, capsys):
    out = tmp_path / "py.txt"
    assert main(["data", "python-source", "--out", str(out), "--max-chars", "20000"]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# file: ") and len(text) >= 20000 and text.isascii()
    first = text.splitlines()[0][len("# file: "):]
    assert (PS.stdlib_dir() / first).read_text(encoding="utf-8") in text
