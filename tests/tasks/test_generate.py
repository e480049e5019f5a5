"""The generate task through the task protocol: label and vector conditions, training lowers the loss,
perplexity = exp(loss), predict writes one text per condition, unknown labels are one-line errors."""

import numpy as np
import pytest

from unroll.tasks.generate import GenerateConfig, GeneratePredictOptions, GenerateTask
from unroll.train.optim import Adam, clip_grad_norm

from tests.tasks.helpers import Train, sections, sentiment_lines


def make_task(tmp_path, cond="label", **kw):
    examples = sentiment_lines(200)
    if cond == "vector":
        examples = [("1 0" if c == "pos" else "0 1", t) for c, t in examples]
    (tmp_path / "d.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in examples))
    task = GenerateTask(sections(GenerateTask, data=str(tmp_path / "d.tsv"), cond=cond, hidden_size=16, **kw))
    task.prepare()
    return task


@pytest.mark.parametrize("cond, mode", [("label", "both"), ("vector", "h0"), ("label", "first")])
def test_training_lowers_the_loss(tmp_path, cond, mode):
    task = make_task(tmp_path, cond, mode=mode)
    model = task.build_model(seed=0)
    opt, batches = Adam(model.params, lr=1e-2), task.batches(Train(16))
    before = task.metrics(model, "valid")
    for _ in range(40):
        _, grads, _ = task.loss_and_grads(model, next(batches))
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
    after = task.metrics(model, "valid")
    assert after["loss"] < 0.9 * before["loss"]           # filler words are uniform: ~2.3 nats stay
    assert after["perplexity"] == pytest.approx(np.exp(after["loss"]), rel=1e-12)


def test_predict_one_text_per_condition(tmp_path):
    task = make_task(tmp_path)
    model = task.build_model(seed=0)
    out = list(task.predict(model, ["pos", "neg", "pos"], GeneratePredictOptions(max_length=12, seed=1)))
    assert len(out) == 3 and all(len(line.split()) <= 12 for line in out)
    assert out == list(task.predict(model, ["pos", "neg", "pos"], GeneratePredictOptions(max_length=12, seed=1)))
    with pytest.raises(ValueError, match=r"line 2: unknown label 'meh' \(the run's labels: neg, pos\)"):
        list(task.predict(model, ["pos", "meh"], None))


def test_vector_condition_errors(tmp_path):
    task = make_task(tmp_path, "vector")
    assert task.prepared["cond_size"] == 2
    with pytest.raises(ValueError, match="line 1: expected 2 numbers, got 3"):
        list(task.predict(task.build_model(0), ["1 2 3"], None))
    with pytest.raises(ValueError, match="line 1: expected a row of numbers, got 'pos'"):
        list(task.predict(task.build_model(0), ["pos"], None))
