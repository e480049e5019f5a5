"""Scheduled sampling feeds the model its own history (issue 29): with a schedule that always samples
(sampling_prob 1), the decoder inputs after BOS are the tokens the model itself produces when it runs
free, each drawn given the tokens drawn before it, not the gold ones.

The reference is a free-running decode written here with nothing but the teacher-forced forward pass:
feed [BOS], take the last position's most likely token, append it, run again. The model's output layer
is scaled by 10^4, so its softmax is one-hot to within e^-40 and a draw from it is its argmax whatever
the random numbers (the check holds for any way of drawing). The gold targets differ from what the model
predicts, and the gold history would change its predictions (checked), so a decoder that saw gold tokens
after a drawn one would part from the reference."""

import numpy as np
import pytest

from unroll.models.seq2seq import Seq2Seq

BOS, EOS, V, U = 1, 2, 7, 6


def peaked_model(seed: int) -> Seq2Seq:
    model = Seq2Seq(6, V, hidden_size=5, cell="lstm", conditioning="both", attention=True, bos_id=BOS, eos_id=EOS,
                    seed=seed, dtype=np.float64)
    model.params["out.W"] *= 1e4
    model.params["out.b"] *= 1e4
    return model


def free_running(model, src, src_mask) -> np.ndarray:
    """(U, N) inputs: BOS, then each step's most likely token given the tokens chosen before it."""
    history = np.full((1, src.shape[1]), BOS, np.int64)
    for _ in range(1, U):
        logits, _ = model.forward(src, src_mask, history, training=False)
        last = np.sort(logits[-1], axis=1)
        assert (last[:, -1] - last[:, -2] > 40).all()                  # the draw cannot be another token
        history = np.concatenate([history, logits[-1].argmax(axis=1)[None]])
    return history


def cross_entropy(logits, targets, mask) -> float:
    """Mean -log p(target), p floored at the smallest normal float (the peaked softmax underflows to 0)."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p = z / z.sum(axis=-1, keepdims=True)
    t, n = np.indices(targets.shape)
    return float(-(np.log(np.maximum(p[t, n, targets], np.finfo(np.float64).tiny)) * mask).sum() / mask.sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_always_sampling_schedule_feeds_the_free_running_history(seed):
    model = peaked_model(seed)
    rng = np.random.default_rng(seed)
    src, src_mask = rng.integers(3, 6, (4, 3)), np.ones((4, 3))
    own = free_running(model, src, src_mask)
    tgt_out = np.concatenate([(own[1:] - 3 + 1) % 4 + 3, np.full((1, 3), EOS)])      # never the model's choice
    assert (tgt_out[:-1] != own[1:]).all()
    tgt_in = np.concatenate([np.full((1, 3), BOS), tgt_out[:-1]])
    gold_fed, _ = model.forward(src, src_mask, tgt_in, training=False)
    assert (gold_fed[1:-1].argmax(axis=2) != own[2:]).any()           # gold history -> other predictions

    model.sampling_prob = 1.0
    mixed = model.scheduled_inputs(src, src_mask, tgt_in)
    np.testing.assert_array_equal(mixed, own)

    loss, _, _ = model.loss_and_grads((src, src_mask, tgt_in, tgt_out, np.ones((U, 3))))
    logits, _ = model.forward(src, src_mask, own, training=False)
    assert loss == pytest.approx(cross_entropy(logits, tgt_out, np.ones((U, 3))), rel=1e-12)
