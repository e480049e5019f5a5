"""A toy cell for tests/nn/test_add_a_cell.py: the vanilla RNN's equations in a module of its own, so that
a run of ``--cell toy`` must equal a run of ``--cell rnn`` exactly when nothing but the registry names cells.

    h_t = tanh(x_t W_x + h_{t-1} W_h + b)            (T, N, H)

Its backward is rnn.backward's (same equations, same cache), so its tests are the registry's plumbing.
"""

from unroll.nn import rnn


def init(input_size, hidden_size, rng, dtype=None):
    return rnn.init(input_size, hidden_size, rng, **({} if dtype is None else {"dtype": dtype}))


def param_shapes(D, H):
    return rnn.param_shapes(D, H)


def forward(x, params, state0=None, mask=None, activation="tanh"):
    return rnn.forward(x, params, state0, mask, activation=activation)


def backward(dhs, cache, dstate=None):
    return rnn.backward(dhs, cache, dstate)


def step(x_t, params, state, activation="tanh"):
    return rnn.step(x_t, params, state, activation=activation)
