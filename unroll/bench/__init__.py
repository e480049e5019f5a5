"""``unroll bench``: training and sampling speed, peak memory and achieved GFLOP/s, side by side with PyTorch.

Everything goes through the public entry points (DESIGN.md §3), in the char-rnn setting: batch N = 50,
sequence T = 50, a 65-character vocabulary (tiny Shakespeare), embedding input of width H, two layers,
Adam (lr 2e-3) and global-norm clipping at 5, truncated BPTT with the state carried between batches::

    unroll   LanguageModel(vocab_size=65, hidden_size=H, num_layers=2, cell=...)
             loss, grads, state = model.loss_and_grads(x, y, state); clip_grad_norm(grads, 5.0); adam.step(grads)
    torch    nn.Embedding(65, H) -> nn.RNN/GRU/LSTM(H, H, 2) -> nn.Linear(H, 65), Adam, clip_grad_norm_(5),
             the state detached between batches, float32, torch.set_num_threads(n)

plus `unroll train`'s own model (``--configs default``: a 2x256 LSTM, batch 32, sequence 100).

Training speed, as users run each side (``rounds.py``): one fresh process per side and round, torch's
(``torch_side.py``, a plain torch script) loading no unroll and no numba, unroll's no torch; one thread
count per process, set once in the environment before numpy or torch load (and ``torch.set_num_threads``);
each process warms up for ``--warmup`` seconds and times ``--seconds``; at least 5 rounds alternate the
sides; the ratio is the median of the per-round ratios. unroll runs each of ``--strategies``
(``rounds.STRATEGY_ENV``: ``step``, ``off``, ``batch``, ``own``, ``auto``, the default; docs/performance.md).
Also measured:

- achieved GFLOP/s with the model FLOP count ``train_flops_per_token`` (the matrix products only: forward
  2·MACs, backward twice that), against numpy's float32 matrix-multiply rate measured in the same run at the
  same thread count in a fresh process (2500×512 @ 512×2048, after warm-up), and the 2x512 LSTM's share of it;
- sampling speed: characters/s at batch 1 from a 2×512 LSTM at temperature 1, ``model.sample`` against a
  plain torch loop (embedding, LSTM step, linear, softmax, multinomial);
- peak memory: the peak RSS (``ru_maxrss``; on Linux VmHWM, which a child does not inherit from its parent)
  of a fresh subprocess per side and configuration that imports its library, builds the model and trains a
  few steps (reported whole, and as the growth over the imports alone). These run first, while the
  measuring process is still small.

Timings on a shared machine are noisy: the load average before and after is recorded with the results.
The machine line names numpy's BLAS, the kernel threadpoolctl reports, the best kernel the CPU's flags
allow, and every thread pool in the process. Where ``OPENBLAS_CORETYPE`` forces a kernel below the CPU's
(some development machines set it, with ``OPENBLAS_L2_SIZE``, to work around older OpenBLAS builds), numpy
runs an older, slower kernel while torch (no OpenBLAS) does not: the run warns, and the fix is
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE unroll bench``.

The code: ``workload`` (batches from the real data pipeline, one training step per side), ``measure`` (the
measurements, the machine), and here the whole run, the table and the command.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from unroll.command import Command
from unroll.bench import measure, rounds as rounds_
from unroll.bench.measure import (MACHINE_ENV, alternate, cpu_kernel, kernel_warnings,  # noqa: F401
                                  machine, matmul_rate, maxrss_mib, peak_rss, rss_child, sample_speed,
                                  thread_pools)
from unroll.bench.rounds import DEFAULT_CONFIG, STRATEGY_ENV, Config
from unroll.bench.workload import (CELLS, CLIP, GATES, LAYERS, LR, SIZES, N, T, TorchTrainer,  # noqa: F401
                                   UnrollTrainer, corpus_batches, threads, torch_with_threads, train_flops_per_token)

TARGETS = {"train_ratio": 1.25, "sample_ratio": 3.0, "matmul_fraction": 0.75}


# ----------------------------------------------------------------------------------------------------
# The whole run, the table, the command.

def default_threads() -> tuple[int, ...]:
    """The thread counts both sides run at: every core (at most 2, the issue's machine) and 1."""
    cores = max(1, min(2, os.cpu_count() or 1))
    return (cores, 1) if cores > 1 else (1,)


def run(configs, quick: bool = False, with_torch: bool = True, memory: bool = True, log=print,
        threads: tuple | None = None, strategies: tuple = ("auto",), rounds: int | None = None,
        warmup_s: float | None = None, measure_s: float | None = None, sample: bool = True) -> dict:
    """Every measurement for ``configs`` (``rounds.Config``) at each thread count and unroll strategy
    (``rounds.STRATEGY_ENV``), each side in fresh processes (``rounds.py``); returns the JSON-able results."""
    with_torch = with_torch and torch_with_threads() is not None
    threads = tuple(threads or default_threads())
    rounds = rounds or (3 if quick else 5)
    warmup_s = (0.2 if quick else 2.0) if warmup_s is None else warmup_s
    measure_s = (0.3 if quick else 2.0) if measure_s is None else measure_s
    results = {"machine": machine(), "setting": {"layers": LAYERS, "lr": LR, "clip": CLIP, "quick": quick,
                                                 "torch": with_torch, "threads": list(threads),
                                                 "strategies": list(strategies), "rounds": rounds,
                                                 "warmup_s": warmup_s, "measure_s": measure_s},
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "targets": TARGETS, "train": [],
               "memory": []}
    log(machine_line(results["machine"]))
    for warning in results["machine"]["warnings"]:
        log(f"warning: {warning}")
    if memory:
        for config in configs:
            row = {"cell": config.cell, "hidden": config.hidden}
            for side in ("unroll", "torch") if with_torch else ("unroll",):
                row[side] = peak_rss(side, config.cell, config.hidden, steps=2 if quick else 3)
            results["memory"].append(row)
            log(f"peak RSS {config.label()}: " + ", ".join(f"{s} {row[s]['peak_mib']:.0f} MiB" for s in row
                                                          if s not in ("cell", "hidden")))
    results["matmul_gflops"] = {str(n): rounds_.matmul_rate(n, 5 if quick else 15) for n in threads}
    log("numpy float32 matmul 2500x512 @ 512x2048 (a fresh process per thread count): "
        + matmul_line(results["matmul_gflops"]))
    for config in configs:
        for n in threads:
            for r in rounds_.train_speed(config, n, strategies, rounds, with_torch, warmup_s, measure_s, log):
                r["matmul_fraction"] = r["unroll_gflops"] / results["matmul_gflops"][str(n)]
                results["train"].append(r)
                log(train_line(r))
    results["sample"] = None
    if sample:
        results["sample"] = sample_speed(length=100 if quick else 400, rounds=3 if quick else 7, with_torch=with_torch)
        log(f"sampling 2x512 LSTM, batch 1: unroll {results['sample']['unroll_chars_per_s']:.0f} chars/s"
            + (f", torch {results['sample']['torch_chars_per_s']:.0f}, x{results['sample']['ratio']:.2f}"
               if with_torch else ""))
    results["machine"]["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def machine_line(mach: dict) -> str:
    """CPU, BLAS and its kernel, torch: what every figure of the run was measured on."""
    return (f"machine: {mach['cpu']}, {mach['cores']} cores; numpy {mach['numpy']} ({mach['blas']}, kernel "
            f"{mach['blas_kernel']}; the CPU allows {mach.get('cpu_kernel') or 'n/a'}); numba {mach['numba']}; "
            f"torch {mach['torch']}")


def matmul_line(rates: dict) -> str:
    """{"2": 110.0, "1": 60.0} -> "110 GFLOP/s at 2 threads, 60 GFLOP/s at 1 thread"."""
    return ", ".join(f"{rate:.0f} GFLOP/s at {n} thread{'s' if n != '1' else ''}" for n, rate in rates.items())


def train_line(r: dict) -> str:
    name, plural = r.get("config") or f"{r['cell']}-{r['hidden']}", "s" if r["threads"] != 1 else ""
    line = (f"{name} ({r['threads']} thread{plural}, {strategy_label(r)}): "
            f"unroll {r['unroll_tokens_per_s']:,.0f} tokens/s ({r['unroll_gflops']:.0f} GFLOP/s")
    line += f", {100 * r['matmul_fraction']:.0f}% of the matmul rate)" if "matmul_fraction" in r else ")"
    if "ratio" in r:
        line += f", torch {r['torch_tokens_per_s']:,.0f} tokens/s, ratio x{r['ratio']:.2f}"
    return line


def table(results: dict) -> str:
    """The results as a Markdown table (what docs/performance.md keeps)."""
    mm, has_torch = results["matmul_gflops"], results["setting"]["torch"]
    memory = {(m["cell"], m["hidden"]): m for m in results["memory"]}
    lines = ["| config | threads | strategy | unroll tokens/s | torch tokens/s | unroll / torch (median) | "
             "unroll GFLOP/s (% of matmul) | peak RSS unroll / torch (MiB) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results["train"]:
        m = memory.get((r["cell"], r["hidden"]))
        rss = "-" if m is None else " / ".join(f"{m[s]['peak_mib']:.0f}" for s in ("unroll", "torch") if s in m)
        torch_cols = (f"{r['torch_tokens_per_s']:,.0f} | {r['ratio']:.2f}x" if has_torch else "- | -")
        lines.append(f"| {config_label(r)} | {r['threads']} | {strategy_label(r)} | "
                     f"{r['unroll_tokens_per_s']:,.0f} | {torch_cols} | "
                     f"{r['unroll_gflops']:.0f} ({100 * r['unroll_gflops'] / mm[str(r['threads'])]:.0f}%) | {rss} |")
    s, lines = results.get("sample"), lines + [""]
    if s:
        lines.append(f"Sampling, 2x512 LSTM, batch 1, temperature 1: unroll {s['unroll_chars_per_s']:,.0f} chars/s"
                     + (f", torch {s['torch_chars_per_s']:,.0f} chars/s: {s['ratio']:.2f}x" if has_torch else "") + ".")
    lines.append(f"numpy float32 matmul (2500x512 @ 512x2048): {matmul_line(mm)}.")
    big = [r for r in results["train"] if (r["cell"], r["hidden"]) == ("lstm", 512) and r.get("config") != "default"]
    if big:
        lines.append("LSTM 2x512's share of the matmul rate measured in the same run: " + ", ".join(
            f"{100 * r['unroll_gflops'] / mm[str(r['threads'])]:.0f}% at {r['threads']} thread"
            f"{'s' if r['threads'] != 1 else ''} ({r['strategy']})" for r in big) + ".")
    mach = results["machine"]
    pools = "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture') or ''} "
                      f"{p.get('num_threads')} threads ({p.get('user_api')})".replace("  ", " ")
                      for p in mach.get("pools", []))
    lines += ["", f"Machine: {mach['cpu']}, {mach['cores']} cores; Python {mach['python']}, numpy {mach['numpy']} "
              f"({mach['blas']}, kernel {mach['blas_kernel']}; the CPU allows {mach.get('cpu_kernel') or 'n/a'}), "
              f"numba {mach['numba']}, torch {mach['torch']}; thread pools: {pools or 'n/a'}; "
              f"environment {mach['env'] or 'none of ' + ', '.join(MACHINE_ENV)}; "
              f"load average before "
              f"{_fmt_load(mach['load_average'])}, after {_fmt_load(mach.get('load_average_after'))}."]
    lines += [f"Warning: {w}" for w in mach.get("warnings", [])]
    return "\n".join(lines)


def strategy_label(r: dict) -> str:
    """"off", or for auto the strategy it ran: "auto (batch)"."""
    chosen = r.get("chosen")
    return f"auto ({chosen})" if r["strategy"] == "auto" and chosen else r["strategy"]


def config_label(r: dict) -> str:
    """"lstm 2x512", or for `unroll train`'s own model "lstm 2x256 (default: batch 32, sequence 100)"."""
    label = f"{r['cell']} 2x{r['hidden']}"
    return label + f" (default: batch {r['N']}, sequence {r['T']})" if r.get("config") == "default" else label


def _fmt_load(load) -> str:
    return "n/a" if load is None else "/".join(f"{x:.2f}" for x in load)


def parse_configs(spec: str | None) -> list:
    """"lstm-512,gru-128,default" -> [Config("lstm", 512), Config("gru", 128), DEFAULT_CONFIG];
    None -> the six char-rnn configurations and `unroll train`'s default."""
    if not spec:
        return [Config(c, h) for c in CELLS for h in SIZES] + [DEFAULT_CONFIG]
    out = []
    for item in spec.split(","):
        if item.strip() == "default":
            out.append(DEFAULT_CONFIG)
            continue
        cell, _, size = item.strip().partition("-")
        if cell not in CELLS or not size.isdigit() or int(size) < 1:
            raise ValueError(f"--configs entries look like lstm-512 (cell {'|'.join(CELLS)}, hidden size) or "
                             f"default, got {item!r}")
        out.append(Config(cell, int(size)))
    return out


def update_doc(path: Path, text: str) -> None:
    """Replace the block between <!-- bench:begin --> and <!-- bench:end --> in ``path`` with ``text``."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    doc = path.read_text(encoding="utf-8")
    if begin not in doc or end not in doc:
        raise ValueError(f"{path} has no {begin} ... {end} block to update")
    head, rest = doc.split(begin, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def _arguments(p) -> None:
    p.add_argument("--configs", default=None, help="comma-separated cell-hidden pairs, e.g. lstm-512,gru-128 "
                                                   "(default: rnn, gru, lstm x 128, 512)")
    p.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke test, noisy numbers)")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON to this file")
    p.add_argument("--update-doc", type=Path, default=None,
                   help="rewrite the bench block of this Markdown file (docs/performance.md) with the table")
    p.add_argument("--no-torch", action="store_true", help="measure unroll alone")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--no-sample", action="store_true", help="skip the sampling measurement")
    p.add_argument("--threads", default=None, metavar="LIST",
                   help="thread counts both sides run at, one per process, e.g. 2,1 (default: the cores, at most "
                        "2, and 1)")
    p.add_argument("--strategies", default="auto", metavar="LIST",
                   help=f"unroll's time-loop strategies to compare: {', '.join(STRATEGY_ENV)} (default: auto)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds of fresh processes per "
                                                            "configuration and thread count (default 5; 3 --quick)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of training before each process times "
                                                              "(default 2)")
    p.add_argument("--seconds", type=float, default=None, help="seconds each process times (default 2)")
    p.add_argument("--calibrate", action="store_true",
                   help="measure again which thread strategy (off, batch, own, data) auto runs for --configs at each of "
                        "--threads on this CPU, rewrite the calibration file next to numba's cache (and --json), "
                        "and exit")


def parse_threads(spec: str | None) -> tuple[int, ...] | None:
    """"2,1" -> (2, 1); None -> None (the default)."""
    if not spec:
        return None
    items = [item.strip() for item in spec.split(",")]
    if not all(item.isdigit() and int(item) > 0 for item in items):
        raise ValueError(f"--threads takes positive integers separated by commas, e.g. 2,1, got {spec!r}")
    return tuple(int(item) for item in items)


def parse_strategies(spec: str) -> tuple[str, ...]:
    """"off,batch" -> ("off", "batch"), each one of rounds.STRATEGY_ENV."""
    items = tuple(item.strip() for item in spec.split(","))
    bad = [item for item in items if item not in STRATEGY_ENV]
    if bad:
        raise ValueError(f"--strategies entries must be among {', '.join(STRATEGY_ENV)}, got {', '.join(bad)}")
    return items


def main(args) -> int:
    configs = parse_configs(args.configs)
    threads, strategies = parse_threads(args.threads), parse_strategies(args.strategies)
    if args.calibrate:
        done = measure.calibrate_configs(configs, threads or default_threads(),
                                         log=lambda s: print(s, file=sys.stderr, flush=True))
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": machine(), "calibration": done}, indent=2) + "\n",
                                 encoding="utf-8")
        return 0
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"--rounds must be at least 1, got {args.rounds}")
    results = run(configs, quick=args.quick, with_torch=not args.no_torch, memory=not args.no_memory,
                  log=lambda s: print(s, file=sys.stderr, flush=True), threads=threads, strategies=strategies,
                  rounds=args.rounds, warmup_s=args.warmup, measure_s=args.seconds,
                  sample=not args.no_sample)
    text = table(results)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.update_doc is not None:
        update_doc(args.update_doc, text)
    return 0


COMMANDS = (Command("bench", "training/sampling speed and memory against PyTorch", _arguments, main,
                    "Measure training tokens/s (unroll vs torch.nn, alternating), achieved GFLOP/s against numpy's "
                    "matmul rate, sampling chars/s and peak memory."),)
