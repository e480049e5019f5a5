"""Seq2Seq: float64 centred-difference check of every parameter's gradient (encoder, decoder, bridge,
attention, embeddings, readout), with padded sources and padded targets, for each conditioning mode."""

import numpy as np
import pytest

from unroll.nn import gradcheck
from unroll.models.seq2seq import Seq2Seq, scheduled_sampling_prob

V_SRC, V_TGT = 6, 5


def batch(rng):
    """Three pairs of different lengths: sources 4, 2, 3 steps, targets 3, 1, 2 real tokens."""
    T, U, N = 4, 3, 3
    src = rng.integers(0, V_SRC, (T, N))
    src_mask = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1], [1, 0, 0]], float)
    tgt_out = rng.integers(0, V_TGT, (U, N))
    tgt_in = np.vstack([np.full((1, N), 1), tgt_out[:-1]])
    tgt_mask = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 0]], float)
    return src * src_mask.astype(int), src_mask, tgt_in, tgt_out, tgt_mask


CASES = [(cell, bi, mode, attn) for mode in ("init", "input", "both")
         for cell, bi, attn in (("lstm", True, True), ("gru", False, True), ("rnn", True, False), ("lstm", False, False))]


@pytest.mark.parametrize("cell,bidirectional,mode,attn", CASES)
def test_every_parameter_gradient(cell, bidirectional, mode, attn):
    rng = np.random.default_rng(7)
    model = Seq2Seq(V_SRC, V_TGT, hidden_size=3, num_layers=2 if cell == "gru" else 1, cell=cell,
                    bidirectional=bidirectional, conditioning=mode, attention=attn, embedding_size=2,
                    attention_size=3, seed=3, dtype=np.float64)
    model.params = {k: v + rng.standard_normal(v.shape) for k, v in model.params.items()}  # non-zero biases
    b = batch(rng)
    _, grads, _ = model.loss_and_grads(b)
    assert set(grads) == set(model.params)

    def loss():
        return model.loss_and_grads(b)[0]

    errors = gradcheck.check(loss, model.params, grads, eps=3e-5)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-7, f"{worst}: {errors[worst]:.2e}"
    groups = {k.split(".")[0] for k in errors}
    assert {"encoder", "decoder", "out"} <= groups
    assert ("bridge" in groups) == bidirectional and ("attn" in groups) == attn


def test_padding_changes_nothing():
    """A source's padded steps and a target's padded tokens do not touch the loss."""
    rng = np.random.default_rng(1)
    model = Seq2Seq(V_SRC, V_TGT, hidden_size=4, cell="lstm", bidirectional=True, attention=True, dtype=np.float64)
    src, src_mask, tgt_in, tgt_out, tgt_mask = batch(rng)
    loss = model.loss_and_grads((src, src_mask, tgt_in, tgt_out, tgt_mask))[0]
    src2, tgt_in2, tgt_out2 = src.copy(), tgt_in.copy(), tgt_out.copy()
    src2[src_mask == 0] = 5
    tgt_out2[tgt_mask == 0] = 4
    tgt_in2[1:][tgt_mask[:-1] == 0] = 3
    assert model.loss_and_grads((src2, src_mask, tgt_in2, tgt_out2, tgt_mask))[0] == pytest.approx(loss, abs=1e-14)


def test_scheduled_sampling_schedule_and_extremes():
    """p follows 1 - k/(k + exp(i/k)); p = 0 is teacher forcing; p = 1 feeds only the model's own tokens."""
    assert scheduled_sampling_prob(0, 10.0) == pytest.approx(1 - 10 / 11)
    assert scheduled_sampling_prob(100, 10.0) == pytest.approx(1 - 10 / (10 + np.exp(10)))
    rng = np.random.default_rng(2)
    model = Seq2Seq(V_SRC, V_TGT, hidden_size=4, cell="gru", dtype=np.float64)
    src, src_mask, tgt_in, tgt_out, tgt_mask = batch(rng)
    model.sampling_prob = 1.0
    mixed = model.scheduled_inputs(src, src_mask, tgt_in)
    assert (mixed[0] == tgt_in[0]).all()
    model.sampling_prob = 0.0
    assert (model.scheduled_inputs(src, src_mask, tgt_in) == tgt_in).all()
