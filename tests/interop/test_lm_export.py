"""A language model out to torch (safetensors state_dict) and ONNX (onnxruntime), and back in from torch.

The references are independent of the code under test: torch.nn modules built by docs/interop.md's own
lines, and onnxruntime executing the standard RNN/LSTM/GRU operators."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import onnxruntime as ort
from safetensors.torch import save_file as torch_save_file

from unroll.cli import main
from unroll.config import BPTTConfig, TrainConfig
from unroll.data.text import load_bundled
from unroll.data.vocab import CharVocab
from unroll.interop import lm_onnx, lm_torch
from unroll.models.language_model import LanguageModel
from unroll.runs import run
from unroll.tasks.lm import evaluate_stream

torch.set_num_threads(1)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
V, E, H, L, N = 13, 5, 6, 2, 3


def docs_namespace() -> dict:
    """Execute the torch block of docs/interop.md that defines LanguageModel and load_unroll."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    code = next(b for b in blocks if "def load_unroll" in b)
    namespace = {}
    exec(code, namespace)
    return namespace


def unroll_model(cell, activation, seed=1):
    return LanguageModel(V, H, L, cell, seed=seed, embedding_size=E, activation=activation)


def max_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("cell,activation", CELLS)
def test_torch_export_gives_the_same_logits_and_state(cell, activation, tmp_path):
    model = unroll_model(cell, activation)
    ids = np.random.default_rng(0).integers(0, V, (40, N))
    logits, state, _ = model.forward(ids, training=False)
    path = lm_torch.save_torch(model, tmp_path / "m.safetensors")
    torch_model = docs_namespace()["load_unroll"](str(path))
    with torch.no_grad():
        t_logits, t_state = torch_model(torch.from_numpy(ids))
    assert max_diff(t_logits.numpy(), logits) < 1e-5
    for ours, theirs in zip(state if cell == "lstm" else (state,), t_state if cell == "lstm" else (t_state,)):
        assert max_diff(theirs.numpy(), ours) < 1e-5


@pytest.mark.parametrize("cell,activation", CELLS)
def test_onnx_export_steps_100_tokens_in_chunks_with_carried_state(cell, activation):
    model = unroll_model(cell, activation, seed=2)
    ids = np.random.default_rng(1).integers(0, V, (100, N))
    logits, state, _ = model.forward(ids, training=False)
    session = ort.InferenceSession(lm_onnx.to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    assert [i.name for i in session.get_inputs()] == ["tokens"] + names
    carried = {n: np.zeros((L, N, H), np.float32) for n in names}
    pieces, start = [], 0
    for size in (1, 13, 36, 50):
        out = session.run(None, {"tokens": ids[start:start + size].astype(np.int64), **carried})
        pieces.append(out[0])
        carried = dict(zip(names, out[1:]))
        start += size
    assert max_diff(np.concatenate(pieces), logits) < 1e-5
    expected = state if cell == "lstm" else (state,)
    for name, ours in zip(names, expected):
        assert max_diff(carried[name], ours) < 1e-5


def test_onnx_graph_uses_the_standard_operators_and_gru_resets_before_linear():
    proto = lm_onnx.to_onnx(unroll_model("gru", "tanh"))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("GRU") == L and "Gather" in ops and "MatMul" in ops
    gru = next(n for n in proto.graph.node if n.op_type == "GRU")
    assert {a.name: a.i for a in gru.attribute}["linear_before_reset"] == 1


@pytest.mark.parametrize("cell,activation", CELLS)
def test_import_of_a_torch_trained_state_dict_matches_torch(cell, activation, tmp_path):
    ns = docs_namespace()
    torch.manual_seed(3)
    module = ns["LanguageModel"](V, E, H, L, cell, activation)
    with torch.no_grad():
        for p in module.parameters():                # every tensor random, bias_hh included
            p.uniform_(-0.5, 0.5)
    torch_save_file(module.state_dict(), str(tmp_path / "m.safetensors"))   # no unroll metadata
    vocab = [chr(ord("a") + i) for i in range(V)]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lm_torch.import_model(tmp_path / "m.safetensors", tmp_path / "vocab.json", tmp_path / "run",
                          activation if cell == "rnn" else None)
    task, model, info = run.load(tmp_path / "run")
    assert task.vocab == CharVocab(vocab) and info["network"]["cell"] == cell
    ids = np.random.default_rng(4).integers(0, V, (30, N))
    logits, _, _ = model.forward(ids, training=False)
    with torch.no_grad():
        expected, _ = module(torch.from_numpy(ids))
    assert max_diff(logits, expected.numpy()) < 1e-5


def test_cli_export_import_sample_eval_round_trip(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(load_bundled("tinyshakespeare")[:3000], encoding="utf-8")
    train = ["train", "--data", str(corpus), "--cell", "gru", "--hidden", "8", "--layers", "2", "--seq-len", "8",
             "--batch", "2", "--max-steps", "3", "--quiet", "--out", str(tmp_path / "run")]
    assert main(train) == 0
    assert main(["export", str(tmp_path / "run"), "--to", "torch", str(tmp_path / "m.safetensors")]) == 0
    assert main(["export", str(tmp_path / "run"), "--to", "onnx", str(tmp_path / "m.onnx")]) == 0
    assert main(["import", str(tmp_path / "m.safetensors"), "--vocab", str(tmp_path / "m.vocab.json"),
                 "--out", str(tmp_path / "imported")]) == 0
    task, original, _ = run.load(tmp_path / "run")
    task2, imported, _ = run.load(tmp_path / "imported")
    vocab = task.vocab
    assert vocab == task2.vocab
    assert all(np.array_equal(original.params[k], imported.params[k]) for k in original.params)
    capsys.readouterr()
    # an imported run evaluates with the default batching
    loss = evaluate_stream(original, vocab.encode(corpus.read_text(encoding="utf-8")), TrainConfig().batch_size,
                           BPTTConfig().seq_len)
    assert main(["eval", str(tmp_path / "imported"), "--data", str(corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == loss
    assert main(["sample", str(tmp_path / "run"), "--length", "20", "--seed", "5"]) == 0
    text = capsys.readouterr().out
    assert main(["sample", str(tmp_path / "imported"), "--length", "20", "--seed", "5"]) == 0
    assert capsys.readouterr().out == text
    assert main(["eval", str(tmp_path / "imported")]) == 2
    assert "pass --data" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "imported")]) == 2
    assert "not resumed" in capsys.readouterr().err


def write_sd(path, sd):
    torch_save_file({k: torch.as_tensor(v).contiguous() for k, v in sd.items()}, str(path))


@pytest.mark.parametrize("edit,message", [
    (lambda sd: sd.pop("out.bias"), "missing out.bias"),
    (lambda sd: sd.update({"head.weight": torch.zeros(2)}), "outside embed"),
    (lambda sd: sd.update({"out.weight": torch.zeros(V, H + 1)}), r"out.weight'\] must have shape"),
    (lambda sd: sd.update({"rnn.weight_hh_l0": torch.zeros(2 * H, H)}), "1, 3 or 4 times H"),
])
def test_bad_state_dicts_get_one_line_errors(edit, message, tmp_path):
    sd = lm_torch.to_state_dict(unroll_model("lstm", "tanh"))
    sd = {k: torch.from_numpy(v) for k, v in sd.items()}
    edit(sd)
    write_sd(tmp_path / "m.safetensors", sd)
    with pytest.raises(ValueError, match=message) as err:
        lm_torch.read_torch(tmp_path / "m.safetensors")
    assert "\n" not in str(err.value) and "m.safetensors" in str(err.value)


def test_bad_model_and_vocabulary_files_get_one_line_errors(tmp_path, capsys):
    (tmp_path / "m.pt").write_bytes(b"\x80\x04not a safetensors file")
    (tmp_path / "vocab.json").write_text(json.dumps(["a", "b"]), encoding="utf-8")
    assert main(["import", str(tmp_path / "m.pt"), "--vocab", str(tmp_path / "vocab.json"),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a safetensors file" in err
    lm_torch.save_torch(unroll_model("gru", "tanh"), tmp_path / "m.safetensors")
    assert main(["import", str(tmp_path / "m.safetensors"), "--vocab", str(tmp_path / "vocab.json"),
                 "--out", str(tmp_path / "r")]) == 2
    assert f"has 2 tokens, the model's embedding {V} rows" in capsys.readouterr().err
    (tmp_path / "vocab.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(ValueError, match="is not UTF-8 JSON"):
        lm_torch.read_vocab(tmp_path / "vocab.json")
    assert main(["export", str(tmp_path), "--to", "keras", str(tmp_path / "x")]) == 2
    assert "--to must be torch or onnx" in capsys.readouterr().err
