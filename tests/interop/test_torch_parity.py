"""Parity with torch.nn.RNN / LSTM / GRU on the same weights: outputs, final states and every gradient,
dense and packed (variable lengths); and the weight mapping's round trips, adjoint and bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from unroll.interop import torch_weights as tw
from unroll.nn.stack import Stack

torch.set_num_threads(1)
T, N, D, H = 5, 3, 4, 3
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def close(actual, expected, tol, what=""):
    """max |actual - expected| <= tol * max(max |expected|, 1e-3)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-3)
    err = float(np.abs(actual - expected).max(initial=0.0)) / scale
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol}"


def random_torch_module(s: Stack, dtype, seed):
    """torch's module for ``s`` with every weight and both biases (bias_hh too) drawn at random."""
    torch.manual_seed(seed)
    module = tw.torch_module(s).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.6, 0.6)
    return module


def parts(state):
    return state if isinstance(state, tuple) else (state,)


def run_both(s: Stack, dtype, seed, lengths=None):
    """Same weights, inputs and upstream gradients through unroll and torch; returns both sides' results."""
    module = random_torch_module(s, dtype, seed)
    params = tw.from_torch(module.state_dict(), s)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    rows = (s.num_layers * s.dirs, N, H)
    state0 = tuple(0.5 * rng.standard_normal(rows).astype(dtype) for _ in range(s.kind.state_parts))
    G = rng.standard_normal((T, N, s.dirs * H)).astype(dtype)
    GS = tuple(rng.standard_normal(rows).astype(dtype) for _ in state0)
    mask = None
    if lengths is not None:
        mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(dtype)
        G = G * mask[:, :, None]
    one = (lambda t: t[0]) if len(state0) == 1 else tuple
    hs, state, cache = s.forward(x, params, one(state0), mask)
    dx, dstate0, grads = s.backward(G, cache, one(GS))
    ours = dict(hs=hs, state=parts(state), dx=dx, dstate0=parts(dstate0), grads=grads)

    x_t = torch.tensor(x, requires_grad=True)
    s0_t = tuple(torch.tensor(a, requires_grad=True) for a in state0)
    inp = x_t if lengths is None else pack_padded_sequence(x_t, torch.tensor(lengths), enforce_sorted=False)
    out, state_t = module(inp, one(s0_t))
    if lengths is not None:
        out, _ = pad_packed_sequence(out, total_length=T)
    loss = (out * torch.tensor(G)).sum() + sum((a * torch.tensor(g)).sum() for a, g in zip(parts(state_t), GS))
    loss.backward()
    theirs = dict(hs=out.detach().numpy(), state=tuple(a.detach().numpy() for a in parts(state_t)),
                  dx=x_t.grad.numpy(), dstate0=tuple(a.grad.numpy() for a in s0_t),
                  torch_grads={k: p.grad.numpy() for k, p in module.named_parameters()})
    return ours, theirs


def assert_parity(s, ours, theirs, tol):
    close(ours["hs"], theirs["hs"], tol, "outputs")
    for i, (a, b) in enumerate(zip(ours["state"], theirs["state"])):
        close(a, b, tol, f"final state part {i}")
    close(ours["dx"], theirs["dx"], tol, "dx")
    for i, (a, b) in enumerate(zip(ours["dstate0"], theirs["dstate0"])):
        close(a, b, tol, f"dstate0 part {i} (h0, c0)")
    mapped = tw.grads_to_torch(ours["grads"], s)               # unroll's grads in torch's names
    assert set(mapped) == set(theirs["torch_grads"])
    for k, g in theirs["torch_grads"].items():
        close(mapped[k], g, tol, k)
    back = tw.grads_from_torch(theirs["torch_grads"], s)      # torch's grads in unroll's names
    assert list(back) == list(ours["grads"])
    for k, g in ours["grads"].items():
        close(back[k], g, tol, k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, activation", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (3, False), (1, True), (2, True)])
def test_dense_parity(cell, activation, num_layers, bidirectional, dtype):
    s = Stack(cell, D, H, num_layers, bidirectional=bidirectional, activation=activation)
    ours, theirs = run_both(s, dtype, seed=num_layers + 10 * bidirectional)
    assert ours["hs"].dtype == dtype
    assert_parity(s, ours, theirs, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, activation", CELLS)
def test_packed_variable_length_parity(cell, activation, dtype):
    s = Stack(cell, D, H, 2, bidirectional=True, activation=activation)
    ours, theirs = run_both(s, dtype, seed=3, lengths=[3, 5, 1])
    assert np.all(ours["hs"][3:, 0] == 0) and np.all(ours["dx"][1:, 2] == 0)
    assert_parity(s, ours, theirs, TOL[dtype])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_round_trips_and_export_layout(cell):
    s = Stack(cell, D, H, 2, bidirectional=True)
    params = s.init(np.random.default_rng(0), np.float64)
    params = {k: np.random.default_rng(1).uniform(-1, 1, v.shape) for k, v in params.items()}
    sd = tw.to_torch(params, s)
    module = tw.torch_module(s)
    assert {k: v.shape for k, v in sd.items()} == {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert tw.torch_names(s) == {k: v.shape for k, v in sd.items()}
    back = tw.from_torch(sd, s)
    assert list(back) == list(params)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    H3 = 2 * H if cell == "gru" else 4 * H if cell == "lstm" else H    # export: b -> bias_ih, zeros -> bias_hh
    assert not sd["bias_hh_l1_reverse"][:H3].any()
    if cell == "gru":                                                   # z <-> 1 - z: the z block is negated
        np.testing.assert_array_equal(sd["weight_ih_l0"][H:2 * H], -params["layer0.gru.W_x"][:, H:2 * H].T)
        np.testing.assert_array_equal(sd["bias_hh_l0"][2 * H:], params["layer0.gru.b_hn"])
    tensors = {k: torch.from_numpy(v) for k, v in sd.items()}         # tensors and arrays import alike
    for k, v in tw.from_torch(tensors, s, dtype=np.float32).items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, params[k].astype(np.float32))
    s2, p2 = tw.from_torch_module(tw.torch_module(s, params))
    assert repr(s2) == repr(s)
    for k in params:
        np.testing.assert_array_equal(p2[k], params[k])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_grads_to_torch_is_the_adjoint_of_from_torch(cell):
    """<g, A θ> = <Aᵀ g, θ> for the linear import map A, with random g and torch weights θ."""
    s = Stack(cell, D, H, 2, bidirectional=True)
    rng = np.random.default_rng(2)
    theta = {k: rng.standard_normal(shape) for k, shape in tw.torch_names(s).items()}
    g = {k: rng.standard_normal(shape) for k, shape in s.param_shapes().items()}
    lhs = sum(np.sum(g[k] * v) for k, v in tw.from_torch(theta, s).items())
    rhs = sum(np.sum(v * theta[k]) for k, v in tw.grads_to_torch(g, s).items())
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)
    back = tw.grads_from_torch(tw.grads_to_torch(g, s), s)
    for k in g:
        np.testing.assert_allclose(back[k], g[k], rtol=0, atol=0)


def test_module_without_biases_imports_as_zero_biases():
    torch.manual_seed(0)
    module = torch.nn.GRU(D, H, num_layers=2, bias=False).double()
    s, params = tw.from_torch_module(module)
    assert all(not v.any() for k, v in params.items() if ".b" in k)
    x = np.random.default_rng(0).standard_normal((T, N, D))
    close(s.forward(x, params)[0], module(torch.tensor(x))[0].detach().numpy(), 1e-12, "outputs")


def test_bad_state_dicts_and_modules_are_named(monkeypatch):
    s = Stack("lstm", D, H, 2)
    sd = tw.to_torch(s.init(np.random.default_rng(0)), s)
    with pytest.raises(ValueError, match="state_dict is missing weight_hh_l1"):
        tw.from_torch({k: v for k, v in sd.items() if k != "weight_hh_l1"}, s)
    with pytest.raises(ValueError, match=r"state_dict\['weight_ih_l1'\] must have shape \(12, 3\)"):
        tw.from_torch(sd | {"weight_ih_l1": np.zeros((12, 4))}, s)
    with pytest.raises(ValueError, match="state_dict has keys weight_hr_l0 that Stack"):
        tw.from_torch(sd | {"weight_hr_l0": np.zeros((2, 3))}, s)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        tw.from_torch(sd, s, dtype=np.int32)
    with pytest.raises(ValueError, match="proj_size=2 has no unroll equivalent"):
        tw.from_torch_module(torch.nn.LSTM(D, H, proj_size=2))
    with pytest.raises(ValueError, match="must be a torch.nn.RNN, LSTM or GRU"):
        tw.from_torch_module(torch.nn.Linear(2, 2))
    from unroll.nn import rnn, stack
    monkeypatch.setattr(stack, "CELLS", dict(stack.CELLS))
    stack.register_cell("elman", rnn, 1, ("activation",))
    with pytest.raises(ValueError, match="cell 'elman' has no torch.nn equivalent"):
        tw.to_torch({}, Stack("elman", D, H))


def test_importing_interop_does_not_import_torch():
    code = "import sys, unroll.interop; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
