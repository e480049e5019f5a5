"""Fine-tuning from a language model (--init-from), discriminative learning rates (--lr-layer-decay) and
gradual unfreezing (--unfreeze-every): per-parameter learning rates equal torch.optim's parameter groups,
the copied weights are the language model's, new vocabulary rows are the fresh model's own draws, frozen
parameters do not move by a single bit, and mismatched shapes are refused in one line."""

import json

import numpy as np
import pytest
import torch

from unroll.cli import main
from unroll.runs import run
from unroll.train import finetune, optim

from tests.tasks.helpers import sentiment_lines
from tests.train.test_optim import TORCH_CASES, make_grads, make_params

SCALES = {"layer0.rnn.W_x": 0.25, "layer0.rnn.W_h": 0.25, "layer0.rnn.b": 0.0, "out.W": 1.0}


@pytest.mark.parametrize("ours, our_kw, theirs, their_kw", TORCH_CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_lr_scales_equal_torch_parameter_groups(ours, our_kw, theirs, their_kw):
    params, grads = make_params(), make_grads(0)
    mine = {k: v.copy() for k, v in params.items()}
    opt = ours(mine, **our_kw)
    for g in grads:
        opt.step({k: v.copy() for k, v in g.items()}, SCALES)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    groups = [{"params": [tensors[k]], "lr": their_kw["lr"] * s} for k, s in SCALES.items() if s > 0]
    opt_t = theirs(groups, **their_kw)
    for g in grads:
        for k, t in tensors.items():
            t.grad = torch.tensor(g[k])
        opt_t.step()
    for k, t in tensors.items():
        np.testing.assert_allclose(mine[k], t.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=k)
    assert np.array_equal(mine["layer0.rnn.b"], params["layer0.rnn.b"])     # scale 0: not a bit changed
    assert all(np.array_equal(buf["layer0.rnn.b"], np.zeros(6)) for buf in opt.state.values())


def test_depth_groups_and_scales():
    keys = ["embed.W", "layer0.gru.W_x", "layer0.gru_reverse.W_h", "layer1.gru.b", "out.W", "out.b"]
    groups = finetune.depth_groups(keys)
    assert groups == {"embed.W": 0, "layer0.gru.W_x": 1, "layer0.gru_reverse.W_h": 1, "layer1.gru.b": 2,
                      "out.W": 3, "out.b": 3}
    assert finetune.lr_scales(groups) is None
    assert finetune.lr_scales(groups, 0.5) == {"embed.W": 0.125, "layer0.gru.W_x": 0.25,
                                               "layer0.gru_reverse.W_h": 0.25, "layer1.gru.b": 0.5,
                                               "out.W": 1.0, "out.b": 1.0}
    frozen = [finetune.lr_scales(groups, 1.0, 2, step, 10) for step in (0, 19, 20, 40, 60, 1000)]
    trainable = [sorted({groups[k] for k, s in f.items() if s > 0}) for f in frozen]
    assert trainable == [[3], [3], [2, 3], [1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]
    seq = finetune.depth_groups(["src_embed.W", "encoder.layer0.lstm.W_h", "decoder.layer0.lstm.W_h", "bridge.W"])
    assert seq == {"src_embed.W": 0, "encoder.layer0.lstm.W_h": 1, "decoder.layer0.lstm.W_h": 1, "bridge.W": 2}


# ----------------------------------------------------------------------------------------------------
# Through the CLI.

LM = ["train", "--data", "text.txt", "--level", "word", "--cell", "gru", "--hidden", "8", "--layers", "1",
      "--embedding", "6", "--seq-len", "8", "--batch", "4", "--max-steps", "6", "--eval-every", "3", "--quiet"]
CLS = ["train", "--task", "classify", "--data", "s.tsv", "--cell", "gru", "--hidden", "8", "--embedding", "6",
       "--batch", "8", "--members", "1", "--quiet", "--init-from", "lm"]   # one model: its keys embed.W, layer0.*


@pytest.fixture()
def data(tmp_path, monkeypatch):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(120)))
    # the LM text lacks "superb" and "boring" (and some filler), which the classifier's vocabulary must add
    text = "".join(f"the {w} film was {w} and the story is good\n" for w in ("good", "bad", "fine", "dull") * 20)
    (tmp_path / "text.txt").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(LM + ["--out", "lm"]) == 0
    return tmp_path


def params_at(run_dir, step):
    from unroll.runs import checkpoint
    task, _ = run.read_task(run_dir)
    model = task.build_model(task.settings["train"].seed)
    folder = sorted((run_dir / "checkpoints").glob(f"step-{step:08d}*"))[-1]     # step 0 is written twice
    named = checkpoint.read(folder, {k: v.shape for k, v in model.params.items()})
    return named["model"][0], model.params, task


def test_init_from_copies_embedding_rows_and_stack(data):
    assert main([*CLS, "--bidirectional", "--max-steps", "1", "--out", "c"]) == 0         # step 0: the start
    got, fresh, task = params_at(data / "c", 0)
    lm_task, lm_model, _ = run.load(data / "lm", "best")
    lm_tokens, tokens = lm_task.vocab.tokens, task.prepared["vocab"]["tokens"]
    assert tokens[:len(lm_tokens)] == list(lm_tokens)                        # the LM's ids are kept
    new = tokens[len(lm_tokens):]
    assert {"superb", "boring"} <= set(new)
    for i, t in enumerate(tokens):
        expected = lm_model.params["embed.W"][lm_tokens.index(t)] if t in lm_tokens else fresh["embed.W"][i]
        assert np.array_equal(got["embed.W"][i], expected), t
    for key, value in got.items():
        if key.startswith("layer0.gru."):
            assert np.array_equal(value, lm_model.params[key]), key
        elif key != "embed.W":                                               # reverse direction, output layer
            assert np.array_equal(value, fresh[key]), key
    info = json.loads((data / "c" / "config.json").read_text())
    assert info["init_from"] == {"run": "lm", "step": 6, "lm_tokens": len(lm_tokens)}


def test_gradual_unfreezing_leaves_frozen_groups_bit_identical(data):
    common = [*CLS, "--no-bidirectional", "--eval-every", "3", "--unfreeze-every", "1", "--lr-layer-decay", "0.5"]
    assert main([*common, "--max-steps", "3", "--out", "u"]) == 0
    start, _, _ = params_at(data / "u", 0)
    after3, _, _ = params_at(data / "u", 3)
    moved = sorted(k for k in start if not np.array_equal(start[k], after3[k]))
    assert moved == ["out.W", "out.b"]                                       # steps 0-2: the output layer alone
    assert main(["train", "--resume", "u", "--max-steps", "6", "--quiet"]) == 0
    after6, _, _ = params_at(data / "u", 6)
    moved = sorted(k for k in start if not np.array_equal(after3[k], after6[k]))
    assert moved == ["layer0.gru.W_h", "layer0.gru.W_x", "layer0.gru.b", "layer0.gru.b_hn", "out.W", "out.b"]


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "10"], "the language model has --hidden 8, this run --hidden 10; give --hidden 8"),
    (["--cell", "lstm"], "the language model has --cell gru, this run --cell lstm; give --cell gru"),
    (["--layers", "2"], "the language model has --layers 1, this run --layers 2; give --layers 1"),
    (["--level", "char"], "the language model reads words, this run --level char"),
])
def test_shapes_that_differ_are_refused_in_one_line(data, capsys, flags, message):
    capsys.readouterr()
    assert main([*CLS, *flags, "--max-steps", "1", "--out", "bad"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "--init-from lm" in err
    assert not (data / "bad").exists()


def test_init_from_a_non_lm_run_is_refused(data, capsys):
    assert main([*CLS[:-2], "--max-steps", "1", "--out", "cls"]) == 0
    capsys.readouterr()
    assert main([*CLS[:-1], "cls", "--max-steps", "1", "--out", "bad"]) == 2
    assert "a language-model run folder is needed, this one holds --task classify" in capsys.readouterr().err


def test_tag_init_from_a_character_lm(data):
    assert main(["data", "segment", "text.txt", "--out", "seg.conll"]) == 0
    assert main([*LM[:4], "char", *LM[5:], "--out", "clm"]) == 0
    assert main(["train", "--task", "tag", "--data", "seg.conll", "--level", "char", "--cell", "gru", "--hidden", "8",
                 "--embedding", "6", "--init-from", "clm", "--max-steps", "1", "--quiet", "--out", "t"]) == 0
    got, fresh, task = params_at(data / "t", 0)
    lm_task, lm_model, _ = run.load(data / "clm", "best")
    tokens = task.prepared["vocab"]["tokens"]
    assert tokens[0] == "<unk>" and tokens[1:len(lm_task.vocab.tokens) + 1] == list(lm_task.vocab.tokens)
    row = tokens.index("g")
    assert np.array_equal(got["embed.W"][row], lm_model.params["embed.W"][lm_task.vocab.tokens.index("g")])
    assert np.array_equal(got["embed.W"][0], fresh["embed.W"][0])
    assert np.array_equal(got["layer0.gru.W_h"], lm_model.params["layer0.gru.W_h"])
