"""Measurements: matrix-multiply rate, training and sampling speed (alternating rounds), peak memory, machine.

Timings on a shared machine are noisy: each comparison runs both sides in one process, in alternating rounds
(A B A B ...), and reports the median of the per-round ratios, so a burst of load hits both sides alike.
Peak memory is the peak RSS (VmHWM on Linux) of a fresh subprocess per side and configuration.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from unroll.bench.workload import (LAYERS, N, T, TorchTrainer, UnrollTrainer, corpus_batches, threads,
                                   torch_with_threads, train_flops_per_token)

# Settings that change which BLAS kernel runs (OPENBLAS_CORETYPE forces an older, slower one) or the threads
MACHINE_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def matmul_rate(reps: int = 15) -> float:
    """numpy's float32 GFLOP/s on 2500×512 @ 512×2048 (median of ``reps`` after 3 warm-up products)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((T * N, 512), dtype=np.float32)
    b = rng.standard_normal((512, 2048), dtype=np.float32)
    out = np.empty((T * N, 2048), np.float32)
    times = []
    for k in range(reps + 3):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        if k >= 3:
            times.append(time.perf_counter() - t0)
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1] / float(np.median(times)) / 1e9


def alternate(sides: dict, rounds: int) -> dict:
    """Run each side's callable once per round, in turn (A B A B ...); return the times per side."""
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return times


def train_speed(cell: str, H: int, rounds: int, steps: int, with_torch: bool = True) -> dict:
    """Training tokens/s of unroll (and torch), ``steps`` steps per side per round, after 2 warm-up steps."""
    batches, V = corpus_batches(steps)
    sides = {"unroll": UnrollTrainer(cell, H, V)}
    if with_torch:
        sides["torch"] = TorchTrainer(cell, H, V)
    runs = {name: (lambda tr=tr: [tr.step(x, y) for x, y in batches]) for name, tr in sides.items()}
    for tr in sides.values():
        for x, y in batches[:2]:
            tr.step(x, y)
    times = alternate(runs, rounds)
    tokens = steps * T * N
    flops = train_flops_per_token(cell, H, V)
    result = {"cell": cell, "hidden": H, "steps_per_round": steps, "rounds": rounds}
    for name, ts in times.items():
        result[f"{name}_tokens_per_s"] = tokens / float(np.median(ts))
        result[f"{name}_gflops"] = flops * result[f"{name}_tokens_per_s"] / 1e9
    if with_torch:
        result["ratio"] = float(np.median(np.array(times["torch"]) / np.array(times["unroll"])))
    return result


def sample_speed(length: int, rounds: int, with_torch: bool = True, H: int = 512) -> dict:
    """Characters/s at batch 1, temperature 1, from a 2×H LSTM: ``model.sample`` and a plain torch loop."""
    from unroll.models import LanguageModel
    V = 65
    model = LanguageModel(vocab_size=V, hidden_size=H, num_layers=LAYERS, cell="lstm", seed=0)
    sides = {"unroll": lambda: model.sample([0], length, temperature=1.0, seed=0)}
    if with_torch:
        torch = torch_with_threads()
        torch.manual_seed(0)
        embed, lstm, out = torch.nn.Embedding(V, H), torch.nn.LSTM(H, H, LAYERS), torch.nn.Linear(H, V)
        gen = torch.Generator().manual_seed(0)

        def torch_sample():
            with torch.no_grad():
                x, state, ids = torch.tensor([[0]]), None, []
                for _ in range(length):
                    hs, state = lstm(embed(x), state)
                    probs = torch.softmax(out(hs[0, 0]) / 1.0, dim=-1)
                    x = torch.multinomial(probs, 1, generator=gen).view(1, 1)
                    ids.append(int(x))
            return ids
        sides["torch"] = torch_sample
    for run in sides.values():
        run()
    times = alternate(sides, rounds)
    result = {"hidden": H, "length": length, "rounds": rounds}
    for name, ts in times.items():
        result[f"{name}_chars_per_s"] = length / float(np.median(ts))
    if with_torch:
        result["ratio"] = float(np.median(np.array(times["torch"]) / np.array(times["unroll"])))
    return result


def peak_rss(side: str, cell: str, H: int, steps: int) -> dict:
    """Peak RSS (MiB) of a fresh process that imports ``side``, builds the model and trains ``steps`` steps."""
    code = f"import unroll.bench.measure as m; m.rss_child({side!r}, {cell!r}, {H}, {steps})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} memory subprocess failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_child(side: str, cell: str, H: int, steps: int) -> None:
    """Subprocess body of ``peak_rss``: prints {"imports_mib", "peak_mib"} as one JSON line."""
    batches, V = corpus_batches(steps)
    if side == "torch":
        torch_with_threads()
    else:
        import unroll.models  # noqa: F401
        import unroll.train.optim  # noqa: F401
    imports = maxrss_mib()
    trainer = (TorchTrainer if side == "torch" else UnrollTrainer)(cell, H, V)
    for x, y in batches:
        trainer.step(x, y)
    print(json.dumps({"imports_mib": imports, "peak_mib": maxrss_mib()}))


def maxrss_mib() -> float:
    """This process's peak RSS: VmHWM where Linux has it, else ru_maxrss.

    On Linux, ru_maxrss survives fork and exec, so a child started by a big parent would report the parent's
    peak; VmHWM belongs to the process's own memory map, which exec replaces.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration, ValueError):
        import resource
        scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0   # bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": _blas_name(), "blas_kernel": _blas_kernel(), "threads": threads(),
            "env": {k: os.environ[k] for k in MACHINE_ENV if k in os.environ},
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    for name in ("numba", "torch"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info


def _blas_kernel() -> str:
    """The kernel numpy's BLAS runs, as threadpoolctl reports it (e.g. OpenBLAS "Haswell"), if installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('architecture', '?')}" for i in blas) or "unknown"


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


