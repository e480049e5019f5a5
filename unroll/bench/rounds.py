"""Training speed the way users run it: one fresh process per side and round, alternating.

Each figure comes from a process that loads one library (``torch_side.py``: torch, no unroll, no numba;
``unroll_side.py``: unroll, no torch) with one thread count, set once in its environment before numpy or
torch load, and that warms up for ``warmup_s`` seconds before it times ``measure_s`` seconds of training
steps. Rounds alternate the sides (torch, then each unroll strategy; the order reversed every other round,
so a drift in the machine's speed hits both alike), and each ratio is the median of the per-round ratios.
The torch figure is therefore a plain torch script's, in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from unroll.bench.workload import CLIP, LAYERS, LR, N, T, corpus_batches, train_flops_per_token

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STRATEGY_ENV = {"step": {"UNROLL_KERNELS": "numba-step", "UNROLL_SPLIT": "off"},
                "off": {"UNROLL_KERNELS": "numba", "UNROLL_SPLIT": "off"},
                "batch": {"UNROLL_KERNELS": "numba", "UNROLL_SPLIT": "batch"},
                "own": {"UNROLL_KERNELS": "numba", "UNROLL_SPLIT": "own"},   # no OpenBLAS threads: lever 13
                "data": {"UNROLL_KERNELS": "numba", "UNROLL_SPLIT": "data"},  # a step's batch split once: lever 17
                "auto": {}}                      # the default: whatever unroll chooses with nothing set
TORCH_SIDE = Path(__file__).with_name("torch_side.py")


class Config(NamedTuple):
    """One benchmark row: a 2-layer char-rnn model of ``cell`` with ``hidden`` units, batch N, sequence T."""
    cell: str
    hidden: int
    N: int = N
    T: int = T
    name: str = ""

    def label(self) -> str:
        return self.name or f"{self.cell}-{self.hidden}"


def _default_config() -> Config:
    """`unroll train`'s own model and batches, read from their settings (the LM's network section, TrainConfig's
    batch, BPTTConfig's sequence length), so the bench's ``default`` row follows the defaults when they change."""
    from unroll.config import BPTTConfig, TrainConfig
    from unroll.nn.network import ModelConfig
    model = ModelConfig()
    assert model.num_layers == LAYERS, "the bench's configurations have LAYERS layers"
    return Config(model.cell, model.hidden_size, TrainConfig().batch_size, BPTTConfig().seq_len, "default")


DEFAULT_CONFIG = _default_config()


def child_env(threads: int, strategy: str | None = None) -> dict:
    """The environment of a side's process: every thread pool at ``threads``; unroll's strategy set (or, for
    ``auto``, unset as on a user's machine)."""
    env = dict(os.environ, **{k: str(threads) for k in THREAD_ENV})
    if strategy is not None:
        for key in ("UNROLL_KERNELS", "UNROLL_SPLIT"):
            env.pop(key, None)
        env.update(STRATEGY_ENV[strategy])
    return env


def run_child(argv: list[str], spec: dict, env: dict) -> dict:
    """Run a side's process with SPEC; returns the JSON object of its last output line."""
    done = subprocess.run([sys.executable, *argv, json.dumps(spec)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark process {' '.join(argv)} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def matmul_rate(threads: int, reps: int = 15) -> float:
    """numpy's float32 GFLOP/s (2500x512 @ 512x2048) in a fresh process at ``threads`` threads."""
    return run_child(["-m", "unroll.bench.unroll_side"], {"matmul": reps}, child_env(threads))["gflops"]


def save_batches(config: Config, folder: str, count: int = 8) -> str:
    """``count`` consecutive batches of tiny Shakespeare for ``config`` as an .npz both sides read."""
    batches, V = corpus_batches(count, N=config.N, T=config.T)
    path = os.path.join(folder, f"{config.label()}.npz")
    np.savez(path, x=np.stack([x for x, _ in batches]), y=np.stack([y for _, y in batches]), V=V)
    return path, V


def train_speed(config: Config, threads: int, strategies=("auto",), rounds: int = 5, with_torch: bool = True,
                warmup_s: float = 2.0, measure_s: float = 2.0, log=None) -> list[dict]:
    """One row per unroll strategy: median tokens/s of each side over ``rounds`` alternating rounds of fresh
    processes, and the median of the per-round ratios unroll / torch."""
    with tempfile.TemporaryDirectory(prefix="unroll-bench-") as folder:
        path, V = save_batches(config, folder)
        spec = {"cell": config.cell, "hidden": config.hidden, "layers": LAYERS, "lr": LR, "clip": CLIP,
                "threads": threads, "batches": path, "warmup_s": warmup_s, "measure_s": measure_s}
        sides = [("torch", None)] if with_torch else []
        sides += [("unroll", s) for s in strategies]
        got = {side: [] for side in sides}
        for r in range(rounds):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                got[side].append(_side(side, spec, threads))
            if log:
                log(f"  {config.label()} {threads} thread(s), round {r + 1}/{rounds}: " + ", ".join(
                    f"{s or 'torch'} {runs[-1]['tokens_per_s']:,.0f}" for (_, s), runs in got.items()))
    return [_row(config, V, threads, s, got[("unroll", s)], got.get(("torch", None)), rounds) for s in strategies]


def _side(side: tuple, spec: dict, threads: int) -> dict:
    name, strategy = side
    if name == "torch":
        result = run_child([str(TORCH_SIDE)], spec, child_env(threads))
    else:
        result = run_child(["-m", "unroll.bench.unroll_side"], spec, child_env(threads, strategy))
    if result["foreign"]:
        raise RuntimeError(f"the {name} benchmark process loaded {', '.join(result['foreign'])}")
    return result


def _row(config: Config, V: int, threads: int, strategy: str, unroll: list, torch: list | None, rounds: int) -> dict:
    ups = np.array([r["tokens_per_s"] for r in unroll])
    flops = train_flops_per_token(config.cell, config.hidden, V)
    r = {"cell": config.cell, "hidden": config.hidden, "config": config.label(), "N": config.N, "T": config.T,
         "threads": threads, "strategy": strategy, "rounds": rounds,
         "unroll_tokens_per_s": float(np.median(ups)), "unroll_rounds": ups.tolist(),
         "blas_kernel": unroll[0]["blas_kernel"], "chosen": unroll[0].get("strategy")}
    r["unroll_gflops"] = flops * r["unroll_tokens_per_s"] / 1e9
    if torch:
        tps = np.array([t["tokens_per_s"] for t in torch])
        r.update(torch_tokens_per_s=float(np.median(tps)), torch_rounds=tps.tolist(),
                 torch_gflops=flops * float(np.median(tps)) / 1e9, ratio=float(np.median(ups / tps)),
                 torch_version=torch[0]["torch"], torch_threads=torch[0]["threads"])
    return r
