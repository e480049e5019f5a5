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
Where ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are set (to work around older OpenBLAS builds), numpy runs
an older, slower kernel while torch (no OpenBLAS) does not: benchmark with both unset in that command alone,
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE unroll bench``; the table reports the kernel and these settings.

The code: ``workload`` (batches from the real data pipeline, one training step per side), ``measure`` (the
measurements, the machine), and here the whole run, the table and the command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unroll.command import Command
from unroll.bench.measure import (MACHINE_ENV, alternate, machine, matmul_rate, maxrss_mib, peak_rss, rss_child,  # noqa: F401
                                  sample_speed, train_speed)
from unroll.bench.workload import (CELLS, CLIP, GATES, LAYERS, LR, SIZES, N, T, TorchTrainer,  # noqa: F401
                                   UnrollTrainer, corpus_batches, threads, torch_with_threads, train_flops_per_token)

TARGETS = {"train_ratio": 1.25, "sample_ratio": 3.0, "matmul_fraction": 0.75}


# ----------------------------------------------------------------------------------------------------
# The whole run, the table, the command.

def run(configs, quick: bool = False, with_torch: bool = True, memory: bool = True, log=print) -> dict:
    """Every measurement for ``configs`` [(cell, H)]; returns the JSON-able results."""
    with_torch = with_torch and torch_with_threads() is not None
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
        log(train_line(r))
    results["sample"] = sample_speed(length=100 if quick else 400, rounds=3 if quick else 7, with_torch=with_torch)
    log(f"sampling 2x512 LSTM, batch 1: unroll {results['sample']['unroll_chars_per_s']:.0f} chars/s"
        + (f", torch {results['sample']['torch_chars_per_s']:.0f}, x{results['sample']['ratio']:.2f}"
           if with_torch else ""))
    results["machine"]["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def train_line(r: dict) -> str:
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
              f"({mach['blas']}, kernel {mach['blas_kernel']}), numba {mach['numba']}, torch {mach['torch']}; "
              f"{mach['threads']} threads per side; environment {mach['env'] or 'none of ' + ', '.join(MACHINE_ENV)}; "
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


def _arguments(p) -> None:
    p.add_argument("--configs", default=None, help="comma-separated cell-hidden pairs, e.g. lstm-512,gru-128 "
                                                   "(default: rnn, gru, lstm x 128, 512)")
    p.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke test, noisy numbers)")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON to this file")
    p.add_argument("--update-doc", type=Path, default=None,
                   help="rewrite the bench block of this Markdown file (docs/performance.md) with the table")
    p.add_argument("--no-torch", action="store_true", help="measure unroll alone")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")


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


COMMANDS = (Command("bench", "training/sampling speed and memory against PyTorch", _arguments, main,
                    "Measure training tokens/s (unroll vs torch.nn, alternating), achieved GFLOP/s against numpy's "
                    "matmul rate, sampling chars/s and peak memory."),)
