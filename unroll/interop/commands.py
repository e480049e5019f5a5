"""``unroll export`` and ``unroll import``: thin CLI glue over lm_torch and lm_onnx."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unroll.command import Command


def _export_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("--to", nargs=2, required=True, metavar=("FORMAT", "OUT"),
                   help="torch OUT.safetensors | onnx OUT.onnx")


def _import_arguments(p) -> None:
    p.add_argument("model", type=Path, help="safetensors file with embed.*, rnn.*, out.* tensors")
    p.add_argument("--vocab", type=Path, required=True, help="vocabulary JSON (unroll's, or a list of tokens)")
    p.add_argument("--out", type=Path, required=True, help="run folder to create")
    p.add_argument("--activation", choices=("tanh", "relu"), default=None,
                   help="an RNN's nonlinearity (default: the file's metadata, else tanh)")


def cmd_export(args, runs) -> int:
    from unroll.interop import lm_onnx, lm_torch
    from unroll.runs import checkpoint
    fmt, out = args.to[0], Path(args.to[1])
    writers = {"torch": lm_torch.save_torch, "onnx": lm_onnx.save_onnx}
    if fmt not in writers:
        raise ValueError(f"--to must be torch or onnx, got {fmt!r}")
    if out.is_dir():
        raise ValueError(f"--to {fmt} {out}: {out} is a folder; give a file name, e.g. {out / ('model.' + fmt)}")
    if not out.parent.is_dir():
        raise ValueError(f"--to {fmt} {out}: the folder {out.parent} does not exist")
    from unroll.models.language_model import LanguageModel
    from unroll.models.lm_ensemble import LMEnsemble
    task, model, info = runs.load(args.run_dir)                  # after the checks of the command line
    if isinstance(model, LMEnsemble):
        raise ValueError(f"export writes one language model; {args.run_dir} holds an ensemble of "
                         f"{len(model.members)} (--members {len(model.members)})")
    if not isinstance(model, LanguageModel):
        raise ValueError(f"export writes language models; {args.run_dir} holds a {info['task']!r} run")
    vocab = task.vocab
    writers[fmt](model, out)
    vocab_path = out.with_suffix(".vocab.json")
    checkpoint.write_json_atomic(vocab_path, vocab.to_json())
    for path in (out, vocab_path):                 # files to share: the usual mode (0644 under umask 022)
        _readable_by_all(path)
    print(json.dumps({"model": str(out), "vocab": str(vocab_path), "step": info["step"], "format": fmt}))
    return 0


def _readable_by_all(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def cmd_import(args) -> int:
    from unroll.interop import lm_torch
    out = lm_torch.import_model(args.model, args.vocab, args.out, args.activation)
    print(f"run folder: {out} (sample it with: unroll sample {out}; evaluate with: unroll eval {out} --data FILE)",
          file=sys.stderr)
    return 0


COMMANDS = (
    Command("export", "write a run's model as a torch state_dict (safetensors) or an ONNX graph", _export_arguments,
            cmd_export, "Write the latest checkpoint of RUN_DIR for torch.nn (safetensors state_dict) or ONNX, and "
            "its vocabulary beside it as OUT.vocab.json. See docs/interop.md.", needs="runs"),
    Command("import", "make a run folder from a torch state_dict (safetensors) and a vocabulary", _import_arguments,
            cmd_import, "Make a run folder that sample and eval --data load, from a safetensors state_dict of "
            "Embedding + RNN/LSTM/GRU + Linear (docs/interop.md)."),
)
