"""Measurements: matrix-multiply rate, sampling speed (alternating rounds), peak memory, the machine.

Training speed is ``rounds.py``'s (a fresh process per side and round). Sampling runs both sides in one
process, in alternating rounds (A B A B ...), and reports the median of the per-round ratios. Peak memory is
the peak RSS (VmHWM on Linux) of a fresh subprocess per side and configuration.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext

import numpy as np

from unroll.bench.workload import (LAYERS, N, T, TorchTrainer, UnrollTrainer, corpus_batches, threads,
                                   torch_with_threads)

# Settings that change which BLAS kernel runs (OPENBLAS_CORETYPE forces an older, slower one) or the threads
MACHINE_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def matmul_rate(reps: int = 15, threads: int | None = None) -> float:
    """numpy's float32 GFLOP/s on 2500×512 @ 512×2048 (median of ``reps`` after 3 warm-up products), with
    numpy's BLAS at ``threads`` threads (None: as it is)."""
    with blas_threads(threads):
        return _matmul_rate(reps)


def _matmul_rate(reps: int) -> float:
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


def alternate(sides: dict, rounds: int, settings: dict | None = None) -> dict:
    """Run each side's callable once per round, in turn (A B A B ...); return the times per side.

    settings: {name: a function returning a context manager} entered around that side's run, outside the
    timed part (threads, strategy)."""
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            with (settings or {}).get(name, nullcontext)():
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
    return times


@contextmanager
def blas_threads(threads: int | None):
    """numpy's BLAS at ``threads`` threads inside the block (None: unchanged)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(threads, user_api="blas"):
        yield


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


def calibrate_configs(configs, threads, log=print) -> list[dict]:
    """``--calibrate``: measure and cache auto's choice for each config at each thread count >= 2."""
    from threadpoolctl import threadpool_limits
    from unroll.nn.kernels import calibrate, mkl, split
    done = []
    race = mkl.race_again()                           # which BLAS runs the one-thread products (lever 15)
    if race is not None:
        log(f"one-thread products: {race['choice']} (MKL / OpenBLAS time {race['mkl_over_openblas']:.2f})")
    for n in threads:
        with threadpool_limits(n, user_api="blas"):
            for config in configs:
                if split.max_parts() < 2:
                    log(f"{config.label()} at {n} thread: nothing to choose (off)")
                    continue
                entry = split.measure(config.cell, config.hidden, config.N)
                calibrate.save(config.cell, config.hidden, config.N, split.max_parts(), mkl.name(), entry)
                done.append({"config": config.label(), "threads": n, **entry})
                log(f"{config.label()} at {n} threads: {entry['choice']} (" + ", ".join(
                    f"{s} {1e3 * t:.1f} ms" for s, t in entry["seconds"].items()) + ")")
    log(f"written: {calibrate.path()}")
    return done


def threads_now() -> int:
    """numpy's BLAS threads in this process (threadpoolctl), or 0 when unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 0
    return max([i.get("num_threads") or 0 for i in threadpool_info() if i.get("user_api") == "blas"] or [0])


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": _blas_name(), "blas_kernel": _blas_kernel(), "threads": threads(), "pools": thread_pools(),
            "cpu_kernel": cpu_kernel(), "warnings": kernel_warnings(),
            "env": {k: os.environ[k] for k in MACHINE_ENV if k in os.environ},
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    for name in ("numba", "torch"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    info["mkl"] = _mkl_used()
    return info


def _mkl_used() -> str | None:
    """MKL's version when this process ran its one-thread products on it (kernels/mkl.py, lever 15); None
    when it did not, or never loaded it (torch's side)."""
    mkl = sys.modules.get("unroll.nn.kernels.mkl")
    state = getattr(mkl, "_state", None) or {}
    return state.get("version") if state.get("lib") is not None else None


def provenance(argv: list[str] | None = None) -> dict:
    """Where a benchmark's JSON came from: the date (UTC), the machine (``machine()``) and the command line
    (``python`` and ``sys.argv``, quoted as a shell would need), for benchmarks/results_table.py's columns."""
    import shlex
    argv = sys.argv if argv is None else argv
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "command": shlex.join(["python", *argv])}


# OpenBLAS's x86-64 kernels by the instruction sets they need (OPENBLAS_CORETYPE names; lower case)
KERNEL_RANK = {"prescott": 0, "core2": 0, "nehalem": 1, "barcelona": 1, "sandybridge": 2, "bulldozer": 2,
               "haswell": 3, "zen": 3, "skylakex": 4, "cooperlake": 5, "sapphirerapids": 6}


def cpu_kernel() -> str | None:
    """The best OpenBLAS x86-64 kernel this CPU's flags allow ("SkylakeX", "Haswell", ...), None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line.split(":", 1)[1].split() for line in f if line.startswith("flags")))
    except (OSError, StopIteration):
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "CooperLake" if "avx512_bf16" in flags else "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return "SandyBridge" if "avx" in flags else "Nehalem" if "sse4_2" in flags else "Prescott"


def kernel_warnings(env=None, cpu: str | None = "detect") -> list[str]:
    """A warning when OPENBLAS_CORETYPE forces numpy's BLAS onto a kernel below what the CPU supports."""
    env = os.environ if env is None else env
    cpu = cpu_kernel() if cpu == "detect" else cpu
    forced = env.get("OPENBLAS_CORETYPE", "").strip()
    if not forced or cpu is None or forced.lower() not in KERNEL_RANK:
        return []
    if KERNEL_RANK[forced.lower()] < KERNEL_RANK[cpu.lower()]:
        return [f"OPENBLAS_CORETYPE={forced} forces numpy's BLAS below this CPU's {cpu} kernel (torch does not "
                f"use OpenBLAS): unset it for this command, e.g. env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ..."]
    return []


def thread_pools() -> list[dict]:
    """Every native thread pool in this process as threadpoolctl sees it (BLAS, OpenMP): API, kernel, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: i.get(k) for k in keys} for i in threadpool_info()]


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


