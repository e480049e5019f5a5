"""The benchmark harness's processes: each side alone in its own process (torch's loads no unroll or numba,
unroll's no torch), one thread count set in its environment before anything loads, the strategies as
environment settings, `unroll train`'s default model as a row. No timings are asserted."""

import numpy as np
import pytest

from unroll import bench
from unroll.bench import rounds


def test_child_environment_sets_every_thread_pool_and_the_strategy(monkeypatch):
    monkeypatch.setenv("UNROLL_SPLIT", "batch")
    env = rounds.child_env(2, "off")
    assert {k: env[k] for k in rounds.THREAD_ENV} == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
                                                        "MKL_NUM_THREADS": "2"}
    assert (env["UNROLL_KERNELS"], env["UNROLL_SPLIT"]) == ("numba", "off")
    auto = rounds.child_env(1, "auto")            # the default: what a user gets with nothing set
    assert "UNROLL_SPLIT" not in auto and "UNROLL_KERNELS" not in auto and auto["OMP_NUM_THREADS"] == "1"
    assert rounds.child_env(1)["UNROLL_SPLIT"] == "batch"   # torch's process: unroll's settings are not its business


def test_configs_include_unroll_trains_default_model():
    configs = bench.parse_configs(None)
    assert configs[-1] == rounds.Config("gru", 256, 32, 100, "default")      # the LM's defaults (a 2x256 GRU since wave 7)
    assert [(c.cell, c.hidden, c.N, c.T) for c in configs[:-1]] == [
        (c, h, 50, 50) for c in ("rnn", "gru", "lstm") for h in (128, 512)]
    assert bench.parse_configs("gru-64,default") == [rounds.Config("gru", 64), rounds.DEFAULT_CONFIG]
    assert bench.config_label({"cell": "lstm", "hidden": 256, "config": "default", "N": 32, "T": 100}) == \
        "lstm 2x256 (default: batch 32, sequence 100)"


@pytest.mark.parametrize("side", ["unroll", "torch"])
def test_each_side_runs_alone_in_its_process_at_the_thread_count_given(tmp_path, side):
    if side == "torch":
        pytest.importorskip("torch")
    path, V = rounds.save_batches(rounds.Config("lstm", 8, 4, 5), str(tmp_path), count=3)
    data = np.load(path)
    assert data["x"].shape == data["y"].shape == (3, 5, 4) and int(data["V"]) == V == 65
    spec = {"cell": "lstm", "hidden": 8, "layers": 2, "lr": 2e-3, "clip": 5.0, "threads": 1, "batches": path,
            "warmup_s": 0.0, "measure_s": 0.0}
    result = rounds._side((side, None if side == "torch" else "off"), spec, 1)
    assert result["foreign"] == [] and result["threads"] == 1 and result["steps"] == 2
    assert result["tokens_per_s"] == pytest.approx(2 * 5 * 4 / result["seconds"], rel=1e-12)
