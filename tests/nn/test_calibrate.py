"""auto's choice of time-loop strategy (split.calibrated; the file is unroll/nn/kernels/calibrate.py's):
measured once per (cell, H, batch, threads, CPU model), cached in a JSON file next to numba's cache, forced by
UNROLL_SPLIT. The tests pin the
file's format, when a calibration runs and what forcing does; never which strategy is faster."""

from __future__ import annotations

import json
import os

import pytest

from unroll.nn import kernels
from unroll.nn.kernels import calibrate, split

REAL_MAX_PARTS = split.max_parts
ENTRY = {"choice": "batch", "seconds": {"off": 0.04, "batch": 0.03}, "date": "2026-12-06"}


@pytest.fixture
def file(tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    monkeypatch.setenv("UNROLL_CALIBRATION", str(path))
    monkeypatch.delenv("UNROLL_SPLIT", raising=False)
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    calibrate.forget()
    yield path
    calibrate.forget()
    split.use(None)


@pytest.fixture
def measured(monkeypatch):
    calls = []

    def fake(cell, H, N, rounds=split.ROUNDS, budget_s=split.BUDGET_S):
        calls.append((cell, H, N))
        return dict(ENTRY)
    monkeypatch.setattr(split, "measure", fake)
    return calls


def test_first_use_measures_once_and_caches_the_choice_in_the_file(file, measured):
    said = []
    kernels.on_compile(said.append)
    try:
        assert split.calibrated("lstm", 128, 50) == "batch"
        assert split.calibrated("lstm", 128, 50) == "batch"
    finally:
        kernels.on_compile(None)
    assert measured == [("lstm", 128, 50)]
    assert said == [f"calibrating unroll's time loop for lstm H=128, batch 50, 2 threads (first use only: cached in "
                    f"{file}) ..."]
    assert json.loads(file.read_text()) == {"format": 1, "machines": {calibrate.cpu_model(): {
        "lstm H=128 N=50 threads=2": ENTRY}}}
    calibrate.forget()                                          # a later process reads the file, measures nothing
    assert split.stack_strategy("lstm", 128, 50) == "batch" and measured == [("lstm", 128, 50)]
    assert split.parts(50, 128, "lstm") == [(0, 25), (25, 50)]  # the calibrated batch split


def test_entries_of_other_sizes_threads_and_cpus_are_kept(file, measured):
    file.write_text(json.dumps({"format": 1, "machines": {"Other CPU": {"gru H=64 N=32 threads=2": ENTRY},
                                                          calibrate.cpu_model(): {"rnn H=512 N=50 threads=2": ENTRY}}}))
    assert split.calibrated("gru", 64, 32) == "batch" and measured == [("gru", 64, 32)]
    machines = json.loads(file.read_text())["machines"]
    assert set(machines["Other CPU"]) == {"gru H=64 N=32 threads=2"}
    assert set(machines[calibrate.cpu_model()]) == {"rnn H=512 N=50 threads=2", "gru H=64 N=32 threads=2"}


@pytest.mark.parametrize("content", ["not json", '{"format": 0, "machines": {}}', '{"format": 1, "machines": []}'])
def test_a_file_of_another_format_is_measured_over(file, measured, content):
    file.write_text(content)
    assert calibrate.read(file) == {"format": 1, "machines": {}}
    assert split.calibrated("lstm", 256, 32) == "batch" and measured == [("lstm", 256, 32)]
    assert json.loads(file.read_text())["format"] == 1


def test_forcing_a_strategy_skips_the_calibration(file, measured, monkeypatch):
    for forced in ("off", "batch"):
        monkeypatch.setenv("UNROLL_SPLIT", forced)
        assert split.stack_strategy("lstm", 128, 50) == forced
    split.use("off")
    monkeypatch.setenv("UNROLL_SPLIT", "batch")
    assert split.stack_strategy("lstm", 128, 50) == "off"       # use() over the environment
    assert measured == [] and not file.exists()


def test_small_layers_small_batches_and_one_thread_run_off_unmeasured(file, measured, monkeypatch):
    assert split.calibrated("lstm", split.MIN_HIDDEN - 1, 50) == "off"
    assert split.calibrated("lstm", 128, 2 * split.MIN_ROWS_PER_PART - 1) == "off"
    monkeypatch.setattr(split, "max_parts", lambda: 1)
    assert split.calibrated("lstm", 128, 50) == "off"
    assert measured == [] and not file.exists()


def test_measure_tries_every_candidate_and_restores_the_strategy(file):
    split.use("batch")
    entry = split.measure("gru", 8, 16, rounds=3, budget_s=0.0)    # the budget spent: one timed round
    assert split._override == "batch"
    assert set(entry["seconds"]) == {"off", "batch"} and entry["choice"] in entry["seconds"]
    assert entry["rounds"] == 1
    assert entry["seconds"][entry["choice"]] == min(entry["seconds"].values())


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to have a choice")
def test_bench_calibrate_rewrites_the_entries_of_its_configs(file, capsys, monkeypatch):
    from unroll.cli import main
    monkeypatch.setattr(split, "max_parts", REAL_MAX_PARTS)     # numpy's BLAS threads, as --threads sets them
    assert main(["bench", "--calibrate", "--configs", "gru-8", "--threads", "2,1"]) == 0
    (entry,) = json.loads(file.read_text())["machines"][calibrate.cpu_model()].values()
    assert list(json.loads(file.read_text())["machines"][calibrate.cpu_model()]) == ["gru H=8 N=50 threads=2"]
    err = capsys.readouterr().err
    assert f"gru-8 at 2 threads: {entry['choice']} (" in err and "gru-8 at 1 thread: nothing to choose (off)" in err
    assert f"written: {file}" in err
