"""Checkpoints: weights in safetensors, everything else in JSON, written atomically, checksummed. Never pickle.

A run folder holds::

    config.json                    the task, its settings, what it prepared (vocabulary ...) (written once)
    metrics.jsonl                  one JSON object per logged step
    lock                           held (fcntl.flock) by the process training in this folder; see runs/lock.py
    checkpoints/step-00001500/     model.safetensors   the parameters, under their own names
                                   train.safetensors   every other component's arrays, "<component>.<name>"
                                                       (optimizer moments, carried state, BPTT history;
                                                       with --ema the raw training weights, "raw.<name>",
                                                       while model.safetensors holds their average)
                                   state.json          every component's scalars by name (counters,
                                                       optimizer, batches, RNG, carry), the format, and
                                                       "checksums": SHA-256 of both safetensors files and
                                                       of the rest of state.json
    latest                         the name of the newest complete checkpoint folder

Writing: the folder is built under a temporary name, every file flushed to disk, renamed into place, and
only then is ``latest`` replaced (temporary file + ``os.replace``). A folder name is never reused (a second
checkpoint of one step gets a suffix), so ``latest`` never names a folder that is being deleted. An
interruption at any moment (kill -9 included) leaves ``latest`` naming a complete checkpoint. A write that
fails (disk full) removes its temporary folder and raises ``CheckpointError``; the previous checkpoint and
``latest`` are untouched.

Reading: every file is checked against its checksum, so a truncated or bit-flipped file is a one-line
error naming it. ``find_good`` walks back from ``latest`` to the newest checkpoint that reads cleanly and
says which ones it skipped (``unroll train --resume`` uses it). Checkpoints of unroll 0.1 (no "format",
no checksums) are read and upgraded.

Fault hooks for the tests: with ``UNROLL_FAULT_PAUSE=seconds`` set, ``save`` writes the name of each stage
to RUN_DIR/fault-point and sleeps that long there, so a test can kill the process inside a write.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors_bytes, save as tensors_bytes

from unroll._version import __version__

KEEP_LAST = 2
FORMAT = 2            # 1: unroll 0.1 (fixed fields); 2: components saved by name
FILES = ("model.safetensors", "train.safetensors")


class CheckpointError(ValueError):
    """A checkpoint could not be written (the previous one is intact) or read."""


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    _write_bytes(path.with_name(path.name + ".tmp"), json.dumps(data, indent=1).encode("utf-8"))
    os.replace(path.with_name(path.name + ".tmp"), path)


def read_json(path: Path, what: str) -> dict:
    """Read a JSON object from a file, with a one-line error naming it if it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} is missing")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{what} {path} is not valid JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def save(run_dir: Path, step: int, components: dict) -> Path:
    """Write checkpoint ``step`` of ``components`` (name -> state_dict() holder) and point ``latest`` at it.

    The "model" component's arrays go to model.safetensors under their own names; every other component's
    arrays to train.safetensors as "<component>.<name>"; all scalars to state.json under the component name.
    Raises CheckpointError (one line) if the disk refuses the write; nothing already written is touched.
    """
    params, train_arrays, scalars = {}, {}, {}
    for component, holder in components.items():
        arrays, scalars[component] = holder.state_dict()
        if component == "model":
            params = arrays
        else:
            train_arrays.update({f"{component}.{k}": v for k, v in arrays.items()})
    state = {"format": FORMAT, "unroll_version": __version__, "step": step, "components": scalars}
    state = json.loads(json.dumps(state))                    # as a reader will see it (tuples -> lists ...)
    run_dir, root = Path(run_dir), Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    name = _fresh_name(root, step)
    tmp = root / (name + ".tmp")
    try:
        tmp.mkdir()
        sums = {}
        for file, arrays in zip(FILES, (params, train_arrays)):
            data = tensors_bytes({k: np.ascontiguousarray(v) for k, v in arrays.items()})
            sums[file] = hashlib.sha256(data).hexdigest()
            _write_bytes(tmp / file, data)
            _fault_point(run_dir, f"wrote {file}")
        sums["state"] = _state_sha256(state)
        _write_bytes(tmp / "state.json", json.dumps({**state, "checksums": sums}, indent=1).encode("utf-8"))
        _fsync_dir(tmp)
        _fault_point(run_dir, "wrote state.json")
        os.replace(tmp, root / name)
        _fsync_dir(root)
        _fault_point(run_dir, "renamed the folder")
        _write_bytes(run_dir / "latest.tmp", (name + "\n").encode("utf-8"))
        os.replace(run_dir / "latest.tmp", run_dir / "latest")
        _fault_point(run_dir, "replaced latest")
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = _pointer(run_dir)
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointError(f"cannot write checkpoint {name} in {run_dir}: {err.strerror or err}; {kept}") from None
    _prune(root, keep=name)
    _fault_point(run_dir, "pruned")
    return root / name


def latest(run_dir: Path) -> Path:
    """The newest complete checkpoint folder of a run, or a one-line error saying what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist")
    if not (run_dir / "latest").is_file():
        raise ValueError(f"run folder {run_dir} has no checkpoint (the file 'latest' is missing)")
    name = _pointer(run_dir)
    if name is None:
        raise ValueError(f"run folder {run_dir}: the file 'latest' is damaged (it names no checkpoint folder)")
    folder = run_dir / "checkpoints" / name
    if not folder.is_dir():
        raise ValueError(f"run folder {run_dir}: the file 'latest' names {name}, which is missing")
    return folder


def read(folder: Path, expected_params: dict[str, tuple]) -> dict[str, tuple[dict, dict]]:
    """Every component of a checkpoint folder as {name: (arrays, scalars)}, each file verified against its
    checksum; the parameters ("model") are checked by name and shape against ``expected_params``.
    Checkpoints of unroll 0.1 are upgraded. A damaged file is a one-line ValueError that names it."""
    folder = Path(folder)
    path = folder / "state.json"
    state = read_json(path, "checkpoint file")
    if "format" not in state:                                 # unroll 0.1: no checksums
        params = _load_tensors(folder / "model.safetensors")
        check_shapes(params, expected_params, str(folder / "model.safetensors"))
        return {"model": (params, {}), **_upgrade_v1(_load_tensors(folder / "train.safetensors"), state)}
    if state["format"] != FORMAT:
        raise ValueError(f"checkpoint {folder} was written by unroll {state.get('unroll_version', '?')} "
                         f"(format {state['format']}); this is unroll {__version__}, which reads format {FORMAT}")
    sums = state.pop("checksums", None)
    if not isinstance(sums, dict) or not all(isinstance(sums.get(k), str) for k in (*FILES, "state")):
        raise ValueError(f"checkpoint file {path} is damaged: it has no valid 'checksums' entry")
    if _state_sha256(state) != sums["state"]:
        raise ValueError(f"checkpoint file {path} is damaged: its SHA-256 differs from the one it records")
    components = state.get("components")
    if not isinstance(components, dict) or not all(isinstance(v, dict) for v in components.values()):
        raise ValueError(f"checkpoint file {path} has no valid 'components' entry")
    step = components.get("counters", {}).get("step")
    if type(step) is not int or step < 0:
        raise ValueError(f"checkpoint file {path} has no valid counters.step")
    params, train_arrays = (_load_tensors(folder / file, sums[file]) for file in FILES)
    check_shapes(params, expected_params, str(folder / "model.safetensors"))
    named = {"model": (params, {})}
    for component, scalars in components.items():
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
        try:
            holder.load_state_dict(*named[component])
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as err:
            raise ValueError(f"checkpoint file {Path(folder) / 'state.json'}: the {component} state does not fit "
                             f"this run ({type(err).__name__} {err})".replace("\n", " ")) from None
    return named


def find_good(run_dir: Path, expected_params: dict[str, tuple]):
    """The newest checkpoint that loads cleanly, starting from ``latest``.

    returns (folder, {component: (arrays, scalars)}, skipped) with skipped a list of one-line reasons for
    each damaged checkpoint passed over; (None, None, []) when the run has no checkpoint at all.
    Raises the newest checkpoint's error when none of them loads.
    """
    run_dir, skipped, first_error = Path(run_dir), [], None
    candidates = []
    try:
        candidates.append(latest(run_dir))
    except ValueError as err:
        if (run_dir / "latest").exists():
            skipped.append(str(err))
            first_error = err
    pointed = candidates[0].name if candidates else None
    older = [f for f in _folders(run_dir / "checkpoints") if pointed is None or f.name < pointed]
    candidates += sorted(older, key=lambda f: f.name, reverse=True)
    for folder in candidates:
        try:
            return folder, read(folder, expected_params), skipped
        except ValueError as err:
            skipped.append(str(err))
            first_error = first_error or err
    if first_error is not None:
        older = f"; no older checkpoint loads either ({len(skipped) - 1} tried)" if len(skipped) > 1 else ""
        raise ValueError(f"{first_error}{older}")
    return None, None, []


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


# ----------------------------------------------------------------------------------------------------
# Helpers.

def _load_tensors(path: Path, sha256: str | None = None) -> dict:
    if not path.is_file():
        raise ValueError(f"checkpoint file {path} is missing")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"checkpoint file {path} is damaged ({len(data)} bytes): its SHA-256 differs from the "
                         "one recorded in state.json (truncated or overwritten)")
    try:
        return load_tensors_bytes(data)
    except (SafetensorError, ValueError, TypeError) as err:
        raise ValueError(f"checkpoint file {path} cannot be read: {str(err).splitlines()[0]}") from None


def _state_sha256(state: dict) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode("utf-8")).hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    """Write and fsync ``data``; the one place checkpoints touch the disk (tests make it fail: disk full)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _pointer(run_dir: Path) -> str | None:
    """The folder name in run_dir/latest, or None if it is missing or unreadable."""
    try:
        name = (Path(run_dir) / "latest").read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if name.startswith("step-") and "/" not in name and "\x00" not in name else None


def _folders(root: Path) -> list[Path]:
    """Complete checkpoint folders (not *.tmp), oldest first: names sort by step, then by suffix."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"step-\d{8}(-\d{2})?", p.name)),
                  key=lambda p: p.name)


def _step_of(name: str) -> int:
    return int(name[5:13])


def _fresh_name(root: Path, step: int) -> str:
    """step-00001500, or step-00001500-01, -02 ... if a folder of that step exists (names are never reused)."""
    name, k = f"step-{step:08d}", 0
    while (root / name).exists():
        k += 1
        name = f"step-{step:08d}-{k:02d}"
    return name


def _prune(root: Path, keep: str) -> None:
    """Delete checkpoints of ``keep``'s step or later (superseded, or a future abandoned by a resume from an
    older checkpoint, damaged ones included) and all but the newest KEEP_LAST; never ``keep`` itself."""
    step = _step_of(keep)
    folders = [f for f in _folders(root) if _step_of(f.name) < step or f.name == keep]
    doomed = [f for f in _folders(root) if _step_of(f.name) >= step] + folders[:-KEEP_LAST]
    for folder in doomed:
        if folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fault_point(run_dir: Path, stage: str) -> None:
    """Test hook (UNROLL_FAULT_PAUSE=seconds): record the stage in run_dir/fault-point and pause there."""
    pause = os.environ.get("UNROLL_FAULT_PAUSE")
    if pause:
        (Path(run_dir) / "fault-point").write_text(stage, encoding="utf-8")
        time.sleep(float(pause))
