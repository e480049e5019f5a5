"""ConditionalGenerator: float64 centred differences on every parameter (and on the condition vector),
with padded targets, for each conditioning mode, label and vector conditions; free running equals the
teacher-forced pass on the same tokens; padded targets are ignored."""

import numpy as np
import pytest

from unroll.models.generator import ConditionalGenerator, GenerateBatch
from unroll.nn import gradcheck

T, N, V, K, F = 5, 3, 6, 2, 4
LENGTHS = np.array([5, 2, 3])


def make_batch(vector=False, seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    cond = rng.standard_normal((N, F)) if vector else rng.integers(0, K, N)
    targets = rng.integers(1, V, (T, N))
    inputs = np.concatenate([np.zeros((1, N), np.int64), targets[:-1]])
    return GenerateBatch(cond, inputs, targets, mask)


def model_for(mode, vector, cell="lstm", layers=2, seed=1):
    kind = dict(cond_size=F) if vector else dict(num_classes=K, cond_embedding=3)
    return ConditionalGenerator(V, mode=mode, hidden_size=3, embedding_size=2, num_layers=layers, cell=cell,
                                seed=seed, dtype=np.float64, **kind)


@pytest.mark.parametrize("mode", ["h0", "input", "both", "first"])
@pytest.mark.parametrize("vector", [False, True])
def test_gradient_check_every_parameter(mode, vector):
    model = model_for(mode, vector)
    batch = make_batch(vector)
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)
    assert set(errors) == set(model.params)
    assert ("h0.W" in errors) == (mode in ("h0", "both"))
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_gradient_check_other_cells(cell):
    model = model_for("both", False, cell=cell)
    batch = make_batch()
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("mode", ["h0", "input", "both", "first"])
def test_stepping_equals_the_teacher_forced_pass(mode):
    model = model_for(mode, vector=True)
    cond, inputs, _, _ = make_batch(vector=True)
    logits, _ = model.forward(cond, inputs, training=False)
    state = model.start(cond)
    for t in range(T):
        step, state = model.step_logits(inputs[t], state)
        assert np.allclose(step, logits[t], atol=1e-13, rtol=0), t


def test_condition_changes_the_output_only_through_its_mode():
    """With "first", the condition reaches step 1's input only; a zero vector equals no conditioning."""
    model = model_for("first", vector=True)
    cond, inputs, _, _ = make_batch(vector=True)
    zero, _ = model.forward(np.zeros_like(cond), inputs, training=False)
    other, _ = model.forward(cond, inputs, training=False)
    assert not np.allclose(zero[0], other[0])
    emb = model.params["embed.W"][inputs]
    x = np.concatenate([emb, np.zeros((T, N, F))], axis=2)
    hs, _, _ = model.stack.forward(x, model._stack_params())
    assert np.allclose(zero, hs @ model.params["out.W"] + model.params["out.b"], atol=1e-14)


def test_padded_targets_are_ignored():
    model = model_for("both", vector=False)
    cond, inputs, targets, mask = make_batch()
    loss, grads, _ = model.loss_and_grads(GenerateBatch(cond, inputs, targets, mask))
    targets2 = np.where(mask > 0, targets, (targets + 1) % V)
    loss2, grads2, _ = model.loss_and_grads(GenerateBatch(cond, inputs, targets2, mask))
    assert loss == loss2 and all(np.array_equal(grads[k], grads2[k]) for k in grads)


def test_generate_stops_at_eos_and_is_reproducible():
    model = model_for("both", vector=False)
    a = list(model.generate(1, bos=0, eos=0, max_len=20, rng=np.random.default_rng(5)))
    b = list(model.generate(1, bos=0, eos=0, max_len=20, rng=np.random.default_rng(5)))
    assert a == b and len(a) <= 20 and 0 not in a


def test_bad_input_is_one_line():
    with pytest.raises(ValueError, match="exactly one of num_classes"):
        ConditionalGenerator(V, num_classes=2, cond_size=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        ConditionalGenerator(V, num_classes=2, mode="prefix")
    model = model_for("h0", vector=True)
    cond, inputs, targets, mask = make_batch(vector=True)
    with pytest.raises(ValueError, match=r"cond must be a float array of shape \(N, F\) = \(N, 4\)"):
        model.loss_and_grads(GenerateBatch(cond[:, :2], inputs, targets, mask))
