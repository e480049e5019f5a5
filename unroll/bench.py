"""``unroll bench``: training and sampling speed, peak memory and achieved GFLOP/s, side by side with PyTorch.

Everything goes through the public entry points (DESIGN.md §3), in the char-rnn setting: batch N = 50,
sequence T = 50, a 65-character vocabulary (tiny Shakespeare), embedding input of width H, two layers,
Adam (lr 2e-3) and global-norm clipping at 5, truncated BPTT with the state carried between batches::

    unroll   LanguageModel(vocab_size=65, hidden_size=H, num_layers=2, cell=...)
             loss, grads, state = model.loss_and_grads(x, y, state); clip_grad_norm(grads, 5.0); adam.step(grads)
    torch    nn.Embedding(65, H) -> nn.RNN/GRU/LSTM(H, H, 2) -> nn.Linear(H, 65), Adam, clip_grad_norm_(5),
             the state detached between batches, float32, torch.set_num_threads(number of cores)

Both sides use every core; ``OPENBLAS_NUM_THREADS=1 unroll bench`` runs both on one thread (a fairer
comparison on a machine that other work keeps busy, where multi-threaded BLAS and OpenMP degrade badly).

Measurements, all in one process except memory:

- training tokens/s of both, in alternating rounds (A B A B ...); the ratio is the median of the per-round
  ratios, so a burst of load on the machine hits both sides alike;
- achieved GFLOP/s with the model FLOP count ``train_flops_per_token`` (the matrix products only: forward
  2·MACs, backward twice that), against numpy's float32 matrix-multiply rate measured in the same run
  (2500×512 @ 512×2048, after warm-up);
- sampling speed: characters/s at batch 1 from a 2×512 LSTM at temperature 1, ``model.sample`` against a
  plain torch loop (embedding, LSTM step, linear, softmax, multinomial);
- peak memory: the peak RSS (``ru_maxrss``; on Linux VmHWM, which a child does not inherit from its parent)
  of a fresh subprocess per side and configuration that imports its library, builds the model and trains a
  few steps (reported whole, and as the growth over the imports alone). These run first, while the
  measuring process is still small.

Timings on a shared machine are noisy: the load average before and after is recorded with the results.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CELLS = ("rnn", "gru", "lstm")
SIZES = (128, 512)
T, N, LAYERS, LR, CLIP = 50, 50, 2, 2e-3, 5.0
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
TARGETS = {"train_ratio": 1.25, "sample_ratio": 3.0, "matmul_fraction": 0.75}


# ----------------------------------------------------------------------------------------------------
# Workload.

def corpus_batches(count: int, seed: int = 0):
    """``count`` consecutive (x, y) pairs of int arrays (T, N) from tiny Shakespeare, and V."""
    from unroll.data.text import load_bundled
    text = load_bundled()
    chars = sorted(set(text))
    lookup = np.zeros(0x110000 if max(map(ord, chars)) > 255 else 256, np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    per_row = len(ids) // N
    rows = ids[:per_row * N].reshape(N, per_row)
    start = np.random.default_rng(seed).integers(0, per_row - count * T - 1)
    out = []
    for k in range(count):
        s = start + k * T
        out.append((np.ascontiguousarray(rows[:, s:s + T].T), np.ascontiguousarray(rows[:, s + 1:s + T + 1].T)))
    return out, len(chars)


def train_flops_per_token(cell: str, H: int, V: int, layers: int = LAYERS, E: int | None = None) -> float:
    """Matrix-product FLOPs of one training token: Σ_l 6·(D_l + H)·G·H + 6·H·V (G gate blocks, D_0 = E).

    Forward: 2 FLOPs per multiply-add of x_t W_x, h_{t-1} W_h and the output layer; backward: the same again
    twice (input and weight gradients). Elementwise work, the embedding and the softmax are not counted.
    """
    G, E = GATES[cell], E or H
    return sum(6.0 * ((E if l == 0 else H) + H) * G * H for l in range(layers)) + 6.0 * H * V


class UnrollTrainer:
    """One training step through unroll's public entry points."""

    def __init__(self, cell: str, H: int, V: int, seed: int = 0):
        from unroll.models import LanguageModel
        from unroll.train.optim import Adam, clip_grad_norm
        self.model = LanguageModel(vocab_size=V, hidden_size=H, num_layers=LAYERS, cell=cell, seed=seed,
                                   dtype=np.float32)
        self.adam, self.clip, self.state = Adam(self.model.params, lr=LR), clip_grad_norm, None

    def step(self, x, y) -> float:
        loss, grads, self.state = self.model.loss_and_grads(x, y, self.state)
        self.clip(grads, CLIP)
        self.adam.step(grads)
        return loss


class TorchTrainer:
    """The same step in torch.nn."""

    def __init__(self, cell: str, H: int, V: int, seed: int = 0):
        torch = _torch()
        torch.manual_seed(seed)
        rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
        self.torch, self.V = torch, V
        self.embed, self.rnn, self.out = torch.nn.Embedding(V, H), rnn(H, H, LAYERS), torch.nn.Linear(H, V)
        self.params = [*self.embed.parameters(), *self.rnn.parameters(), *self.out.parameters()]
        self.adam, self.state = torch.optim.Adam(self.params, lr=LR), None

    def step(self, x, y) -> float:
        torch = self.torch
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        if self.state is not None:   # truncated BPTT: carry the state, cut the graph
            self.state = tuple(s.detach() for s in self.state) if isinstance(self.state, tuple) else self.state.detach()
        hs, self.state = self.rnn(self.embed(x), self.state)
        loss = torch.nn.functional.cross_entropy(self.out(hs).reshape(-1, self.V), y.reshape(-1))
        self.adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, CLIP)
        self.adam.step()
        return loss.item()


def threads() -> int:
    """Threads for both sides: OPENBLAS_NUM_THREADS when set (numpy's BLAS reads it at start), else the cores."""
    value = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def _torch():
    """torch with ``threads()`` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads())
    return torch


# ----------------------------------------------------------------------------------------------------
# Measurements.

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


def _alternate(sides: dict, rounds: int) -> dict:
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
    times = _alternate(runs, rounds)
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
        torch = _torch()
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
    times = _alternate(sides, rounds)
    result = {"hidden": H, "length": length, "rounds": rounds}
    for name, ts in times.items():
        result[f"{name}_chars_per_s"] = length / float(np.median(ts))
    if with_torch:
        result["ratio"] = float(np.median(np.array(times["torch"]) / np.array(times["unroll"])))
    return result


def peak_rss(side: str, cell: str, H: int, steps: int) -> dict:
    """Peak RSS (MiB) of a fresh process that imports ``side``, builds the model and trains ``steps`` steps."""
    code = f"import unroll.bench as b; b._rss_child({side!r}, {cell!r}, {H}, {steps})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} memory subprocess failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_child(side: str, cell: str, H: int, steps: int) -> None:
    """Subprocess body of ``peak_rss``: prints {"imports_mib", "peak_mib"} as one JSON line."""
    batches, V = corpus_batches(steps)
    if side == "torch":
        _torch()
    else:
        import unroll.models  # noqa: F401
        import unroll.train.optim  # noqa: F401
    imports = _maxrss_mib()
    trainer = (TorchTrainer if side == "torch" else UnrollTrainer)(cell, H, V)
    for x, y in batches:
        trainer.step(x, y)
    print(json.dumps({"imports_mib": imports, "peak_mib": _maxrss_mib()}))


def _maxrss_mib() -> float:
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
            "blas": _blas_name(), "threads": threads(), "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    for name in ("numba", "torch"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


# ----------------------------------------------------------------------------------------------------
# The whole run, the table, the command.

def run(configs, quick: bool = False, with_torch: bool = True, memory: bool = True, log=print) -> dict:
    """Every measurement for ``configs`` [(cell, H)]; returns the JSON-able results."""
    with_torch = with_torch and _torch() is not None
    results = {"machine": machine(), "setting": {"T": T, "N": N, "layers": LAYERS, "lr": LR, "clip": CLIP,
                                                 "quick": quick, "torch": with_torch},
               "targets": TARGETS, "train": [], "memory": []}
    if memory:
        for cell, H in configs:
            row = {"cell": cell, "hidden": H}
            for side in ("unroll", "torch") if with_torch else ("unroll",):
                row[side] = peak_rss(side, cell, H, steps=2 if quick else 3)
            results["memory"].append(row)
            log(f"peak RSS {cell}-{H}: " + ", ".join(f"{s} {row[s]['peak_mib']:.0f} MiB" for s in row if s not in
                                                       ("cell", "hidden")))
    results["matmul_gflops"] = matmul_rate(5 if quick else 15)
    log(f"numpy float32 matmul 2500x512 @ 512x2048: {results['matmul_gflops']:.1f} GFLOP/s")
    for cell, H in configs:
        steps = (1 if H >= 384 else 2) if quick else (2 if H >= 384 else 5)
        r = train_speed(cell, H, rounds=3 if quick else 7, steps=steps, with_torch=with_torch)
        r["matmul_fraction"] = r["unroll_gflops"] / results["matmul_gflops"]
        results["train"].append(r)
        log(_train_line(r))
    results["sample"] = sample_speed(length=100 if quick else 400, rounds=3 if quick else 7, with_torch=with_torch)
    log(f"sampling 2x512 LSTM, batch 1: unroll {results['sample']['unroll_chars_per_s']:.0f} chars/s"
        + (f", torch {results['sample']['torch_chars_per_s']:.0f}, x{results['sample']['ratio']:.2f}"
           if with_torch else ""))
    results["machine"]["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _train_line(r: dict) -> str:
    line = (f"{r['cell']}-{r['hidden']}: unroll {r['unroll_tokens_per_s']:,.0f} tokens/s "
            f"({r['unroll_gflops']:.0f} GFLOP/s)")
    if "ratio" in r:
        line += f", torch {r['torch_tokens_per_s']:,.0f} tokens/s, ratio x{r['ratio']:.2f}"
    return line


def table(results: dict) -> str:
    """The results as a Markdown table (what docs/performance.md keeps)."""
    mm, has_torch = results["matmul_gflops"], results["setting"]["torch"]
    memory = {(m["cell"], m["hidden"]): m for m in results["memory"]}
    lines = ["| config | unroll tokens/s | torch tokens/s | unroll / torch (median) | unroll GFLOP/s "
             "(% of matmul) | peak RSS unroll / torch (MiB) |", "|---|---:|---:|---:|---:|---:|"]
    for r in results["train"]:
        m = memory.get((r["cell"], r["hidden"]))
        rss = "-" if m is None else " / ".join(f"{m[s]['peak_mib']:.0f}" for s in ("unroll", "torch") if s in m)
        torch_cols = (f"{r['torch_tokens_per_s']:,.0f} | {r['ratio']:.2f}x" if has_torch else "- | -")
        lines.append(f"| {r['cell']} 2x{r['hidden']} | {r['unroll_tokens_per_s']:,.0f} | {torch_cols} | "
                     f"{r['unroll_gflops']:.0f} ({100 * r['unroll_gflops'] / mm:.0f}%) | {rss} |")
    s = results["sample"]
    lines += ["", f"Sampling, 2x512 LSTM, batch 1, temperature 1: unroll {s['unroll_chars_per_s']:,.0f} chars/s"
              + (f", torch {s['torch_chars_per_s']:,.0f} chars/s: {s['ratio']:.2f}x" if has_torch else "") + ".",
              f"numpy float32 matmul (2500x512 @ 512x2048): {mm:.0f} GFLOP/s."]
    mach = results["machine"]
    lines += ["", f"Machine: {mach['cpu']}, {mach['cores']} cores; Python {mach['python']}, numpy {mach['numpy']} "
              f"({mach['blas']}), numba {mach['numba']}, torch {mach['torch']}; {mach['threads']} threads per side; "
              f"load average before "
              f"{_fmt_load(mach['load_average'])}, after {_fmt_load(mach.get('load_average_after'))}."]
    return "\n".join(lines)


def _fmt_load(load) -> str:
    return "n/a" if load is None else "/".join(f"{x:.2f}" for x in load)


def parse_configs(spec: str | None):
    """"lstm-512,gru-128" -> [("lstm", 512), ("gru", 128)]; None -> all six."""
    if not spec:
        return [(c, h) for c in CELLS for h in SIZES]
    out = []
    for item in spec.split(","):
        cell, _, size = item.strip().partition("-")
        if cell not in CELLS or not size.isdigit() or int(size) < 1:
            raise ValueError(f"--configs entries look like lstm-512 (cell {'|'.join(CELLS)}, hidden size), "
                             f"got {item!r}")
        out.append((cell, int(size)))
    return out


def update_doc(path: Path, text: str) -> None:
    """Replace the block between <!-- bench:begin --> and <!-- bench:end --> in ``path`` with ``text``."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    doc = path.read_text(encoding="utf-8")
    if begin not in doc or end not in doc:
        raise ValueError(f"{path} has no {begin} ... {end} block to update")
    head, rest = doc.split(begin, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def add_parser(subparsers) -> None:
    """Register ``unroll bench``."""
    p = subparsers.add_parser("bench", help="training/sampling speed and memory against PyTorch",
                              description="Measure training tokens/s (unroll vs torch.nn, alternating), achieved "
                                          "GFLOP/s against numpy's matmul rate, sampling chars/s and peak memory.")
    p.add_argument("--configs", default=None, help="comma-separated cell-hidden pairs, e.g. lstm-512,gru-128 "
                                                   "(default: rnn, gru, lstm x 128, 512)")
    p.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke test, noisy numbers)")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON to this file")
    p.add_argument("--update-doc", type=Path, default=None,
                   help="rewrite the bench block of this Markdown file (docs/performance.md) with the table")
    p.add_argument("--no-torch", action="store_true", help="measure unroll alone")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    p.set_defaults(func=main)


def main(args) -> int:
    configs = parse_configs(args.configs)
    results = run(configs, quick=args.quick, with_torch=not args.no_torch, memory=not args.no_memory,
                  log=lambda s: print(s, file=sys.stderr, flush=True))
    text = table(results)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.update_doc is not None:
        update_doc(args.update_doc, text)
    return 0
