"""Initialisers by name (init.by_name, behind --init and --forget-bias): what each sets, what it leaves alone,
and one-line errors for bad names and values."""

import numpy as np
import pytest

from unroll.nn import init
from unroll.nn.stack import Stack


def model_params(cell="lstm", H=64, layers=2, seed=0):
    """A language model's flat dict: embedding, a stack, the readout."""
    rng = np.random.default_rng(seed)
    params = {"embed.W": rng.standard_normal((10, 8))}
    params.update(Stack(cell, 8, H, layers).init(rng, np.float64))
    params |= {"out.W": rng.standard_normal((H, 10)), "out.b": rng.standard_normal(10)}
    return params


def test_default_changes_nothing():
    params = model_params()
    out = init.by_name(params, "default", np.random.default_rng(0))
    assert all(out[k] is params[k] for k in params)


@pytest.mark.parametrize("spec, std", [("gaussian", 1 / np.sqrt(200)), ("gaussian:0.05", 0.05)])
def test_gaussian_sets_every_recurrent_matrix_to_the_requested_std(spec, std):
    params = model_params("rnn", H=200, layers=1)
    out = init.by_name(params, spec, np.random.default_rng(1))
    for k in ("layer0.rnn.W_x", "layer0.rnn.W_h"):
        assert abs(out[k].mean()) < 4 * std / np.sqrt(out[k].size)
        assert out[k].std() == pytest.approx(std, rel=0.03)
    for k in ("embed.W", "out.W", "out.b", "layer0.rnn.b"):
        assert out[k] is params[k]


def test_xavier_and_orthogonal_match_the_named_functions():
    params = model_params()
    np.testing.assert_array_equal(init.by_name(params, "xavier", np.random.default_rng(2))["layer1.lstm.W_h"],
                                  init.xavier(params, np.random.default_rng(2))["layer1.lstm.W_h"])
    W = init.by_name(params, "orthogonal", np.random.default_rng(3))["layer0.lstm.W_h"]
    for block in np.split(W, 4, axis=1):                        # each gate block orthogonal
        np.testing.assert_allclose(block.T @ block, np.eye(64), atol=1e-12)


def test_identity_is_the_irnn():
    params = model_params("rnn", H=5, layers=2)
    out = init.by_name(params, "identity", np.random.default_rng(4))
    for l in (0, 1):
        np.testing.assert_array_equal(out[f"layer{l}.rnn.W_h"], np.eye(5))
        np.testing.assert_array_equal(out[f"layer{l}.rnn.b"], 0.0)


def test_uniform_redraws_every_cell_parameter_and_not_the_embedding_or_readout():
    params = model_params("gru", H=16)
    out = init.by_name(params, "uniform:0.05", np.random.default_rng(5))
    for k, v in out.items():
        if k in ("embed.W", "out.W", "out.b"):
            assert v is params[k]
        else:
            assert np.abs(v).max() <= 0.05 and np.abs(v).max() > 0.04


def test_forget_bias_sets_the_lstm_forget_block_only():
    params = model_params("lstm", H=4)
    out = init.by_name(params, "xavier", np.random.default_rng(6), forget_bias=2.5)
    for k in ("layer0.lstm.b", "layer1.lstm.b"):
        np.testing.assert_array_equal(out[k][4:8], 2.5)
        np.testing.assert_array_equal(out[k][:4], params[k][:4])
    np.testing.assert_array_equal(out["out.b"], params["out.b"])
    cell = Stack("lstm", 3, 4).init(np.random.default_rng(7), np.float64)
    cell = {k.split(".", 2)[2]: v for k, v in cell.items()}     # a cell's own dict: "b"
    np.testing.assert_array_equal(init.by_name(cell, "default", None, forget_bias=0.0)["b"][4:8], 0.0)
    with pytest.raises(ValueError, match="forget_bias applies to LSTM cells only"):
        init.by_name(model_params("rnn", H=8), "default", None, forget_bias=1.0)


@pytest.mark.parametrize("spec, match", [
    ("gauss", "init must be one of default, gaussian, xavier, orthogonal, identity, uniform"),
    ("uniform", "init uniform needs its scale: uniform:S"),
    ("uniform:-0.1", r"init uniform:S needs a number S > 0, got '-0.1'"),
    ("gaussian:abc", r"init gaussian:S needs a number S > 0, got 'abc'"),
    ("xavier:2", "init xavier takes no value"),
])
def test_bad_specs_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        init.by_name(model_params(), spec, np.random.default_rng(0))
