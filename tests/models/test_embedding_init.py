"""--embedding-init-scale S (#30): every model that embeds tokens draws its token embeddings from uniform(-S, S)
(Kim's CNN-rand draws 0.25) and every other parameter exactly as without it; the default is N(0, 1) as
before; models that read no tokens refuse it in one line naming the flag; a run's config.json stores it
and the model its settings build draws it; a config.json written before the setting existed
reads it as the default."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.models.classifier import SequenceClassifier
from unroll.models.forecaster import Forecaster
from unroll.models.generator import ConditionalGenerator
from unroll.models.inputs import VectorInput
from unroll.models.language_model import LanguageModel
from unroll.models.readout import TaskModel
from unroll.models.seq2seq import Seq2Seq
from unroll.models.tagger import SequenceTagger
from unroll.nn.network import StackConfig
from unroll.runs import RunFolder

from tests.tasks.helpers import sentiment_lines

MODELS = [   # (model, its keywords, its token embeddings)
    (SequenceClassifier, dict(vocab_size=300, num_classes=2, hidden_size=3, embedding_size=40), ("embed.W",)),
    (SequenceTagger, dict(vocab_size=300, num_tags=2, hidden_size=3, embedding_size=40), ("embed.W",)),
    (ConditionalGenerator, dict(vocab_size=300, num_classes=2, hidden_size=3, embedding_size=40), ("embed.W",)),
    (Seq2Seq, dict(src_vocab_size=300, tgt_vocab_size=200, hidden_size=3, embedding_size=40),
     ("src_embed.W", "tgt_embed.W")),
    (LanguageModel, dict(vocab_size=300, hidden_size=3, num_layers=1, embedding_size=40), ("embed.W",)),
]
IDS = [m[0].__name__ for m in MODELS]


@pytest.mark.parametrize("model, kwargs, embeddings", MODELS, ids=IDS)
def test_the_token_embeddings_are_uniform_and_nothing_else_changes(model, kwargs, embeddings):
    plain = model(**kwargs, seed=3)
    scaled = model(**kwargs, seed=3, embedding_init_scale=0.25)
    assert plain.params.keys() == scaled.params.keys()
    for k, v in scaled.params.items():
        if k in embeddings:
            assert v.dtype == plain.params[k].dtype and v.shape == plain.params[k].shape
            assert np.abs(v).max() <= 0.25 and np.abs(v).max() > 0.249          # ±S, its whole range
            assert abs(float(v.std()) - 0.25 / np.sqrt(3)) < 0.005              # uniform's sd S/√3 = 0.1443
            assert abs(float(plain.params[k].std()) - 1.0) < 0.05               # the default: N(0, 1)
        else:
            np.testing.assert_array_equal(v, plain.params[k], err_msg=k)      # drawn exactly as without it


def test_the_default_is_the_n01_draw_of_before():
    """The default network draws what the classifier drew before the setting existed: the same generator's first
    V x E standard normals."""
    model = SequenceClassifier(vocab_size=50, num_classes=2, hidden_size=3, embedding_size=6, seed=5)
    expected = np.random.default_rng(5).standard_normal((50, 6)).astype(np.float32)
    np.testing.assert_array_equal(model.params["embed.W"], expected)


def test_it_wins_over_init_scale_for_the_embedding():
    model = SequenceClassifier(vocab_size=300, num_classes=2, hidden_size=3, embedding_size=40, init_scale=0.01,
                               embedding_init_scale=0.3)
    assert 0.29 < np.abs(model.params["embed.W"]).max() <= 0.3
    assert max(float(np.abs(v).max()) for k, v in model.params.items() if k != "embed.W") <= 0.01


def test_a_generators_class_embedding_is_no_token_embedding():
    plain = ConditionalGenerator(vocab_size=30, num_classes=3, hidden_size=4, seed=1)
    scaled = ConditionalGenerator(vocab_size=30, num_classes=3, hidden_size=4, seed=1, embedding_init_scale=0.1)
    np.testing.assert_array_equal(scaled.params["cond.W"], plain.params["cond.W"])
    assert np.abs(scaled.params["embed.W"]).max() <= 0.1


REFUSED = "--embedding-init-scale draws a token embedding, and this model reads no tokens"


@pytest.mark.parametrize("build", [
    lambda: SequenceClassifier(None, 2, hidden_size=3, input_layer=VectorInput(4), embedding_init_scale=0.1),
    lambda: SequenceTagger(None, 2, hidden_size=3, input_layer=VectorInput(4, "mlp"), embedding_init_scale=0.1),
    lambda: Forecaster(context=4, horizon=2, hidden_size=3, embedding_init_scale=0.1),
    lambda: TaskModel(StackConfig(hidden_size=3, embedding_init_scale=0.1), 2, 1, "last", np.random.default_rng(0)),
], ids=["classifier-vectors", "tagger-vectors", "forecaster", "longterm"])
def test_models_that_read_no_tokens_refuse_it(build):
    with pytest.raises(ValueError, match=f"^{REFUSED}"):
        build()


@pytest.mark.parametrize("value", [0.0, -0.25])
def test_a_scale_must_be_positive(value):
    with pytest.raises(ValueError, match=f"^--embedding-init-scale must be positive, got {value}$"):
        StackConfig(embedding_init_scale=value)


def write_data(tmp_path):
    data = tmp_path / "s.tsv"
    data.write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(40)))
    return data


def test_the_cli_refuses_a_bad_value_in_one_line(tmp_path, capsys):
    argv = ["train", "--task", "classify", "--data", str(write_data(tmp_path)), "--max-steps", "1", "--quiet",
            "--out", str(tmp_path / "run")]
    assert main([*argv, "--embedding-init-scale", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "unroll: error: --embedding-init-scale must be positive, got 0.0"]
    assert not (tmp_path / "run").exists()


def test_config_json_stores_it_and_an_old_one_reads_the_default(tmp_path):
    argv = ["train", "--task", "classify", "--data", str(write_data(tmp_path)), "--hidden", "3", "--embedding",
            "5", "--batch", "8", "--max-steps", "2", "--eval-every", "2", "--members", "1", "--quiet"]   # one model: embed.W
    assert main([*argv, "--embedding-init-scale", "0.05", "--out", str(tmp_path / "run")]) == 0
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["network"]["embedding_init_scale"] == 0.05
    task, _ = RunFolder(tmp_path / "run").task()             # the model the run folder's settings build
    drawn = task.build_model(0).params["embed.W"]
    assert drawn.shape[0] > 10 and 0.04 < np.abs(drawn).max() <= 0.05
    del info["network"]["embedding_init_scale"]               # a run folder written before the setting
    (tmp_path / "run" / "config.json").write_text(json.dumps(info))
    task, _ = RunFolder(tmp_path / "run").task()
    assert task.settings["network"].embedding_init_scale is None
