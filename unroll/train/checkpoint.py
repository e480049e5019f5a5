"""Checkpoints: weights in safetensors, everything else in JSON, written atomically. Never pickle.

A run folder holds::

    config.json                    model and training settings, vocabulary (written once)
    metrics.jsonl                  one JSON object per logged step
    checkpoints/step-00001500/     model.safetensors   the parameters
                                   train.safetensors   optimizer arrays, carried hidden state, BPTT history
                                   state.json          step, counters, optimizer scalars, RNG, data position
    latest                         the name of the newest complete checkpoint folder

A checkpoint folder is written under a temporary name, flushed to disk, renamed into place, and only then
is ``latest`` replaced (write to a temporary file + ``os.replace``). An interruption at any moment leaves
``latest`` naming a complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

KEEP_LAST = 2


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path, what: str) -> dict:
    """Read a JSON file, with a one-line error naming it if it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON: {err}") from None


def save(run_dir: Path, step: int, params: dict, train_arrays: dict, state: dict) -> Path:
    """Write checkpoint ``step`` into run_dir/checkpoints and point ``latest`` at it."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = root / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: np.ascontiguousarray(v) for k, v in params.items()}, str(tmp / "model.safetensors"))
    save_file({k: np.ascontiguousarray(v) for k, v in train_arrays.items()}, str(tmp / "train.safetensors"))
    write_json_atomic(tmp / "state.json", state)
    _fsync_dir(tmp)
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(root)
    latest_tmp = Path(run_dir) / "latest.tmp"
    latest_tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(latest_tmp, Path(run_dir) / "latest")
    _prune(root, keep=name)
    return final


def latest(run_dir: Path) -> Path:
    """The newest complete checkpoint folder of a run, or a one-line error saying what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist")
    pointer = run_dir / "latest"
    if not pointer.is_file():
        raise ValueError(f"run folder {run_dir} has no checkpoint (the file 'latest' is missing)")
    folder = run_dir / "checkpoints" / pointer.read_text(encoding="utf-8").strip()
    if not folder.is_dir():
        raise ValueError(f"run folder {run_dir}: 'latest' names {folder.name}, which is missing")
    return folder


def load(folder: Path, expected_params: dict[str, tuple]) -> tuple[dict, dict, dict]:
    """Read a checkpoint folder; validate every parameter's name and shape against ``expected_params``.

    returns (params, train_arrays, state)
    """
    folder = Path(folder)
    params = _load_tensors(folder / "model.safetensors")
    train_arrays = _load_tensors(folder / "train.safetensors")
    state = read_json(folder / "state.json", "checkpoint state")
    check_shapes(params, expected_params, str(folder / "model.safetensors"))
    return params, train_arrays, state


def check_shapes(params: dict, expected: dict[str, tuple], source: str) -> None:
    """One-line errors for missing, unexpected or misshapen parameters."""
    missing = [k for k in expected if k not in params]
    if missing:
        raise ValueError(f"{source} is missing parameter(s) {', '.join(missing)}")
    extra = [k for k in params if k not in expected]
    if extra:
        raise ValueError(f"{source} has unexpected parameter(s) {', '.join(extra)}")
    for key, shape in expected.items():
        if tuple(params[key].shape) != tuple(shape):
            raise ValueError(f"{source}: parameter {key} has shape {tuple(params[key].shape)}, the model expects {tuple(shape)}")


def _load_tensors(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"checkpoint file {path} is missing")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise ValueError(f"checkpoint file {path} cannot be read: {err}") from None


def _prune(root: Path, keep: str) -> None:
    """Delete all but the newest KEEP_LAST checkpoint folders (never the one just written)."""
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and not p.name.endswith(".tmp"))
    for name in names[:-KEEP_LAST]:
        if name != keep:
            shutil.rmtree(root / name, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
