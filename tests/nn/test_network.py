"""The network section (nn/network.py): every stack setting declared once, the same defaults on the command
line and in the model constructors, each cell option checked against the cell registry, every network option
in every task's --help, and a setting that does not apply refused in one line naming the flag."""

import inspect
from dataclasses import fields

import numpy as np
import pytest

from unroll.cli import build_parser
from unroll.config import from_args
from unroll.models.classifier import DEFAULTS, SequenceClassifier
from unroll.models.forecaster import Forecaster
from unroll.models.generator import ConditionalGenerator
from unroll.models.language_model import LanguageModel
from unroll.models.seq2seq import Seq2Seq
from unroll.models.tagger import SequenceTagger
from unroll.nn import cells, network
from unroll.nn.network import StackConfig, cells_taking
from unroll.nn.stack import CELLS, Stack
from unroll.tasks import get_task

NETWORK_FIELDS = {f.name for f in fields(StackConfig)}
MODELS = {"lm": LanguageModel, "classify": SequenceClassifier, "tag": SequenceTagger, "generate": ConditionalGenerator,
          "seq2seq": Seq2Seq, "forecast": Forecaster}
TASKS = sorted({*MODELS, "longterm"})     # longterm's TaskModel takes the section itself (no keyword defaults)


def network_of(task: str):
    name = "network"
    return name, get_task(task).sections[name]


@pytest.mark.parametrize("task", TASKS)
def test_one_declaration_per_network_setting(task):
    name, cls = network_of(task)
    assert issubclass(cls, StackConfig) and {f.name for f in fields(cls)} >= NETWORK_FIELDS
    others = [(s, f.name) for s, c in get_task(task).sections.items() if s != name
              for f in fields(c) if f.name in NETWORK_FIELDS]
    assert others == []
    assert [f.name for f in fields(StackConfig)].count("skip_every") == 1
    assert not {"d", "skip_d", "unidirectional"} & {f.name for f in fields(cls)}


@pytest.mark.parametrize("task", sorted(MODELS))
def test_the_cli_and_the_model_constructor_have_the_same_defaults(task):
    name, _ = network_of(task)
    args = build_parser(task).parse_args(["train", "--task", task])
    cli = from_args(get_task(task).sections[name], args, name)
    signature = inspect.signature(MODELS[task]).parameters
    shared = sorted(NETWORK_FIELDS & set(signature))
    assert len(shared) >= 4
    assert {k: signature[k].default for k in shared} == {k: getattr(cli, k) for k in shared}
    if task == "classify":
        own = from_args(get_task(task).sections["classify"], args, "classify")
        assert {k: signature[k].default for k in DEFAULTS} == {k: getattr(own, k) for k in DEFAULTS} \
            == {"readout": "max", "embedding_dropout": 0.3}


def test_the_defaults_that_differ_from_stackconfigs_are_the_measured_ones():
    assert get_task("classify").sections["network"].defaults == dict(
        hidden_size=100, embedding_size=128, cell="gru", bidirectional=True, dropout=0.5)
    assert get_task("tag").sections["network"].defaults == dict(hidden_size=64, embedding_size=32, bidirectional=True,
                                                                dropout=0.2)
    assert get_task("forecast").sections["network"].defaults == dict(hidden_size=32)
    assert get_task("longterm").sections["network"].defaults == dict(hidden_size=64)
    assert network_of("lm")[1]().hidden_size == 256 and network_of("lm")[1]().num_layers == 2


def test_each_cell_option_applies_to_the_cells_that_register_it():
    assert cells_taking("alpha") == ("leaky",) and cells_taking("skip_every") == ("skip",)
    assert cells_taking("skip_only") == ("skip",) and cells_taking("shortcut") == ("deep_transition",)
    assert cells_taking("depth") == ("deep_transition", "deep_output")
    assert cells_taking("forget_bias") == ("lstm",)
    assert StackConfig(cell="skip", skip_every=3, skip_only=True).cell_options() == {"d": 3, "only_skip": True}
    assert StackConfig(cell="deep_transition", depth=3, shortcut=True).cell_options() == {"depth": 3, "shortcut": True}
    assert StackConfig(cell="leaky", alpha=0.25).cell_options() == {"alpha": 0.25}
    stack = Stack.from_config(StackConfig(cell="skip", hidden_size=3, skip_every=4), 2)
    assert stack.options["d"] == 4 and stack.zero_state(5).shape == (1, 4, 5, 3)


@pytest.mark.parametrize("values, message", [
    (dict(cell="gru", alpha=0.5), "--alpha applies to --cell leaky, not to --cell gru"),
    (dict(cell="lstm", skip_every=3), "--skip-every applies to --cell skip, not to --cell lstm"),
    (dict(cell="skip", depth=2), "--depth applies to --cell deep_transition | deep_output, not to --cell skip"),
    (dict(cell="gru", forget_bias=2.0), "--forget-bias applies to --cell lstm, not to --cell gru"),
    (dict(cell="lstm", activation="relu"), "--activation applies to --cell rnn | leaky | skip | deep_transition | "
                                           "deep_output, not to --cell lstm"),
    (dict(dropout=1.0), r"--dropout must lie in \[0, 1\), got 1.0"),
    (dict(init="xavier", init_scale=0.1), "give --init xavier or --init-scale 0.1, not both"),
])
def test_a_setting_for_another_cell_is_refused_naming_the_flag(values, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        StackConfig(**values)


def test_a_newly_registered_cell_takes_the_option_it_registers(monkeypatch):
    monkeypatch.setattr(cells, "CELLS", dict(cells.CELLS))
    monkeypatch.setattr(network, "CELLS", cells.CELLS)
    cells.register_cell("leaky2", "unroll.nn.leaky", 1, ("activation", "alpha"), ("learn_alpha", "alpha_range"))
    assert cells_taking("alpha") == ("leaky", "leaky2")


def test_the_embedding_fold_is_offered_to_the_cells_that_take_a_row_gather():
    assert [c for c in CELLS if cells.takes_row_gather(c)] == ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("task", TASKS)
def test_every_tasks_help_lists_every_network_option(task):
    train = next(a for a in build_parser(task)._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    text = train.format_help()
    flags = ["--cell", "--hidden", "--layers", "--bidirectional", "--embedding", "--dropout", "--locked-dropout",
             "--weight-drop", "--activation", "--init", "--init-scale", "--embedding-init-scale", "--forget-bias", "--alpha", "--alpha-range", "--skip-every",
             "--skip-only", "--depth", "--shortcut"]
    assert [f for f in flags if f not in text] == []
    for cell in CELLS:                                   # each offered cell is named, with its own options
        assert cell in text


@pytest.mark.parametrize("model, kwargs, message", [
    (SequenceTagger, dict(vocab_size=5, num_tags=2, num_layers=1, dropout=0.0, locked_dropout=True),
     r"--locked-dropout shapes the dropout masks, and no dropout is on \(give --dropout P\)"),
    (Forecaster, dict(context=4, horizon=2, dropout=0.3),
     r"--dropout 0.3 acts between recurrent layers, and this model has one \(--layers 1\): give --layers 2 or "
     "more, or leave --dropout out"),
    (Forecaster, dict(context=4, horizon=2, embedding_size=8),
     r"--embedding sizes a token embedding, and this model reads no tokens \(vector input\)"),
    (ConditionalGenerator, dict(vocab_size=5, num_classes=2, bidirectional=True),
     "--bidirectional: a generator writes left to right"),
    (SequenceClassifier, dict(vocab_size=5, num_classes=2, skip_d=3), "SequenceClassifier takes no option skip_d"),
])
def test_models_refuse_what_they_would_not_read(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


@pytest.mark.parametrize("model, kwargs", [
    (SequenceClassifier, dict(vocab_size=7, num_classes=2, hidden_size=3, embedding_size=2)),
    (SequenceTagger, dict(vocab_size=7, num_tags=2, hidden_size=3, embedding_size=2)),
    (ConditionalGenerator, dict(vocab_size=7, num_classes=2, hidden_size=3)),
    (Seq2Seq, dict(src_vocab_size=7, tgt_vocab_size=6, hidden_size=3)),
    (Forecaster, dict(context=4, horizon=2, hidden_size=3)),
    (LanguageModel, dict(vocab_size=7, hidden_size=3, num_layers=1)),
])
def test_every_model_takes_every_cell_option_and_initialiser(model, kwargs):
    leaky = model(**kwargs, cell="leaky", alpha=0.3, seed=1)
    assert not any("alpha" in k for k in leaky.params)                   # a fixed α: no parameter for it
    assert (getattr(leaky, "stack", None) or leaky.encoder).options["alpha"] == 0.3
    deep = model(**kwargs, cell="deep_transition", depth=3, shortcut=True, seed=1)
    assert (getattr(deep, "stack", None) or deep.encoder).init_options == {"depth": 3, "shortcut": True}
    lstm = model(**kwargs, cell="lstm", forget_bias=3.0, seed=1)
    biases = [v for k, v in lstm.params.items() if k.endswith("lstm.b")]
    assert biases and all(np.allclose(b[3:6], 3.0) for b in biases)     # gate blocks i, f, g, o: f is [H:2H]
    scaled = model(**kwargs, cell="gru", init_scale=0.01, seed=1)
    assert max(float(np.abs(v).max()) for v in scaled.params.values()) <= 0.01
