"""auto's choice of thread strategy (split.calibrated; the file is unroll/nn/kernels/calibrate.py's):
measured once per (cell, H, batch, threads, CPU model), cached in a JSON file next to numba's cache, forced by
UNROLL_SPLIT. The tests pin the file's format, when a calibration runs, what forcing does, that auto takes
the candidate measured fastest (the timer replaced by a fake that makes each one win) and what a chosen
"own" holds; never which strategy is faster."""

from __future__ import annotations

import json
import os

import pytest

from unroll.nn import kernels
from unroll.nn.kernels import blas, calibrate, mkl, split
from tests.nn.split_helpers import assert_trains_alike, train_step

REAL_MAX_PARTS = split.max_parts
ENTRY = {"choice": "batch", "seconds": {"off": 0.04, "batch": 0.03}, "date": "2026-12-06"}
BLAS = " blas=" + ("mkl" if mkl.available() else "openblas")  # each key names the BLAS of its products (lever 15)


@pytest.fixture
def file(tmp_path, monkeypatch):
    mkl.available()                                             # the BLAS race read from the real file, not this one
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
    assert said == [f"calibrating unroll's thread strategy (off, batch, own, data) for lstm H=128, batch 50, 2 threads "
                    f"(first use only: cached in {file}) ..."]
    assert json.loads(file.read_text()) == {"format": 4, "machines": {calibrate.cpu_model(): {
        "lstm H=128 N=50 threads=2" + BLAS: ENTRY}}}
    calibrate.forget()                                          # a later process reads the file, measures nothing
    assert split.stack_strategy("lstm", 128, 50) == "batch" and measured == [("lstm", 128, 50)]
    assert split.parts(50, 128, "lstm") == [(0, 25), (25, 50)]  # the calibrated batch split


def test_entries_of_other_sizes_threads_and_cpus_are_kept(file, measured):
    file.write_text(json.dumps({"format": 4, "machines": {"Other CPU": {"gru H=64 N=32 threads=2" + BLAS: ENTRY},
                                                          calibrate.cpu_model(): {"rnn H=512 N=50 threads=2" + BLAS: ENTRY}}}))
    assert split.calibrated("gru", 64, 32) == "batch" and measured == [("gru", 64, 32)]
    machines = json.loads(file.read_text())["machines"]
    assert set(machines["Other CPU"]) == {"gru H=64 N=32 threads=2" + BLAS}
    assert set(machines[calibrate.cpu_model()]) == {"rnn H=512 N=50 threads=2" + BLAS, "gru H=64 N=32 threads=2" + BLAS}


STALE = json.dumps({"format": 1, "machines": {calibrate.cpu_model(): {"lstm H=256 N=32 threads=2": {
    "choice": "off", "seconds": {"off": 0.03, "batch": 0.04}, "rounds": 5, "date": "2026-12-06"}}}})


STALE_2 = json.dumps({"format": 2, "machines": {calibrate.cpu_model(): {"lstm H=256 N=32 threads=2": {
    "choice": "own", "seconds": {"off": 0.03, "batch": 0.04, "own": 0.02}, "rounds": 5, "date": "2026-12-07"}}}})


STALE_3 = json.dumps({"format": 3, "machines": {calibrate.cpu_model(): {"lstm H=256 N=32 threads=2" + BLAS: {
    "choice": "own", "seconds": {"off": 0.03, "batch": 0.04, "own": 0.02}, "rounds": 5, "date": "2026-12-07"}}}})


@pytest.mark.parametrize("content", ["not json", '{"format": 0, "machines": {}}', '{"format": 3, "machines": []}',
                                     STALE, STALE_2, STALE_3])
def test_a_file_of_another_format_is_measured_over(file, measured, content):
    """Format 1's entries chose between off and batch on the stack alone, format 2's were measured before MKL
    ran the one-thread products (lever 15), format 3's without "data" (lever 17): measured again, not read
    as choices."""
    file.write_text(content)
    assert calibrate.read(file) == {"format": calibrate.FORMAT, "machines": {}}
    assert split.calibrated("lstm", 256, 32) == "batch" and measured == [("lstm", 256, 32)]
    assert json.loads(file.read_text()) == {"format": 4, "machines": {calibrate.cpu_model(): {
        "lstm H=256 N=32 threads=2" + BLAS: ENTRY}}}


def test_forcing_a_strategy_skips_the_calibration(file, measured, monkeypatch):
    for forced in ("off", "batch", "own"):
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


def test_measure_tries_every_candidate_and_restores_the_strategy(file, monkeypatch):
    monkeypatch.setattr(split, "WARM_S", 0.0)
    split.use("batch")
    entry = split.measure("gru", 8, 16, rounds=3, budget_s=0.0)    # the budget spent: one timed round
    assert split._override == "batch"
    assert set(entry["seconds"]) == {"off", "batch", "own", "data"} and entry["choice"] in entry["seconds"]
    assert entry["rounds"] == 1
    assert entry["seconds"][entry["choice"]] == min(entry["seconds"].values())


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to have a choice")
def test_bench_calibrate_rewrites_the_entries_of_its_configs(file, capsys, monkeypatch):
    from unroll.cli import main
    monkeypatch.setattr(split, "max_parts", REAL_MAX_PARTS)     # numpy's BLAS threads, as --threads sets them
    monkeypatch.setattr(split, "WARM_S", 0.0)
    monkeypatch.setattr(mkl, "_state", dict(mkl._find()))        # the race's choice, undone after the test
    assert main(["bench", "--calibrate", "--configs", "gru-8", "--threads", "2,1"]) == 0
    entries = json.loads(file.read_text())["machines"][calibrate.cpu_model()]
    blas = " blas=" + ("mkl" if mkl.available() else "openblas")     # the race just run (a busy machine may
    entry = entries.pop("gru H=8 N=50 threads=2" + blas)               # choose otherwise than the import's)
    raced = entries.pop(calibrate.BLAS_KEY, None)               # the BLAS race, run again (lever 15)
    assert entries == {} and (raced is None) == (mkl._find()["found"] is None)
    err = capsys.readouterr().err
    assert f"gru-8 at 2 threads: {entry['choice']} (" in err and "gru-8 at 1 thread: nothing to choose (off)" in err
    assert raced is None or f"one-thread products: {raced['choice']} (MKL / OpenBLAS time " in err
    assert f"written: {file}" in err


def _timer_where(winner, seen):
    """A stand-in for split._time (one pass under a strategy): ``winner`` takes 1 ms, the others 2 ms."""
    def fake(layers, out, strategy, x, dy):
        seen.append(strategy)
        return 0.001 if strategy == winner else 0.002
    return fake


@pytest.mark.parametrize("winner", split.CANDIDATES)
def test_auto_takes_the_candidate_measured_fastest(file, monkeypatch, winner):
    seen = []
    monkeypatch.setattr(split, "_time", _timer_where(winner, seen))
    assert split.calibrated("gru", 64, 16) == winner
    assert seen == ["off", "batch", "own", "data"] * (1 + split.ROUNDS)  # a warm-up round, then alternating
    (entry,) = json.loads(file.read_text())["machines"][calibrate.cpu_model()].values()
    assert entry["choice"] == winner and entry["rounds"] == split.ROUNDS
    assert entry["seconds"] == {c: 0.001 if c == winner else 0.002 for c in ("off", "batch", "own", "data")}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to have a choice")
def test_a_chosen_own_holds_numpys_blas_at_one_thread_until_another_strategy_is(file, monkeypatch):
    from threadpoolctl import threadpool_limits
    monkeypatch.setattr(split, "max_parts", REAL_MAX_PARTS)
    with threadpool_limits(2, user_api="blas"):
        monkeypatch.setattr(split, "_time", _timer_where("own", []))
        assert split.parts(50, 128, "lstm") == [(0, 25), (25, 50)]     # auto, calibrated now: own
        assert split.stack_strategy("lstm", 128, 50) == "own"
        assert blas.threads() == 1 and blas.allowed() == 2 and split.max_parts() == 2
        assert split.blocks(2500, 512) == ("rows", [(0, 1250), (1250, 2500)]) and split._resolve() == "own"
        monkeypatch.setattr(split, "_time", _timer_where("off", []))
        assert split.parts(50, 256, "lstm") == [(0, 50)]                # another stack chose off: released
        assert blas.threads() == 2 and split._resolve() == "off"
        split.parts(50, 128, "lstm")                                    # the first stack's own, cached: held
        assert blas.threads() == 1
        monkeypatch.setenv("UNROLL_SPLIT", "off")                       # forced off: released at the next call
        assert split.parts(50, 128, "lstm") == [(0, 50)] and blas.threads() == 2
        monkeypatch.setenv("UNROLL_SPLIT", "auto")
        split.parts(50, 128, "lstm")
        assert blas.threads() == 1
        split.use("off")                                                # use() releases at once
        assert blas.threads() == 2
    entries = json.loads(file.read_text())["machines"][calibrate.cpu_model()]
    assert {k: e["choice"] for k, e in entries.items()} == {"lstm H=128 N=50 threads=2" + BLAS: "own",
                                                         "lstm H=256 N=50 threads=2" + BLAS: "off"}


@pytest.mark.parametrize("winner", split.CANDIDATES)
def test_training_under_auto_at_two_threads_equals_off(file, monkeypatch, winner):
    """A float64 language model's loss and gradients under auto (the calibration made to choose ``winner``)
    and under off, at two BLAS threads: 1e-12; "own" chosen by auto splits the step's products as forced."""
    from threadpoolctl import threadpool_limits
    for name, value in (("MIN_HIDDEN", 1), ("MIN_ROWS_PER_PART", 2), ("MIN_PRODUCT", 0)):
        monkeypatch.setattr(split, name, value)                         # the small model calibrated and split
    monkeypatch.setattr(split, "_time", _timer_where(winner, []))
    seen, real = [], split.blocks
    monkeypatch.setattr(split, "blocks", lambda M, P: seen.append((M, P)) or real(M, P))
    with threadpool_limits(2, user_api="blas"):
        dropout = 0.0 if winner == "data" else 0.2                     # data draws other masks (test_data_parallel)
        off = train_step("off", monkeypatch, dropout=dropout)
        assert seen == []
        auto = train_step(None, monkeypatch, dropout=dropout)
        assert split.calibrated("lstm", 5, 10) == winner
        assert split.stack_strategy("lstm", 5, 10) == (winner if winner != "data" else "off")   # all else tie
        split.use("off")
    assert_trains_alike(auto, off)
    assert len(seen) == (10 if winner == "own" else 0)      # forward: 2 products, loss_and_grads: 8 (all of them)


def test_a_candidate_is_timed_after_its_warm_passes_and_only_the_last_pass_counts(monkeypatch):
    """The mend of wave 11: the first ~0.1 s under "own" after another candidate pays for OpenBLAS's
    spinning worker, so _time runs untimed passes for at least WARM_S (and at least one), then times one."""
    clock, passes = [0.0], []

    def fake_pass(layers, out, x, dy):                       # each pass takes 0.1 s on the fake clock
        passes.append(clock[0])
        clock[0] += 0.1 if len(passes) < 3 else 0.25         # the timed (third) pass takes 0.25 s

    monkeypatch.setattr(split, "_pass", fake_pass)
    monkeypatch.setattr(split.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(split, "WARM_S", 0.15)
    try:
        assert split._time([], None, "off", None, None) == pytest.approx(0.25)
        assert passes == pytest.approx([0.0, 0.1, 0.2])      # two warm passes (0.2 s >= WARM_S), one timed
        passes.clear()
        monkeypatch.setattr(split, "WARM_S", 0.0)
        clock[0] = 0.0
        split._time([], None, "off", None, None)
        assert len(passes) == 2                               # at least one warm pass, even with WARM_S = 0
    finally:
        split.use(None)


def test_a_stack_too_small_to_calibrate_keeps_the_processs_hold(file, monkeypatch):
    """Sampling one row (or a batch under 2 parts' rows) between training steps runs "off" without
    releasing the hold that the training stack's "own" took, and without a calibration."""
    from threadpoolctl import threadpool_limits
    monkeypatch.setattr(split, "max_parts", REAL_MAX_PARTS)
    with threadpool_limits(2, user_api="blas"):
        monkeypatch.setattr(split, "_time", _timer_where("own", []))
        assert split.stack_strategy("lstm", 128, 50) == "own" and blas.threads() == 1
        assert split.stack_strategy("lstm", 128, 1) == "off"            # a sampled row: one part ...
        assert split.parts(1, 128, "lstm") == [(0, 1)]
        assert blas.threads() == 1 and split._resolve() == "own"        # ... and the hold kept
        assert split.stack_strategy("lstm", split.MIN_HIDDEN - 1, 50) == "off" and blas.threads() == 1
        split.use("off")
        assert blas.threads() == 2
    entries = json.loads(file.read_text())["machines"][calibrate.cpu_model()]
    assert list(entries) == ["lstm H=128 N=50 threads=2" + BLAS]               # the small stacks: not calibrated
