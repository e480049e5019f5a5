"""Fixtures shared across test folders."""

import pytest

from unroll.cli import main


@pytest.fixture()
def tiny_lm_run(tmp_path, monkeypatch):
    """A finished 4-step language-model run folder, tmp_path/run (the working directory is tmp_path)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text("hello world, a tiny text to learn from. " * 30)
    argv = ["train", "--data", "c.txt", "--hidden", "8", "--layers", "1", "--seq-len", "5", "--batch", "2",
            "--max-steps", "4", "--eval-every", "2", "--quiet", "--out", "run"]
    assert main(argv) == 0
    return tmp_path / "run"
