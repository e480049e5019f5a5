"""The summaries in analysis/gradients.py against closed forms: per-gate spectral norms of blocks built with
known singular values, the geometric mean of Jacobian norms worked out from a diagonal recurrence,
clipping reports on hand-picked gradients, and states() of the skip RNN from a 2-D h_0."""

import numpy as np
import pytest

from unroll.analysis import gradients as G
from unroll.nn import rnn, skip

D, H = 4, 5


def with_singular_values(values, rng):
    """An (H, H) matrix U diag(values) Vᵀ with U, V random orthogonal: its singular values are ``values``."""
    U, _ = np.linalg.qr(rng.standard_normal((H, H)))
    V, _ = np.linalg.qr(rng.standard_normal((H, H)))
    return U @ np.diag(values) @ V.T


def test_block_spectral_norms_of_an_lstm_recurrent_matrix_built_from_known_singular_values():
    rng = np.random.default_rng(0)
    tops = [0.5, 3.0, 1.25, 7.0]                               # σ_max of the i, f, g, o blocks
    blocks = [with_singular_values(np.linspace(top / 10, top, H), rng) for top in tops]
    W_h = np.concatenate(blocks, axis=1)                       # (H, 4H)
    np.testing.assert_allclose(G.block_spectral_norms(W_h), tops, rtol=1e-12)
    np.testing.assert_allclose(G.block_spectral_norms(W_h), [np.linalg.svd(b, compute_uv=False)[0] for b in blocks],
                               rtol=1e-12)
    np.testing.assert_allclose(G.block_spectral_norms(blocks[1]), [3.0], rtol=1e-12)   # an RNN: one block
    assert G.spectral_norm(W_h) == pytest.approx(np.linalg.svd(W_h, compute_uv=False)[0], rel=1e-12)
    assert G.spectral_norm(W_h) >= max(tops)                   # a block never exceeds the whole


def test_geometric_mean_of_jacobian_norms_from_a_diagonal_recurrence():
    """W_h = s·I makes every unit its own recurrence: ∂h_T/∂h_k = Π_{t=k+1..T} diag(s (1 - h_t²)), whose
    2-norm is the largest diagonal product. Example 0 reads zeros (h stays 0, so the norm is s^(T-k));
    example 1 reads random inputs, its states recomputed here by the plain recurrence."""
    rng = np.random.default_rng(1)
    T, s = 8, 0.9
    params = {"W_x": rng.standard_normal((D, H)), "W_h": s * np.eye(H), "b": np.zeros(H)}
    x = np.zeros((T, 2, D))
    x[:, 1] = rng.standard_normal((T, D))
    h, derivs = np.zeros(H), []
    for t in range(T):
        h = np.tanh(x[t, 1] @ params["W_x"] + s * h)
        derivs.append(s * (1 - h ** 2))                        # diagonal of ∂h_t/∂h_{t-1}
    expected = np.empty((2, T + 1))
    for k in range(T + 1):                                     # distance T - k
        expected[0, T - k] = s ** (T - k)
        expected[1, T - k] = np.prod(derivs[k:], axis=0).max() if k < T else 1.0
    norms = G.jacobian_norms("rnn", params, x, examples=2)
    np.testing.assert_allclose(norms["per_example"], expected, rtol=1e-10)
    np.testing.assert_allclose(norms["geometric_mean"], np.sqrt(expected[0] * expected[1]), rtol=1e-10)
    np.testing.assert_allclose(norms["mean"], (expected[0] + expected[1]) / 2, rtol=1e-10)
    assert np.all(norms["geometric_mean"][1:] < norms["mean"][1:])   # AM > GM where the two differ


def test_clipping_report_without_a_limit_and_with_one_on_hand_picked_gradients():
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([[12.0]])}          # norms 5 and 12, total 13
    report = G.clipping_report(grads, None)
    assert report == {"total_before": 13.0, "total_after": 13.0, "scale": 1.0,
                      "params": {"a": {"before": 5.0, "after": 5.0}, "b": {"before": 12.0, "after": 12.0}}}
    report = G.clipping_report(grads, 6.5)
    assert report["scale"] == pytest.approx(0.5, rel=1e-6)              # 6.5 / (13 + 1e-6)
    assert report["total_after"] == pytest.approx(6.5, rel=1e-6)
    assert report["params"]["a"]["after"] == pytest.approx(2.5, rel=1e-6)
    assert report["params"]["b"]["after"] == pytest.approx(6.0, rel=1e-6)
    assert G.clipping_report(grads, 13.5)["scale"] == 1.0              # under the limit: untouched


@pytest.mark.parametrize("d", [1, 3])
def test_states_of_the_skip_rnn_from_a_2d_h0_follow_the_skip_recurrence(d):
    """states() returns s_0..s_T as windows (d, N, H), oldest first; a 2-D h_0 means h_0 with zeros before it."""
    rng = np.random.default_rng(2)
    T, N = 6, 2
    params = skip.init(D, H, rng, np.float64)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    timeline = [np.zeros((N, H))] * (d - 1) + [h0]             # h_{1-d}, ..., h_0
    for t in range(T):
        timeline.append(np.tanh(x[t] @ params["W_x"] + timeline[-1] @ params["W_h"]
                                + timeline[-d] @ params["W_skip"] + params["b"]))
    got = G.states("skip", params, x, h0, d=d)
    assert len(got) == T + 1
    for t, window in enumerate(got):
        assert window.shape == (d, N, H)
        np.testing.assert_allclose(window, np.stack(timeline[t:t + d]), rtol=1e-12, atol=1e-14)


def test_states_of_the_plain_rnn_start_from_zeros_when_h0_is_none():
    rng = np.random.default_rng(3)
    params = rnn.init(D, H, rng, np.float64)
    x = rng.standard_normal((3, 2, D))
    got = G.states("rnn", params, x)
    h = np.zeros((2, H))
    np.testing.assert_array_equal(got[0], h)
    for t in range(3):
        h = np.tanh(x[t] @ params["W_x"] + h @ params["W_h"] + params["b"])
        np.testing.assert_allclose(got[t + 1], h, rtol=1e-12, atol=1e-14)
