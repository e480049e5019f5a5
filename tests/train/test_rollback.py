"""NaN rollback restores what a checkpoint holds: parameters and optimizer moments really corrupted by a step
are compared, array by array, with the checkpoint files read back from disk; a finite loss with a NaN
gradient norm rolls back too, and its NaN gradient never reaches the parameters."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig
from unroll.data.text import load_bundled
from unroll.runs import run
from unroll.runs import checkpoint

MODEL = ModelConfig(hidden_size=16, num_layers=1, cell="lstm", embedding_size=None, dropout=0.0, activation="tanh")


@pytest.fixture()
def trainer(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(load_bundled("tinyshakespeare")[:20000], encoding="utf-8")
    settings = {"corpus": CorpusConfig(data=str(path)), "bptt": BPTTConfig(seq_len=10, bptt=15), "network": MODEL}
    config = TrainConfig(batch_size=4, eval_every=4, max_steps=10, optimizer="adam")
    return run.start(tmp_path / "run", "lm", settings, config, quiet=True)


def on_disk(run_dir):
    """(parameters, optimizer arrays, counters) of the newest checkpoint, read from its files."""
    folder = checkpoint.latest(run_dir)
    train_arrays = load_file(str(folder / "train.safetensors"))
    optimizer = {k[len("optimizer."):]: v for k, v in train_arrays.items() if k.startswith("optimizer.")}
    state = json.loads((folder / "state.json").read_text())
    return load_file(str(folder / "model.safetensors")), optimizer, state["components"]["counters"]


def snapshot(trainer):
    return ({k: v.copy() for k, v in trainer.model.params.items()},
            {k: v.copy() for k, v in trainer.optimizer.state_dict()[0].items()})


def assert_same(actual: dict, expected: dict, what: str):
    assert actual.keys() == expected.keys(), what
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=f"{what} {key}")


def hook(trainer, on_call):
    """Call on_call(n, real_step, model, batch, state) for the task's n-th training step."""
    real_step, calls = trainer.task.loss_and_grads, {"n": 0}

    def step(model, batch, state):
        calls["n"] += 1
        return on_call(calls["n"], real_step, model, batch, state)

    trainer.task.loss_and_grads = step
    return calls


def test_rollback_restores_parameters_and_optimizer_moments_corrupted_by_a_step(trainer):
    """Step 5 ends with NaN parameters and absurd Adam moments (as an overflow would leave them) but a finite
    loss; step 6 then computes a NaN loss from those parameters by itself. The run must come back to the
    step-4 checkpoint exactly: every parameter and every moment equal to the arrays in its files."""
    seen = {}

    def on_call(n, real_step, model, batch, state):
        if n == 6:                                            # the parameters really are corrupted now
            seen["corrupted"] = snapshot(trainer)
            seen["disk"] = on_disk(trainer.run_dir)
        if n == 7:                                            # the first step after the rollback
            seen["restored"] = snapshot(trainer)
            seen["step"] = trainer.counters["step"]
        loss, grads, state = real_step(model, batch, state)
        if n == 5:
            for p in model.params.values():
                p[...] = np.nan
            for buffers in trainer.optimizer.state.values():
                for b in buffers.values():
                    b[...] = 1e30
        return loss, grads, state

    hook(trainer, on_call)
    record = trainer.train()
    params_disk, moments_disk, counters_disk = seen["disk"]
    assert counters_disk["step"] == 4 and seen["step"] == 4
    corrupted_params, corrupted_moments = seen["corrupted"]
    assert all(np.isnan(v).all() for v in corrupted_params.values())
    assert not any(np.array_equal(corrupted_moments[k], moments_disk[k]) for k in moments_disk)
    restored_params, restored_moments = seen["restored"]
    assert_same(restored_params, params_disk, "parameter")
    assert_same(restored_moments, moments_disk, "optimizer array")
    assert record["step"] == 10 and math.isfinite(record["valid_loss"])
    assert all(np.isfinite(v).all() for v in trainer.model.params.values())
    log = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("event") == "nan_rollback"] == [4]
    assert trainer.counters["lr_scale"] == 0.5


def test_a_finite_loss_with_a_nan_gradient_norm_rolls_back_and_never_updates(trainer):
    seen = {}

    def on_call(n, real_step, model, batch, state):
        loss, grads, state = real_step(model, batch, state)
        if n == 6:
            seen["before"] = snapshot(trainer)
            seen["disk"] = on_disk(trainer.run_dir)
            grads["out.W"][0, 0] = np.nan                     # one NaN entry: the loss stays finite
            seen["loss"] = loss
        if n == 7:
            seen["after"] = snapshot(trainer)
        return loss, grads, state

    hook(trainer, on_call)
    trainer.train()
    assert math.isfinite(seen["loss"])
    params_disk, moments_disk, _ = seen["disk"]
    assert_same(seen["after"][0], params_disk, "parameter")
    assert_same(seen["after"][1], moments_disk, "optimizer array")
    assert not all(np.array_equal(seen["before"][0][k], params_disk[k]) for k in params_disk)  # step 5 had moved them
    log = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    (event,) = [r for r in log if r.get("event") == "nan_rollback"]
    assert event["step"] == 4 and "gradient norm nan" in event["message"] and f"loss {seen['loss']!r}" in event["message"]
    assert all(np.isfinite(v).all() for v in trainer.model.params.values())
