"""The run folder's files read by hand (tests check the library's loaders against these, not with them).

safetensors: an 8-byte little-endian header length, a JSON header {name: {"dtype", "shape",
"data_offsets"}}, then the raw little-endian bytes (https://github.com/huggingface/safetensors)."""

import json
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?"}


def header(path) -> dict:
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return {k: v for k, v in json.loads(data[8:8 + n]).items() if k != "__metadata__"}


def tensors(path) -> dict[str, np.ndarray]:
    """{name: array} of a safetensors file, decoded from its bytes."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    out = {}
    for name, h in header(path).items():
        start, end = h["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + start:8 + n + end], DTYPES[h["dtype"]]).reshape(h["shape"])
    return out


def checkpoint_dir(run_dir, best: bool = False) -> Path:
    """The folder of the latest (or best/'s) checkpoint, by its `latest` pointer."""
    root = Path(run_dir) / "best" if best else Path(run_dir)
    return root / "checkpoints" / (root / "latest").read_text().strip()


def log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def rates(run_dir) -> dict[int, float]:
    """{step: learning rate} of every metrics.jsonl line that logged one."""
    return {r["step"]: r["lr"] for r in log(run_dir) if "lr" in r}


def final(run_dir) -> dict:
    """model.safetensors of a run's latest checkpoint."""
    return tensors(checkpoint_dir(run_dir) / "model.safetensors")


def start(run_dir) -> dict:
    """model.safetensors of a run's step-0 checkpoint (written twice: the latter)."""
    return tensors(sorted((Path(run_dir) / "checkpoints").glob("step-00000000*"))[-1] / "model.safetensors")


def same(a: dict, b: dict) -> bool:
    """The same names holding equal arrays."""
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
