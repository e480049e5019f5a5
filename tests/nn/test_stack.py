"""Stacks: float64 gradient checks (layers, directions, masks, dropout), a naive composed reference,
padded batch == each sequence alone, step loop == forward, the registry, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest

from unroll.nn import gradcheck, gru, lstm, ops, rnn, stack
from unroll.nn.stack import Stack

T, N, D, H = 4, 3, 3, 3
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
MODULES = {"rnn": rnn, "lstm": lstm, "gru": gru}
LENGTHS = [4, 1, 3]


def make(s: Stack, rng, dtype=np.float64):
    """Parameters with larger random biases, an input and a random initial state (the state layout)."""
    params = s.init(rng, dtype)
    for k in params:
        if k.endswith(".b") or k.endswith(".b_hn"):
            params[k] = rng.uniform(-0.5, 0.5, params[k].shape).astype(dtype)
    x = rng.standard_normal((T, N, s.input_size)).astype(dtype)
    rows = (s.num_layers * s.dirs, N, H)
    state0 = tuple(0.5 * rng.standard_normal(rows).astype(dtype) for _ in range(s.kind.state_parts))
    return params, x, state0[0] if len(state0) == 1 else state0


def parts(state):
    """A state (array or tuple) as a tuple of arrays."""
    return state if isinstance(state, tuple) else (state,)


def length_mask(lengths, T=T):
    return (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)


def gradient_errors(s: Stack, params, x, state0, mask=None, rng_seed=None):
    """Relative errors of x, every initial state part and every parameter against centred differences."""
    rng = np.random.default_rng(0)
    hs, state, _ = s.forward(x, params, state0, mask, rng=np.random.default_rng(rng_seed))
    G, GS = rng.standard_normal(hs.shape), tuple(rng.standard_normal(a.shape) for a in parts(state))

    def loss():
        hs, state, _ = s.forward(x, params, state0, mask, rng=np.random.default_rng(rng_seed))
        return gradcheck.contract((hs, *parts(state)), (G, *GS))

    _, _, cache = s.forward(x, params, state0, mask, rng=np.random.default_rng(rng_seed))
    dx, dstate0, grads = s.backward(G, cache, GS[0] if len(GS) == 1 else GS)
    assert list(grads) == list(params)
    names = ["h0", "c0"][:len(parts(state0))]
    return gradcheck.check(loss, {"x": x, **dict(zip(names, parts(state0))), **params},
                           {"x": dx, **dict(zip(names, parts(dstate0))), **grads})


@pytest.mark.parametrize("cell, activation", CELLS)
@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (3, False), (1, True), (2, True)])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(cell, activation, num_layers, bidirectional, masked):
    s = Stack(cell, D, H, num_layers, bidirectional=bidirectional, activation=activation)
    params, x, state0 = make(s, np.random.default_rng(1))
    errors = gradient_errors(s, params, x, state0, length_mask(LENGTHS) if masked else None)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_with_dropout_and_a_fixed_rng(cell):
    s = Stack(cell, D, H, 3, bidirectional=True, dropout=0.4)
    params, x, state0 = make(s, np.random.default_rng(2))
    _, _, cache = s.forward(x, params, state0, rng=np.random.default_rng(5))
    assert cache.keeps[0] is None and all(np.any(k == 0) and np.any(k > 0) for k in cache.keeps[1:])
    errors = gradient_errors(s, params, x, state0, length_mask(LENGTHS), rng_seed=5)
    assert max(errors.values()) < 1e-7, errors


def naive_stack(s: Stack, x, params, state0, keeps):
    """Compose the cell modules by hand: flipped copies for the reverse direction, explicit dropout masks."""
    module, inp, finals = MODULES[s.cell], x, []
    for l in range(s.num_layers):
        if keeps[l] is not None:
            inp = inp * keeps[l]
        outs = []
        for d in range(s.dirs):
            p = {k.split(".")[-1]: v for k, v in params.items() if k.startswith(s.prefix(l, d) + ".")}
            s0 = tuple(a[l * s.dirs + d] for a in parts(state0))
            kwargs = {"activation": s.activation} if s.cell == "rnn" else {}
            hs, final, _ = module.forward(inp if d == 0 else inp[::-1], p, s0 if len(s0) == 2 else s0[0], **kwargs)
            outs.append(hs if d == 0 else hs[::-1])
            finals.append(parts(final))
        inp = np.concatenate(outs, axis=-1)
    return inp, tuple(np.stack([f[i] for f in finals]) for i in range(len(finals[0])))


@pytest.mark.parametrize("cell, activation", CELLS)
def test_forward_equals_hand_composed_cells_with_dropout(cell, activation):
    s = Stack(cell, D, H, 3, bidirectional=True, dropout=0.3, activation=activation)
    params, x, state0 = make(s, np.random.default_rng(3))
    hs, state, cache = s.forward(x, params, state0, rng=np.random.default_rng(9))
    ref_hs, ref_state = naive_stack(s, x, params, state0, cache.keeps)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    for a, b in zip(parts(state), ref_state):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(9)                          # the masks are the ones drawn from the rng, in order
    for k in cache.keeps[1:]:
        np.testing.assert_array_equal(k, (rng.random(k.shape) >= 0.3) / 0.7)


def test_dropout_only_between_layers_and_only_in_training():
    s1, s1_drop = Stack("lstm", D, H, 1), Stack("lstm", D, H, 1, dropout=0.5)
    params, x, state0 = make(s1, np.random.default_rng(4))
    np.testing.assert_array_equal(s1_drop.forward(x, params, state0, rng=np.random.default_rng(0))[0],
                                  s1.forward(x, params, state0)[0])          # not on the input, not on the output
    s2, s2_drop = Stack("gru", D, H, 2, True), Stack("gru", D, H, 2, True, dropout=0.5)
    params, x, state0 = make(s2, np.random.default_rng(4))
    plain = s2.forward(x, params, state0)[0]
    np.testing.assert_array_equal(s2_drop.forward(x, params, state0, training=False)[0], plain)
    assert np.abs(s2_drop.forward(x, params, state0, rng=np.random.default_rng(0))[0] - plain).max() > 1e-3


@pytest.mark.parametrize("cell, activation", CELLS)
def test_padded_bidirectional_batch_equals_each_sequence_alone(cell, activation):
    s = Stack(cell, D, H, 2, bidirectional=True, activation=activation)
    rng = np.random.default_rng(5)
    params, x, state0 = make(s, rng)
    mask = length_mask(LENGTHS)
    G = rng.standard_normal((T, N, 2 * H))
    GS = tuple(rng.standard_normal(a.shape) for a in parts(state0))
    hs, state, cache = s.forward(x, params, state0, mask)
    dx, dstate0, grads = s.backward(G, cache, GS if len(GS) == 2 else GS[0])
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(LENGTHS):
        one = lambda a: a[:, n:n + 1]  # noqa: E731  (the sequence's slice of a state row-stack)
        s0 = tuple(one(a) for a in parts(state0))
        hs_n, state_n, cache_n = s.forward(x[:L, n:n + 1], params, s0 if len(s0) == 2 else s0[0])
        np.testing.assert_allclose(hs[:L, n:n + 1], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0) and np.all(dx[L:, n] == 0)
        for a, b in zip(parts(state), parts(state_n)):
            np.testing.assert_allclose(one(a), b, rtol=1e-12, atol=1e-12)
        gs = tuple(one(g) for g in GS)
        dx_n, dstate0_n, g_n = s.backward(G[:L, n:n + 1], cache_n, gs if len(gs) == 2 else gs[0])
        np.testing.assert_allclose(dx[:L, n:n + 1], dx_n, rtol=1e-11, atol=1e-12)
        for a, b in zip(parts(dstate0), parts(dstate0_n)):
            np.testing.assert_allclose(one(a), b, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


def test_reverse_index_is_a_per_sequence_involution():
    m = length_mask([4, 1, 3])[:, :, None]
    R = ops.reverse_index(m, T, N)
    np.testing.assert_array_equal(R, [[3, 0, 2], [2, 1, 1], [1, 2, 0], [0, 3, 3]])
    a = np.arange(T * N * 2.0).reshape(T, N, 2)
    np.testing.assert_array_equal(ops.time_gather(ops.time_gather(a, R), R), a)


@pytest.mark.parametrize("cell, activation", CELLS)
def test_step_loop_equals_forward(cell, activation):
    s = Stack(cell, D, H, 3, activation=activation)
    params, x, state0 = make(s, np.random.default_rng(6))
    hs, final, _ = s.forward(x, params, state0)
    state = state0
    for t in range(T):
        out, state = s.step(x[t], params, state)
        np.testing.assert_allclose(out, hs[t], rtol=1e-12, atol=1e-12)
    for a, b in zip(parts(state), parts(final)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    out0, _ = s.step(x[0], params, None)                     # None means zeros, as in forward
    np.testing.assert_allclose(out0, s.forward(x[:1], params)[0][0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_init_shapes_dtype_and_zero_state(cell):
    s = Stack(cell, 5, 4, 2, bidirectional=True)
    params = s.init(np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == s.param_shapes()
    assert all(v.dtype == np.float32 for v in params.values())
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    assert s.param_shapes()["layer1.%s_reverse.W_x" % cell] == (8, G * 4)
    zero = s.zero_state(6, np.float32)
    assert all(a.shape == (4, 6, 4) and a.dtype == np.float32 and not a.any() for a in parts(zero))
    assert len(parts(zero)) == (2 if cell == "lstm" else 1)
    x = np.random.default_rng(1).standard_normal((3, 6, 5)).astype(np.float32)
    hs, state, _ = s.forward(x, params)
    assert hs.dtype == np.float32 and hs.shape == (3, 6, 8)
    np.testing.assert_array_equal(hs, s.forward(x, params, zero)[0])


def shifted_rnn_module():
    """A made-up cell: an RNN reading x + shift (a forward/step option), with an unused extra parameter
    "c" when with_c (an init option), to check that the registry routes both kinds of option."""
    core = lambda p: {k: p[k] for k in ("W_x", "W_h", "b")}  # noqa: E731

    def param_shapes(D, H, with_c=False):
        return rnn.param_shapes(D, H) | ({"c": (H,)} if with_c else {})

    def init(D, H, rng, dtype, with_c=False):
        return rnn.init(D, H, rng, dtype) | ({"c": np.zeros(H, dtype)} if with_c else {})

    def forward(x, params, state0=None, mask=None, activation="tanh", shift=0.0):
        hs, state, cache = rnn.forward(x + shift, core(params), state0, mask, activation)
        return hs, state, (cache, "c" in params)

    def backward(dhs, cache, dstate=None):
        dx, dstate0, grads = rnn.backward(dhs, cache[0], dstate)
        return dx, dstate0, grads | ({"c": np.zeros(dhs.shape[-1])} if cache[1] else {})

    def step(x_t, params, state, activation="tanh", shift=0.0):
        return rnn.step(x_t + shift, core(params), state, activation)

    return SimpleNamespace(param_shapes=param_shapes, init=init, forward=forward, backward=backward, step=step)


def test_registered_cells_drive_the_stack(monkeypatch):
    monkeypatch.setattr(stack, "CELLS", dict(stack.CELLS))
    stack.register_cell("shifted", shifted_rnn_module(), 1, ("activation", "shift"), ("with_c",))
    s = Stack("shifted", D, H, 2, activation="relu", cell_options={"shift": 0.5, "with_c": True})
    assert s.options == {"activation": "relu", "shift": 0.5} and s.init_options == {"with_c": True}
    params = s.init(np.random.default_rng(0), np.float64)
    assert list(params) == list(s.param_shapes()) and params["layer1.shifted.c"].shape == (H,)
    x = np.random.default_rng(1).standard_normal((T, N, D))
    hs, _, cache = s.forward(x, params)
    assert set(s.backward(hs, cache)[2]) == set(params)
    plain = Stack("rnn", D, H, 1, activation="relu")
    p0 = {k.replace(".shifted.", ".rnn."): v for k, v in params.items() if k.startswith("layer0.") and ".c" not in k}
    np.testing.assert_array_equal(Stack("shifted", D, H, 1, activation="relu", cell_options={"shift": 0.5})
                                  .forward(x, {k: v for k, v in params.items() if k.startswith("layer0.")})[0],
                                  plain.forward(x + 0.5, p0)[0])
    np.testing.assert_allclose(s.step(x[0], params)[0], hs[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="state_parts must be 1"):
        stack.register_cell("bad", rnn, 3)


@pytest.mark.parametrize("args, match", [
    (dict(cell="transformer"), "cell must be one of deep_output, deep_transition, gru, leaky, lstm, rnn, skip, got 'transformer'"),
    (dict(input_size=0), "input_size must be a positive integer"),
    (dict(hidden_size=2.5), "hidden_size must be a positive integer"),
    (dict(num_layers=True), "num_layers must be a positive integer"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (dict(dropout=-0.1), r"dropout must be a number in \[0, 1\)"),
    (dict(bidirectional="yes"), "bidirectional must be True or False"),
    (dict(activation="softsign"), "activation must be one of"),
    (dict(cell="lstm", activation="relu"), "activation applies only to cells that take one"),
    (dict(cell_options={"alpha": 0.5}), "cell 'rnn' takes no option alpha"),
])
def test_bad_constructor_arguments_are_named(args, match):
    kwargs = dict(cell="rnn", input_size=D, hidden_size=H) | args
    with pytest.raises(ValueError, match=match):
        Stack(**kwargs)


def test_bad_call_arguments_are_named():
    s = Stack("lstm", D, H, 2, bidirectional=True, dropout=0.5)
    params, x, state0 = make(s, np.random.default_rng(7))
    cases = [
        (lambda: s.forward(x[:, :, :2], params, state0), r"x must have shape \(T, N, 3\)"),
        (lambda: s.forward(x.astype(np.float32), params), "x has dtype float32 but the parameters are float64"),
        (lambda: s.forward(x, params, state0[0]), r"state0 must be a tuple \(h, c\)"),
        (lambda: s.forward(x, params, (state0[0][:2], state0[1])), r"state0\[0\] must have shape \(4, 3, 3\)"),
        (lambda: s.forward(x, {k: v for k, v in params.items() if k != "layer1.lstm_reverse.W_h"}),
         "params is missing layer1.lstm_reverse.W_h"),
        (lambda: s.forward(x, params | {"layer1.lstm.W_x": np.zeros((3, 12))}),
         r"params\['layer1.lstm.W_x'\] must have shape \(6, 12\)"),
        (lambda: s.forward(x, params, mask=np.ones((T, N + 1))), r"mask must have shape \(T, N\)"),
        (lambda: s.forward(x, params, mask=length_mask([4, 0, 3])), "mask column 1 has no real step"),
        (lambda: s.forward(x, params), "dropout with p > 0 in training needs an explicit rng"),
        (lambda: s.step(x[0], params, state0), "step needs a unidirectional stack"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    hs, _, cache = s.forward(x, params, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"dhs must have shape \(T, N, 6\)"):
        s.backward(hs[..., :H], cache)
    with pytest.raises(ValueError, match=r"dstate must be a tuple \(h, c\)"):
        s.backward(hs, cache, state0[0])
    g = Stack("gru", D, H, 2)
    with pytest.raises(ValueError, match=r"state must have shape \(2, 3, 3\)"):
        g.step(x[0], g.init(np.random.default_rng(0), np.float64), np.zeros((1, N, H)))
