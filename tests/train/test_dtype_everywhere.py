"""`--dtype float64` means float64 in every task (issue 29): the parameters, the optimiser's state and
every checkpoint (latest and best/) are float64, read from the saved safetensors files by hand; without
the flag they are the task's own default: float32, except forecast's float64 (models/forecaster.py: "these
networks are small"), which `--dtype float32` turns to float32. One tiny run of 2 steps per task and input kind."""

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import load

from tests import saved
from tests.tasks.helpers import sentiment_lines


def write_data(root):
    rng = np.random.default_rng(0)
    (root / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    (root / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(40)))
    conll = []
    for s in ("thecat", "adog", "sunny", "day") * 6:
        conll += [f"{ch}\t{'B' if i == 0 else 'I'}" for i, ch in enumerate(s)] + [""]
    (root / "seg.conll").write_text("\n".join(conll) + "\n")
    (root / "p.tsv").write_text("".join(f"{a} {b}\t{b} {a}\n" for a in "abcd" for b in "abcde"))
    rows = ["id,time,f1,f2,label"]
    for n in range(24):
        rows += [f"s{n},{t},{rng.normal():.3f},{rng.normal():.3f},{'yes' if n % 2 else 'no'}" for t in range(3 + n % 3)]
    (root / "v.csv").write_text("\n".join(rows) + "\n")
    rows = ["id,time,f1,f2,label"]
    for n in range(24):
        rows += [f"s{n},{t},{rng.normal():.3f},{rng.normal():.3f},{'a b' if n % 2 else 'b a'}" for t in range(3)]
    (root / "vp.csv").write_text("\n".join(rows) + "\n")
    months = np.arange(np.datetime64("2000-01"), np.datetime64("2000-01") + 40)
    (root / "f.csv").write_text("month,sales\n" + "".join(f"{m},{10 + np.sin(t):.3f}\n" for t, m in enumerate(months)))


RUNS = {
    "lm": ["--data", "t.txt", "--hidden", "6", "--layers", "1", "--seq-len", "8", "--batch", "2"],
    "longterm": ["--task", "longterm", "--T", "5", "--valid-size", "8", "--test-size", "8", "--hidden", "4",
                 "--batch", "4"],
    "classify": ["--task", "classify", "--data", "s.tsv", "--hidden", "4", "--embedding", "4", "--batch", "8"],
    "classify-vectors": ["--task", "classify", "--data", "v.csv", "--hidden", "4", "--batch", "8"],
    "tag": ["--task", "tag", "--data", "seg.conll", "--level", "char", "--hidden", "4", "--embedding", "4",
            "--batch", "4"],
    "tag-vectors": ["--task", "tag", "--data", "v.csv", "--hidden", "4", "--batch", "8"],
    "generate": ["--task", "generate", "--data", "s.tsv", "--hidden", "4", "--batch", "8"],
    "seq2seq": ["--task", "seq2seq", "--data", "p.tsv", "--hidden", "4", "--batch", "4", "--attention"],
    "seq2seq-vectors": ["--task", "seq2seq", "--data", "vp.csv", "--hidden", "4", "--batch", "4"],
    "forecast": ["--task", "forecast", "--data", "f.csv", "--context", "6", "--horizon", "3", "--hidden", "4",
                 "--batch", "4"],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dtype")
    write_data(root)
    return root


def saved_float_dtypes(run_dir) -> dict[str, set]:
    """{file kind: the dtypes of its floating-point tensors} over every checkpoint in the folder."""
    out = {}
    for path in sorted(run_dir.rglob("*.safetensors")):
        kinds = {h["dtype"] for h in saved.header(path).values() if h["dtype"].startswith("F")}
        out.setdefault(path.name, set()).update(kinds)
    return out


OWN_DEFAULT = {"forecast": "float64"}
CASES = [(task, dtype) for task in sorted(RUNS) for dtype in ("float64", None)] + [("forecast", "float32")]


@pytest.mark.parametrize("task,dtype", CASES)
def test_saved_parameters_and_optimiser_state_have_the_asked_precision(root, task, dtype, monkeypatch):
    monkeypatch.chdir(root)
    out = root / f"{task}-{dtype}"
    flags = ["--dtype", dtype] if dtype else []
    assert main(["train", *RUNS[task], "--max-steps", "2", "--eval-every", "2", "--quiet", *flags,
                 "--out", str(out)]) == 0
    expected = dtype or OWN_DEFAULT.get(task, "float32")
    want = {"float64": "F64", "float32": "F32"}[expected]
    assert (out / "best" / "latest").exists()
    assert saved_float_dtypes(out) == {"model.safetensors": {want}, "train.safetensors": {want}}
    state = saved.header(saved.checkpoint_dir(out) / "train.safetensors")
    moments = [k for k in state if k.startswith("optimizer.")]
    assert moments and all(state[k]["dtype"] == want for k in moments)
    params = saved.header(saved.checkpoint_dir(out) / "model.safetensors")
    assert all(h["dtype"] == want for h in params.values())
    for which in ("best", "last"):
        model = load(out, which).model
        assert {v.dtype for v in model.params.values()} == {np.dtype(expected)}, which
