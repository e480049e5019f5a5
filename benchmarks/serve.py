"""`unroll serve` under load: the runs page over 200 run folders, the cell viewer on 5,000 characters of a
2x256 LSTM, and 20 concurrent sampling requests of 200 characters (issue #24's targets); the runs table
and a compare of 20 runs at the 95th percentile, and the probes' latency (issue #32's targets).

    python benchmarks/serve.py [--data TEXT] [--json results.jsonl]      # the measurement (a few minutes)
    python benchmarks/serve.py --quick                                    # a small check that it all runs

It builds a RUNS_DIR in a temporary folder: one character LSTM trained for one step (its weights do not
change the time), and --runs - 1 more folders of its config.json and a metrics log of --log-lines records
(no checkpoints: the table does not read them); then starts
``python -m unroll serve`` as a separate process on a free port and talks to it over HTTP (httpx):

- runs page: GET / and GET /api/runs (what the page polls); the first request (every log read whole)
  and the median of 5 later ones (incremental reads). Target < 1 s.
- cell viewer: POST cells with --chars characters of the corpus; the first request (loads the model) and
  the median of 5 later ones. Target < 1 s.
- sampling: --concurrent threads each POST sample of --length characters at once, read to the end;
  p50 and p99 latency over all of them and the number of errors (target: 0).
- p95 (issue #32), --repeats requests each, after one warm-up: GET /api/runs (the table's poll); a
  compare of --compare runs: GET /api/compare?runs=... alone, and the page's whole refresh (that plus one
  GET /api/run/NAME/metrics per run, in turn). Target < 100 ms at the 95th percentile. The copies differ
  in --lr, so the settings table has a difference to show.
- probes (issue #32): p50 / p95 of POST cells, gates, rows (the unit over 4 inputs of --chars / 4
  characters) and find_units (two groups of 3 such inputs) on the --layers x --hidden model.

Figures are valid only on an idle machine (the project runs them through ../shared/tools/quiet).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def build_runs(folder: Path, data: Path | None, hidden: int, layers: int, copies: int, log_lines: int) -> Path:
    runs = folder / "runs"
    first = runs / "lm-000"
    cmd = [sys.executable, "-m", "unroll", "train", "--hidden", str(hidden), "--layers", str(layers), "--seq-len", "32",
           "--batch", "8", "--max-steps", "1", "--valid", "none", "--quiet", "--out", str(first)]
    subprocess.run(cmd + (["--data", str(data)] if data else []), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = "".join(json.dumps({"step": s, "epoch": 0, "train_loss": 4.0 / (1 + s / 100), "grad_norm": 1.0, "lr": 2e-3,
                                "tokens_per_s": 5e4, "elapsed": s * 0.1,
                                **({"valid_loss": 4.1 / (1 + s / 100)} if s % 50 == 0 else {})}) + "\n"
                    for s in range(1, log_lines + 1))
    config = json.loads((first / "config.json").read_text(encoding="utf-8"))
    for k in range(1, copies):                  # the table reads config.json and metrics.jsonl, no checkpoint
        (runs / f"lm-{k:03d}").mkdir()
        changed = {**config, "train": {**config["train"], "lr": [1e-3, 2e-3, 5e-3][k % 3]}}
        (runs / f"lm-{k:03d}" / "config.json").write_text(json.dumps(changed), encoding="utf-8")
        (runs / f"lm-{k:03d}" / "metrics.jsonl").write_text(lines, encoding="utf-8")
    return runs


def start_server(runs: Path, slots: int):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "unroll", "serve", str(runs), "--port", str(port), "--slots",
                             str(slots)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(base + "/favicon.ico", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def first_and_median(fn, repeats: int = 5) -> dict:
    first, _ = timed(fn)
    later = [timed(fn)[0] for _ in range(repeats)]
    return {"first_s": round(first, 4), "median_s": round(statistics.median(later), 4)}


def percentiles(fn, repeats: int) -> dict:
    """p50 and p95 latency of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = sorted(timed(fn)[0] for _ in range(repeats))
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"requests": repeats, "p50_s": round(statistics.median(times), 4), "p95_s": round(p95, 4)}


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:200]}")
    return response


def latency(client: httpx.Client, text: str, args) -> dict:
    """Issue #32's figures: the table, a compare of args.compare runs, and the probes (see the module doc)."""
    names = [f"lm-{k:03d}" for k in range(args.compare)]
    query = "/api/compare?runs=" + ",".join(names)
    assert len(check(client.get(query)).json()["differ"]) == 1                       # train.lr

    def page():
        check(client.get(query))
        for name in names:
            check(client.get(f"/api/run/{name}/metrics"))
    piece = text[:max(1, len(text) // 4)]
    run = "/api/run/lm-000/"
    probes = {"cells": lambda: check(client.post(run + "cells", json={"text": text})),
              "gates": lambda: check(client.post(run + "gates", json={"text": text})),
              "rows": lambda: check(client.post(run + "rows", json={"texts": [piece] * 4, "unit": 0})),
              "find_units": lambda: check(client.post(run + "find_units", json={"a": [piece] * 3, "b": [piece[::-1]] * 3}))}
    return {"table": percentiles(lambda: check(client.get("/api/runs")), args.repeats),
            "compare_api": percentiles(lambda: check(client.get(query)), args.repeats),
            "compare_page": percentiles(page, args.repeats),
            "probes": {name: percentiles(fn, max(3, args.repeats // 4)) for name, fn in probes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="corpus (default: the bundled tiny Shakespeare)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--log-lines", type=int, default=1000, help="metrics records per copied run")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--compare", type=int, default=20, help="runs in the compare measured")
    parser.add_argument("--repeats", type=int, default=40, help="requests per p95 figure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs (no timing)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.log_lines, args.hidden, args.layers = 5, 50, 16, 2
        args.chars, args.concurrent, args.length, args.compare, args.repeats = 300, 4, 20, 4, 5
    with tempfile.TemporaryDirectory() as tmp:
        runs = build_runs(Path(tmp), args.data, args.hidden, args.layers, args.runs, args.log_lines)
        from unroll.data.text import load_bundled, read_text
        text = (read_text(args.data) if args.data else load_bundled("tinyshakespeare"))[:args.chars]
        proc, base = start_server(runs, args.slots)
        try:
            client = httpx.Client(base_url=base, timeout=300)
            listing = first_and_median(lambda: (check(client.get("/")), check(client.get("/api/runs"))))
            assert len(client.get("/api/runs").json()["runs"]) == args.runs
            cells = first_and_median(lambda: check(client.post("/api/run/lm-000/cells", json={"text": text})))
            p95 = latency(client, text, args)
            assert len(client.post("/api/run/lm-000/cells", json={"text": text}).json()["text"]) == len(text)

            def sample(seed: int):
                start = time.perf_counter()
                try:
                    with httpx.stream("POST", base + "/api/run/lm-000/sample", timeout=300,
                                      json={"prime": "\n", "length": args.length, "seed": seed}) as r:
                        body = "".join(r.iter_text())
                        ok = r.status_code == 200 and len(body) >= args.length
                except httpx.HTTPError:
                    ok = False
                return time.perf_counter() - start, ok
            check(client.post("/api/run/lm-000/sample", json={"length": 1}))          # compiled, cached
            with ThreadPoolExecutor(args.concurrent) as pool:
                results = list(pool.map(sample, range(args.concurrent)))
            latencies = sorted(t for t, _ in results)
            p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
            sampling = {"requests": args.concurrent, "length": args.length, "errors": sum(not ok for _, ok in results),
                        "p50_s": round(statistics.median(latencies), 4), "p99_s": round(p99, 4)}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    from unroll.bench.measure import provenance
    result = {**provenance(), "benchmark": "serve", "quick": args.quick, "runs": args.runs, "log_lines": args.log_lines,
              "model": f"{args.layers}x{args.hidden} lstm", "chars": args.chars, "slots": args.slots,
              "runs_page": listing, "cells": cells, "sampling": sampling, **p95,
              "targets": {"runs_page_below_1s": listing["median_s"] < 1.0, "cells_below_1s": cells["median_s"] < 1.0,
                          "sampling_no_error": sampling["errors"] == 0,
                          "table_p95_below_100ms": p95["table"]["p95_s"] < 0.1,
                          "compare_p95_below_100ms": p95["compare_api"]["p95_s"] < 0.1}}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result) + "\n")
    if sampling["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
