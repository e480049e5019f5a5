"""--weight-decay (#30): decoupled weight decay, Adam's equal to torch.optim.AdamW and SGD's to torch.optim.SGD's
weight_decay step for step (float64, 1e-12), on the NumPy and the fused path alike (bit for bit); 0 is the
optimizer without it, bit for bit; it is no checkpoint state (an old checkpoint loads, a resumed run
continues exactly); refused, in one line naming the flag, with the optimizers that do not read it; a run's
config.json stores it, and one written before it existed resumes as it ran."""

import json
import shutil

import numpy as np
import pytest
import torch

from unroll.cli import main
from unroll.config import TrainConfig, from_dict
from unroll.nn import kernels
from unroll.runs import RunFolder
from unroll.train import optim

from tests import saved
from tests.tasks.helpers import sentiment_lines
from tests.train.test_optim import SHAPES, STEPS, make_grads, make_params, run_ours, run_torch


@pytest.fixture(autouse=True)
def _restore_backend():
    yield
    kernels.use(None)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lr, wd", [(0.01, 0.1), (0.003, 0.5)])
def test_adam_with_weight_decay_equals_torch_adamw(backend, lr, wd):
    kernels.use(backend)
    params, grads = make_params(), make_grads(4)
    expected = run_torch(torch.optim.AdamW, params, grads, lr=lr, weight_decay=wd)
    got = run_ours(optim.Adam, params, grads, lr=lr, weight_decay=wd)
    plain = run_ours(optim.Adam, params, grads, lr=lr)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-12, atol=1e-12, err_msg=k)
        assert np.abs(got[k] - plain[k]).max() > 1e-4 * wd       # the decay really acted


def test_sgd_with_weight_decay_equals_torch_sgd():
    params, grads = make_params(), make_grads(5)
    expected = run_torch(torch.optim.SGD, params, grads, lr=0.1, weight_decay=0.3)
    got = run_ours(optim.SGD, params, grads, lr=0.1, weight_decay=0.3)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_the_decay_is_decoupled_from_the_gradient():
    """A zero gradient: AdamW moves p by exactly p (1 - lr λ) per step (Adam's own step is 0/(0 + eps) = 0)."""
    p = {"w": np.array([2.0, -1.0, 0.5])}
    opt = optim.Adam(p, lr=0.1, weight_decay=0.2)
    for _ in range(3):
        opt.step({"w": np.zeros(3)})
    decay = 1.0 - 0.1 * 0.2
    np.testing.assert_array_equal(p["w"], np.array([2.0, -1.0, 0.5]) * decay * decay * decay)


def test_lr_scales_decay_as_a_torch_parameter_group_with_its_own_lr():
    params, grads = make_params(), make_grads(6)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    groups = [{"params": [tensors["out.W"]], "lr": 0.01}, {"params": [t for k, t in tensors.items() if k != "out.W"]}]
    theirs = torch.optim.AdamW(groups, lr=0.004, weight_decay=0.3)
    ours_params = {k: v.copy() for k, v in params.items()}
    ours = optim.Adam(ours_params, lr=0.004, weight_decay=0.3)
    for g in grads:
        for k, t in tensors.items():
            t.grad = torch.tensor(g[k])
        theirs.step()
        ours.step({k: v.copy() for k, v in g.items()}, lr_scales={"out.W": 2.5})
    for k in SHAPES:
        np.testing.assert_allclose(ours_params[k], tensors[k].detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adamw_equals_the_ufunc_sequence_bit_for_bit(dtype):
    params32, grads = make_params(dtype=dtype), make_grads(7, dtype=dtype)
    out = {}
    for backend in ("numpy", "numba"):
        kernels.use(backend)
        out[backend] = run_ours(optim.Adam, params32, grads, lr=0.01, weight_decay=0.1)
    for k in SHAPES:
        np.testing.assert_array_equal(out["numba"][k], out["numpy"][k])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_weight_decay_zero_is_the_optimizer_without_it_bit_for_bit(name):
    params, grads = make_params(dtype=np.float32), make_grads(8, dtype=np.float32)
    cls = optim.OPTIMIZERS[name]
    without = run_ours(cls, params, grads, lr=0.01)
    zero = run_ours(cls, params, grads, lr=0.01, weight_decay=0.0)
    for k in SHAPES:
        np.testing.assert_array_equal(zero[k], without[k])


def test_it_is_no_checkpoint_state_and_a_resumed_run_continues_exactly():
    grads = make_grads(2) + make_grads(3)
    straight = make_params(dtype=np.float32)
    opt = optim.Adam(straight, lr=0.01, weight_decay=0.2)
    for g in grads:
        opt.step(g)
    first = make_params(dtype=np.float32)
    opt1 = optim.Adam(first, lr=0.01, weight_decay=0.2)
    for g in grads[:STEPS]:
        opt1.step(g)
    arrays, scalars = opt1.state_dict()
    assert scalars == {"name": "adam", "lr": 0.01, "steps": STEPS, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    resumed = {k: v.copy() for k, v in first.items()}
    opt2 = optim.Adam(resumed, lr=0.5, weight_decay=0.2)            # the run's setting, from its config.json
    opt2.load_state_dict({k: v.copy() for k, v in arrays.items()}, dict(scalars))
    for g in grads[STEPS:]:
        opt2.step(g)
    for k in SHAPES:
        np.testing.assert_array_equal(resumed[k], straight[k])


def test_optimizers_that_do_not_read_it_refuse_it():
    assert optim.options_of("sgd") == ("weight_decay",)
    assert optim.options_of("adam") == ("beta1", "beta2", "eps", "weight_decay")
    with pytest.raises(ValueError, match=r"^momentum has no option weight_decay \(options: momentum, nesterov\)$"):
        optim.make_optimizer("momentum", make_params(), 0.1, weight_decay=0.1)
    with pytest.raises(ValueError, match=r"^weight_decay must lie in \[0, inf\), got -0.1$"):
        optim.Adam(make_params(), lr=0.1, weight_decay=-0.1)


@pytest.mark.parametrize("values, message", [
    ({"optimizer": "rmsprop", "weight_decay": 0.1},
     r"^--weight-decay 0.1 acts with --optimizer sgd or adam, not with --optimizer rmsprop \(torch couples it to "
     r"its moments as L2\): give --weight-decay 0 \(off\)$"),
    ({"weight_decay": -0.5}, r"^--weight-decay must be a number >= 0 \(0: off\), got -0.5$"),
    ({"weight_decay": float("nan")}, r"^--weight-decay must be a finite number, got nan$"),
])
def test_train_config_refuses_bad_values_naming_the_flag(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(max_steps=1, **values)


def test_train_config_gives_the_optimizer_its_option():
    assert TrainConfig(max_steps=1).optimizer_options() == {}
    assert TrainConfig(max_steps=1, weight_decay=0.05).optimizer_options() == {"weight_decay": 0.05}
    assert TrainConfig(max_steps=1, optimizer="momentum", weight_decay=0.0).optimizer_options() == {}


def test_the_cli_refuses_it_in_one_line(tmp_path, capsys):
    data = tmp_path / "s.tsv"
    data.write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(20)))
    argv = ["train", "--task", "classify", "--data", str(data), "--max-steps", "1", "--quiet",
            "--out", str(tmp_path / "run")]
    assert main([*argv, "--optimizer", "adagrad", "--weight-decay", "0.01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["unroll: error: --weight-decay 0.01 acts with --optimizer sgd or adam, not with --optimizer "
                   "adagrad (torch couples it to its moments as L2): give --weight-decay 0 (off)"]
    assert not (tmp_path / "run").exists()


SMALL = ["--hidden", "4", "--embedding", "3", "--batch", "8", "--lr", "0.01", "--eval-every", "2", "--quiet"]


def test_a_run_stores_it_and_a_config_without_it_resumes_as_it_ran(tmp_path):
    data = tmp_path / "s.tsv"
    data.write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    base = ["train", "--task", "classify", "--data", str(data), *SMALL]
    assert main([*base, "--max-steps", "2", "--weight-decay", "0.1", "--out", str(tmp_path / "wd")]) == 0
    assert json.loads((tmp_path / "wd" / "config.json").read_text())["train"]["weight_decay"] == 0.1
    assert main([*base, "--max-steps", "2", "--out", str(tmp_path / "new")]) == 0
    decayed, plain = (saved.tensors(saved.checkpoint_dir(tmp_path / r) / "model.safetensors") for r in ("wd", "new"))
    assert any(not np.array_equal(decayed[k], plain[k]) for k in plain)

    old = tmp_path / "old"                 # a run folder written before --weight-decay and --embedding-init-scale
    shutil.copytree(tmp_path / "new", old)
    info = json.loads((old / "config.json").read_text())
    assert info["train"].pop("weight_decay") == 0.0
    assert info["network"].pop("embedding_init_scale") is None   # the other setting of #30, missing there too
    (old / "config.json").write_text(json.dumps(info))
    assert from_dict(TrainConfig, RunFolder(old).read_config()["train"]).weight_decay == 0.0
    for run in ("new", "old"):
        assert main(["train", "--resume", str(tmp_path / run), "--max-steps", "4", "--quiet"]) == 0
    a, b = (saved.tensors(saved.checkpoint_dir(tmp_path / r) / "model.safetensors") for r in ("new", "old"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert max(r["step"] for r in saved.log(tmp_path / "old") if "step" in r) == 4
