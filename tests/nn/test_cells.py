"""The per-cell test set, shared by the vanilla RNN (tanh, ReLU), the LSTM and the GRU: naive per-example
(per-gate) references written from the seeds' equations, float64 centred differences, fast path == step
loop, zero default state, masks against each sequence alone, float32 against float64, bad input.
Cell-specific facts (initialisation, parameter names, state layouts) sit at the end."""

from typing import Callable, NamedTuple

import numpy as np
import pytest

from unroll.nn import gradcheck, gru, lstm, rnn

T, N, D, H = 5, 3, 4, 6
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def naive_rnn(x, params, state0, activation):
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    h, hs = state0, []
    for t in range(x.shape[0]):
        h = np.stack([f(params["W_x"].T @ x[t, n] + params["W_h"].T @ h[n] + params["b"]) for n in range(x.shape[1])])
        hs.append(h)
    return np.stack(hs), h


def gate_blocks(params, gates):
    """The seeds' separate matrices W_xi, W_hi, b_i, ... sliced out of the (., kH) blocks."""
    blocks = {gate: slice(k * H, (k + 1) * H) for k, gate in enumerate(gates)}
    return ({g: params["W_x"][:, s] for g, s in blocks.items()}, {g: params["W_h"][:, s] for g, s in blocks.items()},
            {g: params["b"][s] for g, s in blocks.items()})


def naive_lstm(x, params, state0, activation):
    W_x, W_h, b = gate_blocks(params, "ifgo")
    (h, c), hs = state0, []
    for t in range(x.shape[0]):
        new_h, new_c = [], []
        for n in range(x.shape[1]):
            pre = {gate: W_x[gate].T @ x[t, n] + W_h[gate].T @ h[n] + b[gate] for gate in "ifgo"}
            i, f, g, o = sig(pre["i"]), sig(pre["f"]), np.tanh(pre["g"]), sig(pre["o"])
            new_c.append(f * c[n] + i * g)
            new_h.append(o * np.tanh(new_c[-1]))
        h, c = np.stack(new_h), np.stack(new_c)
        hs.append(h)
    return np.stack(hs), (h, c)


def naive_gru(x, params, state0, activation):
    W_x, W_h, b = gate_blocks(params, "rzn")
    h, hs = state0, []
    for t in range(x.shape[0]):
        new_h = []
        for n in range(x.shape[1]):
            x_tn, h_n = x[t, n], h[n]
            r = sig(W_x["r"].T @ x_tn + W_h["r"].T @ h_n + b["r"])
            z = sig(W_x["z"].T @ x_tn + W_h["z"].T @ h_n + b["z"])
            cand = np.tanh(W_x["n"].T @ x_tn + b["n"] + r * (W_h["n"].T @ h_n + params["b_hn"]))
            new_h.append((1 - z) * h_n + z * cand)
        h = np.stack(new_h)
        hs.append(h)
    return np.stack(hs), h


class Cell(NamedTuple):
    name: str
    module: object
    activation: str | None        # only the vanilla RNN takes one
    naive: Callable
    tuple_state: bool             # the LSTM's (h, c)


CELLS = [Cell("rnn-tanh", rnn, "tanh", naive_rnn, False), Cell("rnn-relu", rnn, "relu", naive_rnn, False),
         Cell("lstm", lstm, None, naive_lstm, True), Cell("gru", gru, None, naive_gru, False)]
every_cell = pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
by_name = {c.name: c for c in CELLS}


def make(cell, rng, dtype=np.float64):
    """Parameters with random biases (so no term hides), inputs (T, N, D) and a random initial state."""
    params = cell.module.init(D, H, rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, params["b"].shape).astype(dtype)
    if "b_hn" in params:
        params["b_hn"] = rng.uniform(-0.5, 0.5, H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    parts = tuple(rng.standard_normal((N, H)).astype(dtype) * 0.5 for _ in range(2 if cell.tuple_state else 1))
    return params, x, parts if cell.tuple_state else parts[0]


def forward(cell, x, params, state0=None, mask=None):
    options = {"activation": cell.activation} if cell.activation else {}
    return cell.module.forward(x, params, state0, mask, **options)


def step(cell, x_t, params, state):
    options = {"activation": cell.activation} if cell.activation else {}
    return cell.module.step(x_t, params, state, **options)


def parts(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def rebuild(cell, pieces):
    return tuple(pieces) if cell.tuple_state else pieces[0]


def take(cell, state, rows):
    return rebuild(cell, [p[rows] for p in parts(state)])


def random_like(cell, state, rng):
    return rebuild(cell, [rng.standard_normal(p.shape) for p in parts(state)])


# ----------------------------------------------------------------------------------------------------
# Shared behaviour.

@every_cell
def test_forward_matches_naive_reference(cell):
    params, x, state0 = make(cell, np.random.default_rng(0))
    hs, stateT, _ = forward(cell, x, params, state0)
    ref_hs, ref_stateT = cell.naive(x, params, state0, cell.activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    for got, ref in zip(parts(stateT), parts(ref_stateT)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@every_cell
def test_zero_initial_state_is_the_default(cell):
    params, x, state0 = make(cell, np.random.default_rng(6))
    hs, stateT, _ = forward(cell, x, params)
    zeros = rebuild(cell, [np.zeros((N, H)) for _ in parts(state0)])
    hs0, stateT0, _ = forward(cell, x, params, zeros)
    assert np.array_equal(hs, hs0) and all(np.array_equal(a, b) for a, b in zip(parts(stateT), parts(stateT0)))
    ref_hs, _ = cell.naive(x, params, zeros, cell.activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)


@every_cell
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(cell, masked):
    rng = np.random.default_rng(1)
    params, x, state0 = make(cell, rng)
    mask = MASK if masked else None
    G = rng.standard_normal((T, N, H))
    GT = random_like(cell, state0, rng)

    def loss():
        hs, stateT, _ = forward(cell, x, params, state0, mask)
        return gradcheck.contract((hs, *parts(stateT)), (G, *parts(GT)))

    _, _, cache = forward(cell, x, params, state0, mask)
    dx, dstate0, grads = cell.module.backward(G, cache, GT)
    arrays, analytic = {"x": x, **params}, {"x": dx, **grads}
    for i, (s, ds) in enumerate(zip(parts(state0), parts(dstate0))):
        arrays[f"state0[{i}]"], analytic[f"state0[{i}]"] = s, ds
    errors = gradcheck.check(loss, arrays, analytic)
    assert max(errors.values()) < 1e-7, errors


@every_cell
def test_sequence_path_equals_step_loop(cell):
    params, x, state0 = make(cell, np.random.default_rng(2))
    hs, stateT, _ = forward(cell, x, params, state0)
    state = state0
    for t in range(T):
        state = step(cell, x[t], params, state)
        np.testing.assert_allclose(hs[t], parts(state)[0], rtol=1e-12, atol=1e-12)
    for got, ref in zip(parts(stateT), parts(state)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@every_cell
def test_masked_batch_equals_each_sequence_alone(cell):
    rng = np.random.default_rng(3)
    params, x, state0 = make(cell, rng)
    lengths = [5, 2, 4]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GT = random_like(cell, state0, rng)
    hs, stateT, cache = forward(cell, x, params, state0, mask)
    dx, dstate0, grads = cell.module.backward(G, cache, GT)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        one = slice(n, n + 1)
        hs_n, stateT_n, cache_n = forward(cell, x[:L, one], params, take(cell, state0, one))
        np.testing.assert_allclose(hs[:L, one], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        for got, ref in zip(parts(stateT), parts(stateT_n)):
            np.testing.assert_allclose(got[one], ref, rtol=1e-12, atol=1e-12)
        dx_n, dstate0_n, g_n = cell.module.backward(G[:L, one], cache_n, take(cell, GT, one))
        np.testing.assert_allclose(dx[:L, one], dx_n, rtol=1e-11, atol=1e-12)
        assert np.all(dx[L:, n] == 0)
        for got, ref in zip(parts(dstate0), parts(dstate0_n)):
            np.testing.assert_allclose(got[one], ref, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


@every_cell
def test_float32_agrees_with_float64(cell):
    params, x, state0 = make(cell, np.random.default_rng(9))
    mask = (np.arange(T)[:, None] < np.array([5, 3, 1])[None, :])
    hs64, stateT64, _ = forward(cell, x, params, state0, mask)
    as32 = lambda a: a.astype(np.float32)  # noqa: E731
    params32 = {k: as32(v) for k, v in params.items()}
    hs32, stateT32, _ = forward(cell, as32(x), params32, rebuild(cell, [as32(p) for p in parts(state0)]), mask)
    assert hs32.dtype == np.float32 and all(p.dtype == np.float32 for p in parts(stateT32))
    default_hs, default_stateT, _ = forward(cell, as32(x), params32)          # the zero state is float32 too
    assert default_hs.dtype == np.float32 and all(p.dtype == np.float32 for p in parts(default_stateT))
    for a32, a64 in [(hs32, hs64), *zip(parts(stateT32), parts(stateT64))]:
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-6)


COMMON_BAD_INPUT = [
    (dict(x=np.zeros((5, 3))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 7))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 4), np.float32)), "x has dtype float32 but the parameters are float64"),
    (dict(x=np.zeros((5, 3, 4), np.int64)), "x must be float32 or float64"),
    (dict(mask=np.ones((4, 3))), r"mask must have shape \(T, N\) = \(5, 3\)"),
    (dict(mask=np.array([[1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])), "mask column 0 is not a prefix"),
    (dict(mask=np.array([[1, 0, 1]] * 5)), "mask column 1 has no real step"),
]
ARRAY_STATE_BAD_INPUT = [
    (dict(state0=np.zeros((2, 6))), r"state0 must have shape \(3, 6\)"),
    (dict(state0=(np.zeros((3, 6)), np.zeros((3, 6)))), "state0 must be a numpy array of shape"),
    (dict(state0=np.zeros((3, 6), np.float32)), "state0 has dtype float32 but the parameters are float64"),
]
BAD_INPUT = {
    "rnn-tanh": ARRAY_STATE_BAD_INPUT + [(dict(activation="softsign"), "activation must be one of")],
    "gru": ARRAY_STATE_BAD_INPUT,
    "lstm": [
        (dict(state0=np.zeros((3, 6))), r"state0 must be a tuple \(h0, c0\) of arrays \(N, H\) = \(3, 6\)"),
        (dict(state0=[np.zeros((3, 6))] * 2), r"state0 must be a tuple \(h0, c0\)"),
        (dict(state0=(np.zeros((3, 6)),)), r"state0 must be a tuple \(h0, c0\)"),
        (dict(state0=(np.zeros((2, 6)), np.zeros((3, 6)))), r"state0\[0\] \(h0\) must have shape \(3, 6\)"),
        (dict(state0=(np.zeros((3, 6)), np.zeros((3, 5)))), r"state0\[1\] \(c0\) must have shape \(3, 6\)"),
        (dict(state0=(np.zeros((3, 6)), np.zeros((3, 6), np.float32))), r"state0\[1\] \(c0\) has dtype float32"),
    ],
}


@pytest.mark.parametrize("name, bad, match", [
    (name, bad, match) for name, specific in BAD_INPUT.items() for bad, match in COMMON_BAD_INPUT + specific])
def test_bad_input_names_the_argument(name, bad, match):
    cell = by_name[name]
    params, x, _ = make(cell, np.random.default_rng(4))
    args = dict(x=x, state0=None, mask=None) | bad
    options = {"activation": args.get("activation", cell.activation)} if cell.activation else {}
    with pytest.raises(ValueError, match=match):
        cell.module.forward(args["x"], params, args["state0"], args["mask"], **options)


@pytest.mark.parametrize("name, changes, match", [
    ("rnn-tanh", dict(drop="W_h"), "params is missing W_h"),
    ("rnn-tanh", dict(b=np.zeros(5)), r"params\['b'\] must have shape \(6,\)"),
    ("gru", dict(drop="b_hn"), "params is missing b_hn"),
    ("gru", dict(b=np.zeros(6)), r"params\['b'\] must have shape \(18,\)"),
    ("gru", dict(b_hn=np.zeros(18)), r"params\['b_hn'\] must have shape \(6,\)"),
    ("lstm", dict(drop="W_h"), "params is missing W_h"),
    ("lstm", dict(b=np.zeros(6)), r"params\['b'\] must have shape \(24,\)"),
    ("lstm", dict(W_h=np.zeros((6, 18))), r"params\['W_h'\] must have shape \(6, 24\)"),
])
def test_missing_or_misshapen_parameter_is_named(name, changes, match):
    cell = by_name[name]
    params, x, _ = make(cell, np.random.default_rng(5))
    drop = changes.pop("drop", None)
    params = {k: v for k, v in params.items() if k != drop} | changes
    with pytest.raises(ValueError, match=match):
        forward(cell, x, params)


@pytest.mark.parametrize("name, dstate, match", [
    ("rnn-tanh", None, r"dhs must have shape \(5, 3, 6\)"),
    ("rnn-tanh", np.zeros((2, 6)), r"dstate must have shape \(3, 6\)"),
    ("gru", None, r"dhs must have shape \(5, 3, 6\)"),
    ("gru", np.zeros((2, 6)), r"dstate must have shape \(3, 6\)"),
    ("lstm", None, r"dhs must have shape \(5, 3, 6\)"),
    ("lstm", np.zeros((3, 6)), r"dstate must be None or a tuple \(dh_T, dc_T\)"),
    ("lstm", (None, np.zeros((2, 6))), r"dstate\[1\] \(dc_T\) must have shape \(3, 6\)"),
])
def test_bad_backward_arguments_are_named(name, dstate, match):
    cell = by_name[name]
    params, x, state0 = make(cell, np.random.default_rng(8))
    _, _, cache = forward(cell, x, params, state0)
    dhs = np.zeros((5, 3, 5)) if dstate is None else np.zeros((5, 3, 6))
    with pytest.raises(ValueError, match=match):
        cell.module.backward(dhs, cache, dstate)


# ----------------------------------------------------------------------------------------------------
# Cell-specific facts.

def test_rnn_init_shapes_and_bounds():
    params = rnn.init(D, H, np.random.default_rng(0), np.float32)
    assert {k: v.shape for k, v in params.items()} == {"W_x": (D, H), "W_h": (H, H), "b": (H,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert all(np.abs(v).max() <= 1 / np.sqrt(H) for v in params.values())


def test_lstm_init_shapes_bounds_and_forget_bias():
    params = lstm.init(D, H, np.random.default_rng(0), np.float32)
    assert {k: v.shape for k, v in params.items()} == {"W_x": (D, 4 * H), "W_h": (H, 4 * H), "b": (4 * H,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert np.all(params["b"][H:2 * H] == 1.0)
    bound = 1 / np.sqrt(H)
    for k in ("W_x", "W_h"):
        assert np.abs(params[k]).max() <= bound
    assert np.abs(np.delete(params["b"], np.s_[H:2 * H])).max() <= bound


def test_gru_init_shapes_and_bounds():
    params = gru.init(D, H, np.random.default_rng(0), np.float32)
    assert {k: v.shape for k, v in params.items()} == {
        "W_x": (D, 3 * H), "W_h": (H, 3 * H), "b": (3 * H,), "b_hn": (H,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert all(np.abs(v).max() <= 1 / np.sqrt(H) for v in params.values())


def test_lstm_none_in_dstate_means_zero():
    rng = np.random.default_rng(7)
    params, x, (h0, c0) = make(by_name["lstm"], rng)
    G, GhT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm.forward(x, params, (h0, c0))
    a = lstm.backward(G, cache, (GhT, None))
    b = lstm.backward(G, cache, (GhT, np.zeros((N, H))))
    assert np.array_equal(a[0], b[0]) and all(np.array_equal(p, q) for p, q in zip(a[1], b[1]))
    assert all(np.array_equal(a[2][k], b[2][k]) for k in params)
