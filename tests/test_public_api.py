"""The public API that unroll/__init__.py advertises imports, and the README's example runs with it."""

import numpy as np
import pytest

import unroll


def test_every_advertised_name_exists():
    missing = [name for name in unroll.__all__ if not hasattr(unroll, name)]
    assert missing == []
    from unroll import Adam, LanguageModel, Stack, clip_grad_norm  # noqa: F401  the docstring's own line
    from unroll.nn import gru, lstm, rnn  # noqa: F401


def test_the_readme_example_takes_one_step_and_lowers_the_loss():
    model = unroll.LanguageModel(vocab_size=65, hidden_size=32, num_layers=2, cell="lstm", seed=0)
    opt = unroll.Adam(model.params, lr=2e-3)
    x = np.random.default_rng(0).integers(0, 65, (50, 4))      # (T, N) token ids
    loss, grads, state = model.loss_and_grads(x[:-1], x[1:])
    norm = unroll.clip_grad_norm(grads, 5.0)
    opt.step(grads)
    after, _, _ = model.loss_and_grads(x[:-1], x[1:])
    assert loss == pytest.approx(np.log(65), rel=0.05) and norm > 0 and after < loss
    assert isinstance(state, tuple) and state[0].shape == (2, 4, 32)     # (h, c), (L, N, H)


def test_defaults_agree_between_the_api_the_config_and_the_cli():
    """The hidden size was 512 in ModelConfig and LanguageModel but 256 in the CLI; 256 won everywhere."""
    from unroll.cli import build_parser
    model = unroll.LanguageModel(vocab_size=10)
    args = build_parser().parse_args(["train"])
    assert model.config.hidden_size == unroll.ModelConfig().hidden_size == getattr(args, "network.hidden_size") == 256
    assert getattr(args, "train.lr") == unroll.TrainConfig().lr and getattr(args, "bptt.seq_len") == 100
    assert unroll.TrainConfig().max_time == 600.0 and unroll.TrainConfig(max_steps=5).max_time is None
