"""`unroll bench` on a tiny configuration (the table's fields against the JSON and the FLOP count worked out
by hand) and `unroll diagnose` run for real through cli.main on experiment run folders (its spectral norms
and the seeds' bound against numpy.linalg on the saved weights)."""

import json
import math
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main


def test_bench_on_a_tiny_configuration(tmp_path, capsys):
    """unroll's side only (torch's import and its sampling loop would cost most of a minute on a busy
    machine; the torch columns are checked on a hand-made result below), with the memory subprocess, two
    strategies, each side and round in a process of its own."""
    doc = tmp_path / "performance.md"
    doc.write_text("before\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    assert main(["bench", "--configs", "rnn-16,lstm-8", "--quick", "--no-torch", "--json", str(out),
                 "--update-doc", str(doc), "--threads", "1", "--strategies", "off,batch", "--rounds", "2"]) == 0
    printed = capsys.readouterr().out.strip()
    results = json.loads(out.read_text())
    assert results["setting"] == {"layers": 2, "lr": 2e-3, "clip": 5.0, "quick": True, "torch": False,
                                  "threads": [1], "strategies": ["off", "batch"], "rounds": 2, "warmup_s": 0.2,
                                  "measure_s": 0.3}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", results["date"]) and results["machine"]["cpu"]
    assert set(results["matmul_gflops"]) == {"1"}
    # Matrix-product FLOPs per token, by hand: Σ_l 6 (D_l + H) G H + 6 H V with V = 65, two layers, D_0 = H.
    flops = {("rnn", 16): 2 * 6 * 32 * 1 * 16 + 6 * 16 * 65, ("lstm", 8): 2 * 6 * 16 * 4 * 8 + 6 * 8 * 65}
    rows = printed.splitlines()
    assert rows[0].startswith("| config | threads | strategy | unroll tokens/s | torch tokens/s | unroll / torch (median) |")
    memory = {(m["cell"], m["hidden"]): m for m in results["memory"]}
    expected = [(c, h, 1, s) for c, h in (("rnn", 16), ("lstm", 8)) for s in ("off", "batch")]
    assert [(r["cell"], r["hidden"], r["threads"], r["strategy"]) for r in results["train"]] == expected
    for r in results["train"]:
        assert r["unroll_gflops"] == pytest.approx(flops[r["cell"], r["hidden"]] * r["unroll_tokens_per_s"] / 1e9,
                                                   rel=1e-12)
        assert r["rounds"] == 2 and len(r["unroll_rounds"]) == 2 and "ratio" not in r
        assert r["unroll_tokens_per_s"] == pytest.approx(float(np.median(r["unroll_rounds"])), rel=1e-12)
        assert (r["N"], r["T"], r["config"]) == (50, 50, f"{r['cell']}-{r['hidden']}")
        rate = results["matmul_gflops"][str(r["threads"])]
        assert r["matmul_fraction"] == pytest.approx(r["unroll_gflops"] / rate, rel=1e-12)
        (row,) = [line for line in rows
                  if line.startswith(f"| {r['cell']} 2x{r['hidden']} | {r['threads']} | {r['strategy']} |")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3].replace(",", "")) == pytest.approx(r["unroll_tokens_per_s"], abs=0.5)
        assert cells[4:6] == ["-", "-"]
        assert cells[6] == f"{r['unroll_gflops']:.0f} ({100 * r['matmul_fraction']:.0f}%)"
        m = memory[r["cell"], r["hidden"]]
        assert set(m) == {"cell", "hidden", "unroll"} and cells[7] == f"{m['unroll']['peak_mib']:.0f}"
        assert 0 < m["unroll"]["imports_mib"] <= m["unroll"]["peak_mib"]
    sample = results["sample"]
    assert sample["length"] == 100 and sample["hidden"] == 512 and "ratio" not in sample
    assert f"unroll {sample['unroll_chars_per_s']:,.0f} chars/s." in printed
    assert re.search(r"numpy float32 matmul \(2500x512 @ 512x2048\): \d+ GFLOP/s at 1 thread\.", printed)
    pools = results["machine"]["pools"]
    assert any(p["user_api"] == "blas" and p["num_threads"] >= 1 for p in pools)
    text = doc.read_text(encoding="utf-8")
    assert text == f"before\n<!-- bench:begin -->\n{printed}\n<!-- bench:end -->\nafter\n"


def test_bench_table_torch_columns_on_a_hand_made_result():
    from unroll import bench
    machine = {"cpu": "cpu", "cores": 2, "python": "3", "numpy": "2", "blas": "openblas", "blas_kernel": "Zen", "env": {},
               "numba": "0", "torch": "2", "threads": 1, "load_average": (1.0, 2.0, 3.0),
               "load_average_after": (0.5, 0.25, 0.125), "cpu_kernel": "Haswell",
               "pools": [{"user_api": "blas", "internal_api": "openblas", "version": "0.3", "architecture": "Zen",
                          "num_threads": 2}], "warnings": ["OPENBLAS_CORETYPE=Prescott forces ..."]}
    results = {"machine": machine, "setting": {"torch": True}, "matmul_gflops": {"2": 200.0, "1": 100.0},
               "train": [{"cell": "lstm", "hidden": 512, "threads": 2, "strategy": "auto", "unroll_tokens_per_s": 12345.6,
                          "torch_tokens_per_s": 23456.7, "ratio": 1.9, "unroll_gflops": 50.0},
                         {"cell": "lstm", "hidden": 512, "threads": 1, "strategy": "auto", "unroll_tokens_per_s": 1000.0,
                          "torch_tokens_per_s": 500.0, "ratio": 2.0, "unroll_gflops": 80.0}],
               "memory": [{"cell": "lstm", "hidden": 512, "unroll": {"peak_mib": 101.4}, "torch": {"peak_mib": 302.6}}],
               "sample": {"unroll_chars_per_s": 4321.0, "torch_chars_per_s": 1234.0, "ratio": 0.29}}
    lines = bench.table(results).splitlines()
    assert lines[2] == "| lstm 2x512 | 2 | auto | 12,346 | 23,457 | 1.90x | 50 (25%) | 101 / 303 |"
    assert lines[3] == "| lstm 2x512 | 1 | auto | 1,000 | 500 | 2.00x | 80 (80%) | 101 / 303 |"
    assert lines[5] == ("Sampling, 2x512 LSTM, batch 1, temperature 1: unroll 4,321 chars/s, torch 1,234 chars/s: "
                        "0.29x.")
    assert lines[6] == "numpy float32 matmul (2500x512 @ 512x2048): 200 GFLOP/s at 2 threads, 100 GFLOP/s at 1 thread."
    assert lines[7] == ("LSTM 2x512's share of the matmul rate measured in the same run: 25% at 2 threads (auto), "
                        "80% at 1 thread (auto).")
    assert "thread pools: openblas 0.3 Zen 2 threads (blas)" in lines[-2]
    assert "load average before 1.00/2.00/3.00, after 0.50/0.25/0.12." in lines[-2]
    assert lines[-1] == "Warning: OPENBLAS_CORETYPE=Prescott forces ..."


def test_bench_warns_when_openblas_coretype_forces_a_lower_kernel():
    from unroll.bench import kernel_warnings
    (warning,) = kernel_warnings({"OPENBLAS_CORETYPE": "Haswell"}, cpu="SkylakeX")
    assert warning.startswith("OPENBLAS_CORETYPE=Haswell forces numpy's BLAS below this CPU's SkylakeX kernel")
    assert kernel_warnings({"OPENBLAS_CORETYPE": "Haswell"}, cpu="Haswell") == []
    assert kernel_warnings({"OPENBLAS_CORETYPE": "SkylakeX"}, cpu="SkylakeX") == []
    assert kernel_warnings({}, cpu="SkylakeX") == []


def test_bench_rejects_a_malformed_config(capsys):
    assert main(["bench", "--configs", "lstm512", "--quick", "--no-memory"]) == 2
    assert "--configs entries look like lstm-512 (cell rnn|gru|lstm, hidden size) or default, got 'lstm512'" in \
        capsys.readouterr().err
    assert main(["bench", "--threads", "2,0", "--quick", "--no-memory"]) == 2
    assert "--threads takes positive integers" in capsys.readouterr().err
    assert main(["bench", "--strategies", "off,hidden", "--quick", "--no-memory"]) == 2
    assert "--strategies entries must be among step, off, batch, own, data, auto, got hidden" in capsys.readouterr().err


def test_diagnose_command_on_experiment_run_folders(tmp_path, capsys):
    runs = {}
    for cell in ("rnn", "lstm"):
        runs[cell] = tmp_path / cell
        assert main(["experiment", "adding", "--cell", cell, "--T", "6", "--hidden", "5", "--steps", "8",
                     "--out", str(runs[cell]), "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "diag"
    assert main(["diagnose", "--out", str(out), "--run", str(runs["rnn"]), "--run", str(runs["lstm"])]) == 0
    assert capsys.readouterr().out.split() == [str(out / name) for name in (
        "gradient_flow.png", "jacobian_norms.png", "activations.png", "gaussian_scale.png")]
    report = json.loads((out / "diagnose.json").read_text())
    assert set(report["models"]) == {"rnn (rnn)", "lstm (lstm)"}
    for cell, H, blocks in (("rnn", 5, 1), ("lstm", 5, 4)):
        trained = report["models"][f"{cell} ({cell})"]["stages"]["trained"]
        W_h = load_file(str(next((runs[cell] / "checkpoints").iterdir()) / "model.safetensors"))["cell.W_h"]
        sigma = [np.linalg.svd(W_h[:, i * H:(i + 1) * H].astype(np.float64), compute_uv=False)[0] for i in range(blocks)]
        np.testing.assert_allclose(trained["W_h_block_spectral_norms"], sigma, rtol=1e-5)
        assert trained["distance"] == list(range(7))
        clip = trained["clipping"]
        assert clip["total_before"] == pytest.approx(math.sqrt(sum(p["before"] ** 2 for p in clip["params"].values())))
        if cell == "rnn":   # (β_W β_h)^k with β_W = σ_max(W_h) of the saved weights, β_h = 1 for tanh
            np.testing.assert_allclose(trained["seeds_bound"], sigma[0] ** np.arange(7), rtol=1e-5)
            assert all(j <= b * (1 + 1e-9) for j, b in zip(trained["jacobian_norm_mean"], trained["seeds_bound"]))
        else:
            assert set(trained["gate_saturation"]) == {"i", "f", "o"} and "reach_c" in trained
