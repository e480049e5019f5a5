"""What a new user sees while numba compiles: one line when a kernel compiles (a cold cache), none when the
kernels load from numba's cache; and the tokens/s figure leaves the process's first (compiling) step out."""

import sys
import textwrap

import pytest

from unroll.nn import kernels
from unroll.train import trainer as trainer_module


def test_the_compile_message_is_said_once_when_a_kernel_compiles_and_not_on_a_cache_load(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    (tmp_path / "cold_kernel_probe.py").write_text(textwrap.dedent("""
        from numba import njit

        @njit(cache=True)
        def twice(x):
            return 2 * x

        @njit(cache=True)
        def thrice(x):
            return 3 * x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    said = []
    kernels.on_compile(said.append)
    try:
        kernels.load("embed")                         # starts listening to numba's compile events
        import cold_kernel_probe as probe
        assert probe.twice(21) == 42 and probe.thrice(2) == 6     # two compiles (a cold cache), one message
        assert said == [kernels.COMPILE_MESSAGE]
        assert said[0] == ("compiling unroll's numba kernels for this model (first use only: later runs load "
                           "them from the cache) ...")
        sys.modules.pop("cold_kernel_probe")
        said.clear()
        kernels.on_compile(said.append)
        import cold_kernel_probe as again             # a new dispatcher: loads from the cache the first wrote
        assert again.twice(4) == 8
        assert said == []
    finally:
        kernels.on_compile(None)
        sys.modules.pop("cold_kernel_probe", None)


def test_tokens_per_second_leave_the_start_up_step_out(monkeypatch):
    clock = iter([100.0, 130.0, 131.0])               # opened, first step done (30 s compile), 1 s for two steps
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: next(clock))
    window = trainer_module._Window()
    window.add(2.0, 1.0, 1000)
    window.restart_clock()
    window.add(2.0, 1.0, 1000)
    window.add(2.0, 1.0, 1000)
    assert window.rate() == 2000.0 and window.tokens == 3000 and window.steps == 3


def test_a_window_of_the_start_up_step_alone_counts_its_whole_time(monkeypatch):
    clock = iter([100.0, 130.0, 130.5])
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: next(clock))
    window = trainer_module._Window()
    window.add(2.0, 1.0, 1000)
    window.restart_clock()
    assert window.rate() == pytest.approx(1000 / 30.5, rel=1e-12)


def test_a_finished_run_stops_listening_for_compiles(tmp_path, capsys):
    """The notice belongs to the run that trains: once it ends, a later compile (another model in the same
    process, a test after it) must not write to its stream (which may be closed by then)."""
    from unroll.cli import main
    (tmp_path / "t.txt").write_text("abcd " * 60)
    assert main(["train", "--data", str(tmp_path / "t.txt"), "--hidden", "8", "--layers", "1", "--seq-len", "8",
                 "--batch", "2", "--max-steps", "2", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    kernels.notify("a notice after the run")
    assert "a notice after the run" not in capsys.readouterr().err
