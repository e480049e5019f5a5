"""Beam search for the conditional generator (predict --beam K): k = 1 is greedy, a wider beam is never
less probable than greedy, and each hypothesis' log-probability is the one its tokens get step by step."""

import numpy as np
import pytest

from unroll.models.generator import ConditionalGenerator
from unroll.nn import ops

EOS = 0


def model_for(mode, cell, seed):
    m = ConditionalGenerator(7, num_classes=3, mode=mode, hidden_size=5, embedding_size=4, cell=cell, seed=seed,
                             dtype=np.float64, num_layers=2)
    for k in m.params:                                     # peaky: decisions matter
        m.params[k] *= 3.0
    return m


def replay(model, cond, tokens):
    """Σ log p(token_u | tokens < u, cond), EOS included when the hypothesis finished."""
    state, prev, total = model.start(np.array([cond])), EOS, 0.0
    for tok in tokens:
        logits, state = model.step_logits(np.array([prev]), state)
        total += ops.log_softmax(logits.astype(np.float64))[0, tok]
        prev = tok
    return total, state, prev


@pytest.mark.parametrize("mode", ["h0", "input", "both"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_one_is_greedy_and_wider_beams_are_never_worse(mode, cell):
    for seed in range(4):
        model = model_for(mode, cell, seed)
        for cond in range(3):
            greedy = list(model.generate(cond, EOS, EOS, 12, greedy=True))
            one = model.beam_generate(cond, EOS, EOS, 12, beam=1)
            assert one.tokens == greedy
            wide = model.beam_generate(cond, EOS, EOS, 12, beam=4)
            assert wide.log_prob >= one.log_prob - 1e-12
            total, state, prev = replay(model, cond, wide.tokens)
            if wide.finished:
                logits, _ = model.step_logits(np.array([prev]), state)
                total += ops.log_softmax(logits.astype(np.float64))[0, EOS]
            assert wide.log_prob == pytest.approx(total, rel=1e-10, abs=1e-12)


def test_predict_beam_through_the_cli(tmp_path, monkeypatch, capsys):
    from unroll.cli import main
    from unroll.runs import run
    from tests.tasks.helpers import write_sentiment_tsv
    monkeypatch.chdir(tmp_path)
    write_sentiment_tsv(tmp_path / "s.tsv")
    assert main(["train", "--task", "generate", "--data", "s.tsv", "--hidden", "8", "--max-steps", "4",
                 "--quiet", "--out", "g"]) == 0
    (tmp_path / "in.txt").write_text("pos\nneg\n")
    capsys.readouterr()
    assert main(["predict", "g", "in.txt", "--beam", "3", "--max-length", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    task, model, _ = run.load(tmp_path / "g", "last")
    tokens, eos = task.prepared["vocab"]["tokens"], task.prepared["vocab"]["tokens"].index("<eos>")
    expected = []
    for label in ("pos", "neg"):
        hyp = model.beam_generate(task.prepared["labels"].index(label), eos, eos, 10, beam=3)
        expected.append(next(task.predict(model, [label], type("O", (), {"beam": 3, "max_length": 10, "seed": 0,
                                                                          "temperature": 1.0, "top_k": None,
                                                                          "greedy": False})())))
        assert len(hyp.tokens) <= 10
    assert out == expected
