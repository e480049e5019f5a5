"""Checkpoints: weights in safetensors, everything else in JSON, written atomically, checksummed. Never pickle.

A run folder holds::

    config.json                    model and training settings, vocabulary (written once)
    metrics.jsonl                  one JSON object per logged step
    lock                           held (fcntl.flock) by the process training in this folder; see train/lock.py
    checkpoints/step-00001500/     model.safetensors   the parameters
                                   train.safetensors   optimizer arrays, carried hidden state, BPTT history
                                   state.json          step, counters, optimizer scalars, RNG, data position,
                                                       and "checksums": SHA-256 of both safetensors files and
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
says which ones it skipped (``unroll train --resume`` uses it).

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

KEEP_LAST = 2
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


def save(run_dir: Path, step: int, params: dict, train_arrays: dict, state: dict) -> Path:
    """Write checkpoint ``step`` into run_dir/checkpoints and point ``latest`` at it.

    Raises CheckpointError (one line) if the disk refuses the write; nothing already written is touched.
    """
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


def load(folder: Path, expected_params: dict[str, tuple]) -> tuple[dict, dict, dict]:
    """Read and verify a checkpoint folder; check every parameter's name and shape against ``expected_params``.

    returns (params, train_arrays, state); a damaged file is a one-line ValueError that names it
    """
    folder = Path(folder)
    state = read_json(folder / "state.json", "checkpoint file")
    sums = state.pop("checksums", None)
    if not isinstance(sums, dict) or not all(isinstance(sums.get(k), str) for k in (*FILES, "state")):
        raise ValueError(f"checkpoint file {folder / 'state.json'} is damaged: it has no valid 'checksums' entry")
    if _state_sha256(state) != sums["state"]:
        raise ValueError(f"checkpoint file {folder / 'state.json'} is damaged: its SHA-256 differs from the one it records")
    counters = state.get("counters")
    if not isinstance(counters, dict) or type(counters.get("step")) is not int or counters["step"] < 0:
        raise ValueError(f"checkpoint file {folder / 'state.json'} has no valid counters.step")
    params, train_arrays = (_load_tensors(folder / file, sums[file]) for file in FILES)
    check_shapes(params, expected_params, str(folder / "model.safetensors"))
    return params, train_arrays, state


def find_good(run_dir: Path, expected_params: dict[str, tuple]):
    """The newest checkpoint that loads cleanly, starting from ``latest``.

    returns (folder, (params, train_arrays, state), skipped) with skipped a list of one-line reasons for
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
            return folder, load(folder, expected_params), skipped
        except ValueError as err:
            skipped.append(str(err))
            first_error = first_error or err
    if first_error is not None:
        older = f"; no older checkpoint loads either ({len(skipped) - 1} tried)" if len(skipped) > 1 else ""
        raise ValueError(f"{first_error}{older}")
    return None, None, []


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

def _load_tensors(path: Path, sha256: str) -> dict:
    if not path.is_file():
        raise ValueError(f"checkpoint file {path} is missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
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
