"""Checkpoints: weights in safetensors, everything else in JSON, written atomically. Never pickle.

A run folder holds::

    config.json                    the task, its settings, what it prepared (vocabulary ...) (written once)
    metrics.jsonl                  one JSON object per logged step
    checkpoints/step-00001500/     model.safetensors   the parameters, under their own names
                                   train.safetensors   every other component's arrays, "<component>.<name>"
                                                       (optimizer moments, carried state, BPTT history)
                                   state.json          every component's scalars by name (counters,
                                                       optimizer, batches, RNG, carry) and the format
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

from unroll import __version__

KEEP_LAST = 2
FORMAT = 2            # 1: unroll 0.1 (fixed fields); 2: components saved by name


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


def save(run_dir: Path, step: int, components: dict) -> Path:
    """Write checkpoint ``step`` of ``components`` (name -> state_dict() holder) and point ``latest`` at it.

    The "model" component's arrays go to model.safetensors under their own names; every other component's
    arrays to train.safetensors as "<component>.<name>"; all scalars to state.json under the component name.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = root / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    params, train_arrays, scalars = {}, {}, {}
    for component, holder in components.items():
        arrays, scalars[component] = holder.state_dict()
        if component == "model":
            params = arrays
        else:
            train_arrays.update({f"{component}.{k}": v for k, v in arrays.items()})
    save_file({k: np.ascontiguousarray(v) for k, v in params.items()}, str(tmp / "model.safetensors"))
    save_file({k: np.ascontiguousarray(v) for k, v in train_arrays.items()}, str(tmp / "train.safetensors"))
    write_json_atomic(tmp / "state.json", {"format": FORMAT, "unroll_version": __version__, "step": step,
                                           "components": scalars})
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


def read(folder: Path, expected_params: dict[str, tuple]) -> dict[str, tuple[dict, dict]]:
    """Every component of a checkpoint folder as {name: (arrays, scalars)}; the parameters ("model") are
    checked by name and shape against ``expected_params``. Checkpoints of unroll 0.1 are upgraded."""
    folder = Path(folder)
    params = _load_tensors(folder / "model.safetensors")
    check_shapes(params, expected_params, str(folder / "model.safetensors"))
    train_arrays = _load_tensors(folder / "train.safetensors")
    state = read_json(folder / "state.json", "checkpoint state")
    if "format" not in state:
        return {"model": (params, {}), **_upgrade_v1(train_arrays, state)}
    if state["format"] != FORMAT:
        raise ValueError(f"checkpoint {folder} was written by unroll {state.get('unroll_version', '?')} "
                         f"(format {state['format']}); this is unroll {__version__}, which reads format {FORMAT}")
    named = {"model": (params, {})}
    for component, scalars in state["components"].items():
        if component == "model":
            continue
        prefix = component + "."
        named[component] = ({k[len(prefix):]: v for k, v in train_arrays.items() if k.startswith(prefix)}, scalars)
    return named


def load(folder: Path, components: dict) -> dict[str, tuple[dict, dict]]:
    """Restore ``components`` (name -> load_state_dict() holder) from a checkpoint folder, by name."""
    expected = {k: v.shape for k, v in components["model"].state_dict()[0].items()}
    named = read(folder, expected)
    missing = sorted(set(components) - set(named))
    if missing:
        raise ValueError(f"checkpoint {folder} has no state for {', '.join(missing)}")
    for component, holder in components.items():
        holder.load_state_dict(*named[component])
    return named


def _upgrade_v1(arrays: dict, state: dict) -> dict[str, tuple[dict, dict]]:
    """unroll 0.1's layout (optimizer.*, bptt.state.i, bptt.history.x/y; batcher, rng, counters) by name."""
    from unroll.train.state import save_tree
    try:
        parts = [arrays[k] for k in sorted(k for k in arrays if k.startswith("bptt.state."))]
        carry = None
        if parts:
            history = (arrays["bptt.history.x"], arrays["bptt.history.y"]) if "bptt.history.x" in arrays else None
            carry = {"state": tuple(parts) if len(parts) > 1 else parts[0], "history": history}
        carry_arrays, spec = save_tree(carry)
        return {"optimizer": ({k[len("optimizer."):]: v for k, v in arrays.items() if k.startswith("optimizer.")},
                              state["optimizer"]),
                "carry": (carry_arrays, {"tree": spec}), "batches": ({}, state["batcher"]),
                "rng": ({}, state["rng"]), "counters": ({}, state["counters"])}
    except KeyError as err:
        raise ValueError(f"checkpoint state of unroll 0.1 lacks {err}; it cannot be resumed") from None


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
