"""kernels/memory.py: UNROLL_MALLOC is read and checked, and glibc's thresholds are set once per process."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from unroll.nn.kernels import memory


def test_choice_reads_the_environment(monkeypatch):
    monkeypatch.delenv("UNROLL_MALLOC", raising=False)
    assert memory.choice() == "keep"
    monkeypatch.setenv("UNROLL_MALLOC", " System ")
    assert memory.choice() == "system"


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("UNROLL_MALLOC", "huge")
    with pytest.raises(ValueError, match=r"^UNROLL_MALLOC must be one of keep, system, got 'huge'$"):
        memory.choice()


def _in_fresh_process(env_value):
    code = ("import numpy as np\nfrom unroll.nn import kernels\nfrom unroll.nn.kernels import memory\n"
            "kernels.load('optim')\nprint(memory.keep_freed())")
    env = {**os.environ, "UNROLL_MALLOC": env_value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux") or "musl" in (ctypes.util.find_library("c") or ""),
                    reason="glibc's mallopt")
def test_loading_a_kernel_keeps_freed_memory_on_glibc():
    assert _in_fresh_process("keep").strip() == "kept"


def test_system_leaves_malloc_alone():
    assert _in_fresh_process("system").strip() == "system"
