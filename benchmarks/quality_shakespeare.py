"""Quality on tiny Shakespeare: validation loss (nats/char, last 10% held out) after a time budget.

    python benchmarks/quality_shakespeare.py                       # `unroll train --max-time 600`, defaults
    python benchmarks/quality_shakespeare.py --seconds 3600 -- --hidden 512 --dropout 0.25   # a config
    python benchmarks/quality_shakespeare.py --torch               # torch.nn 2x256 LSTM, same data and budget

Writes a JSON line to stdout (and appends it to --json) with the date, machine and command, the final
validation loss and steps. The
unroll side runs the real CLI in a subprocess; the torch side trains embedding -> nn.LSTM -> linear with
Adam and clipping on the same split, batches and evaluation (every validation token exactly once).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_unroll(seconds: float, extra: list[str], keep: Path | None = None) -> dict:
    """keep: the run folder's path (kept, and its validation curve recorded); else a temporary one."""
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "run"
        cmd = [sys.executable, "-m", "unroll", "train", "--max-time", str(seconds), "--out", str(out), *extra]
        start = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        record = json.loads(done.stdout.strip().splitlines()[-1])
        config = json.loads((out / "config.json").read_text())
        return {"side": "unroll", "train_command": " ".join(["unroll", "train", "--max-time", str(seconds), *extra]),
                "valid_loss": record["valid_loss"], "step": record["step"], "wall_s": round(time.time() - start, 1),
                "model": config["network"], "members": config.get("ensemble", {}).get("members", 1),
                "train": {"seq_len": config["bptt"]["seq_len"],
                          **{k: config["train"][k] for k in ("batch_size", "lr", "optimizer", "schedule", "min_lr")}},
                **({"curve": validation_curve(out)} if keep else {})}


def validation_curve(run: Path) -> list[dict]:
    """[{"step", "valid_loss", "train_loss"}] at each evaluation of the run (its metrics.jsonl; the training
    loss is the last one logged at or before that step)."""
    from unroll.runs.folder import RunFolder
    curve, train_loss = [], None
    for record in RunFolder(run).metrics():
        train_loss = record.get("train_loss", train_loss)
        if "valid_loss" in record:
            curve.append({"step": record["step"], "valid_loss": record["valid_loss"], "train_loss": train_loss})
    return curve


def run_torch(seconds: float, hidden: int, layers: int, seq_len: int, batch: int, lr: float) -> dict:
    import numpy as np
    import torch

    from unroll.data import CharVocab, StreamBatcher, eval_batches, load_bundled, split
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    text = load_bundled()
    vocab = CharVocab.from_text(text)
    train_ids, valid_ids = split(vocab.encode(text), 0.1)
    V = len(vocab)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, hidden)
            self.rnn = torch.nn.LSTM(hidden, hidden, layers)
            self.out = torch.nn.Linear(hidden, V)

        def forward(self, x, state=None):
            h, state = self.rnn(self.emb(x), state)
            return self.out(h), state

    model = LM()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batcher = StreamBatcher(train_ids, batch, seq_len)
    start, steps, state = time.time(), 0, None
    while time.time() - start < seconds:
        x, y = next(batcher)
        if batcher.reset_state:
            state = None
        logits, state = model(torch.from_numpy(x.astype(np.int64)), state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        steps += 1
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y, mask in eval_batches(valid_ids, batch, seq_len):
            logits, state = model(torch.from_numpy(x.astype(np.int64)), state)
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1),
                                                    reduction="none").numpy()
            total += float((nll * mask.reshape(-1)).sum())
            count += int(mask.sum())
    return {"side": "torch", "valid_loss": total / count, "step": steps, "wall_s": round(time.time() - start, 1),
            "model": {"hidden_size": hidden, "num_layers": layers, "cell": "lstm", "dropout": 0.0},
            "train": {"seq_len": seq_len, "batch_size": batch, "lr": lr, "optimizer": "adam", "schedule": "constant"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--torch", action="store_true", help="train the torch.nn reference instead")
    parser.add_argument("--json", type=Path, help="append the result to this file")
    parser.add_argument("--keep", type=Path, help="train into this run folder and keep it (the result gets the "
                        "validation curve from its metrics)")
    parser.add_argument("extra", nargs="*", help="options passed to `unroll train` (after --)")
    args = parser.parse_args()
    result = run_torch(args.seconds, 256, 2, 100, 32, 2e-3) if args.torch else run_unroll(args.seconds, args.extra, args.keep)
    from unroll.bench.measure import provenance   # after training: the torch side's process loads no unroll before
    result = provenance() | result | {"bits_per_char": result["valid_loss"] / math.log(2)}
    line = json.dumps(result)
    print(line)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
