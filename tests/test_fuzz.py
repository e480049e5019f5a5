"""Random bytes (and random JSON) through every loader: corpora, vocabularies, run configurations,
checkpoint files, metrics logs and imported models. The only outcomes allowed are success, or a one-line
ValueError (exit status 2 with one line on stderr at the command line): never a traceback."""

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from unroll.analysis.plots import read_metrics
from unroll.cli import main
from unroll.data import text as text_data
from unroll.data.vocab import CharVocab, WordVocab, vocab_from_json
from unroll.interop import lm_torch
from unroll.runs import run
from unroll.runs import checkpoint

FUZZ = settings(max_examples=int(os.environ.get("UNROLL_FUZZ_EXAMPLES", 60)),   # more for a longer hunt
                 deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TINY = ["--cell", "gru", "--hidden", "4", "--layers", "1", "--seq-len", "4", "--batch", "2", "--max-steps", "1",
        "--quiet"]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
some_bytes = st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode("utf-8"))


def one_line(err) -> None:
    message = str(err)
    assert message and "\n" not in message.strip(), message


def cli_outcome(args, capsys) -> int:
    capsys.readouterr()
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    lines = err.rstrip("\n").split("\n")          # str.splitlines would also split at \x1c..\x1e, \x85
    assert "Traceback" not in err and sum(line.startswith("unroll: error: ") for line in lines) == (code == 2), err
    if code == 2:
        assert lines[-1].startswith("unroll: error: "), err
    return code


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 20, encoding="utf-8")
    assert main(["train", "--data", str(folder / "corpus.txt"), *TINY, "--out", str(folder / "run")]) == 0
    return folder / "run"


def fresh_copy(good_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(good_run, target)
    return target



def loads_or_says_one_line(folder) -> None:
    """run.load succeeds on a damaged run folder, or fails with a one-line ValueError."""
    try:
        run.load(folder)
    except ValueError as err:
        one_line(err)

@FUZZ
@given(data=some_bytes)
def test_random_bytes_as_a_corpus(data, tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    try:
        text = text_data.read_text(path)
    except ValueError as err:
        one_line(err)
        assert str(path) in str(err)
    else:
        for build in (CharVocab.from_text, WordVocab.from_text, lambda t: WordVocab.from_text(t, tokenizer="space")):
            try:
                build(text).encode(text)
            except ValueError as err:
                one_line(err)
    shutil.rmtree(tmp_path / "run", ignore_errors=True)
    cli_outcome(["train", "--data", path, *TINY, "--out", tmp_path / "run"], capsys)


@FUZZ
@given(data=some_bytes)
def test_random_bytes_as_a_vocabulary_file(data, tmp_path):
    path = tmp_path / "vocab.json"
    path.write_bytes(data)
    try:
        lm_torch.read_vocab(path)
    except ValueError as err:
        one_line(err)


@FUZZ
@given(value=json_values)
def test_random_json_as_a_vocabulary(value, tmp_path):
    for candidate in (value, {"kind": "char", "tokens": value}, {"kind": "word", "tokens": value, "tokenizer": value}):
        try:
            vocab_from_json(candidate)
        except ValueError as err:
            one_line(err)
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    try:
        lm_torch.read_vocab(path)
    except ValueError as err:
        one_line(err)


FILES = ["checkpoints/{latest}/model.safetensors", "checkpoints/{latest}/train.safetensors",
         "checkpoints/{latest}/state.json", "latest", "config.json", "metrics.jsonl"]


@FUZZ
@given(data=some_bytes, which=st.sampled_from(FILES))
def test_random_bytes_as_run_folder_files(data, which, good_run, tmp_path, capsys):
    folder = fresh_copy(good_run, tmp_path)
    (folder / which.format(latest=checkpoint.latest(folder).name)).write_bytes(data)
    loads_or_says_one_line(folder)
    cli_outcome(["sample", folder, "--length", 3], capsys)
    cli_outcome(["plot", folder, "--out", tmp_path / "curves.png"], capsys) if which == "metrics.jsonl" else None
    cli_outcome(["train", "--resume", folder, "--max-steps", 2, "--quiet"], capsys)


def safetensors_like(header: bytes, body: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + body


@FUZZ
@given(header=json_values, body=st.binary(max_size=64), which=st.sampled_from(FILES[:2]))
def test_random_safetensors_with_matching_checksums(header, body, which, good_run, tmp_path, capsys):
    """A file that passes the checksum (state.json updated to match) still reaches safetensors' parser."""
    folder = fresh_copy(good_run, tmp_path)
    latest = checkpoint.latest(folder)
    data = safetensors_like(json.dumps(header).encode("utf-8"), body)
    (folder / which.format(latest=latest.name)).write_bytes(data)
    state = json.loads((latest / "state.json").read_text())
    state["checksums"][Path(which).name] = hashlib.sha256(data).hexdigest()
    (latest / "state.json").write_text(json.dumps(state))
    loads_or_says_one_line(folder)
    cli_outcome(["train", "--resume", folder, "--max-steps", 2, "--quiet"], capsys)


@FUZZ
@given(value=json_values, where=st.sampled_from(["state", "components", "counters", "optimizer", "batches", "rng",
                                                 "carry"]))
def test_random_json_as_checkpoint_state_with_matching_checksum(value, where, good_run, tmp_path, capsys):
    folder = fresh_copy(good_run, tmp_path)
    path = checkpoint.latest(folder) / "state.json"
    state = json.loads(path.read_text())
    sums = state.pop("checksums")
    if where == "state":
        state = value if isinstance(value, dict) else {"format": 2, "components": value}
    elif where == "components":
        state["components"] = value
    else:
        state["components"][where] = value
    sums["state"] = checkpoint._state_sha256(state)
    path.write_text(json.dumps({**state, "checksums": sums}))
    loads_or_says_one_line(folder)
    cli_outcome(["train", "--resume", folder, "--max-steps", 2, "--quiet"], capsys)


@FUZZ
@given(value=json_values, section=st.sampled_from(["task", "network", "train", "corpus", "bptt", "data", "vocab", None]))
def test_random_json_in_the_run_configuration(value, section, good_run, tmp_path, capsys):
    folder = fresh_copy(good_run, tmp_path)
    info = json.loads((folder / "config.json").read_text())
    info = value if section is None else {**info, section: value}
    (folder / "config.json").write_text(json.dumps(info))
    loads_or_says_one_line(folder)
    cli_outcome(["eval", folder], capsys)


@FUZZ
@given(data=some_bytes | st.builds(safetensors_like, json_values.map(lambda v: json.dumps(v).encode()),
                                   st.binary(max_size=64)))
def test_random_bytes_as_an_imported_model(data, tmp_path, capsys):
    (tmp_path / "m.safetensors").write_bytes(data)
    (tmp_path / "vocab.json").write_text(json.dumps(["a", "b"]), encoding="utf-8")
    try:
        lm_torch.read_torch(tmp_path / "m.safetensors")
    except ValueError as err:
        one_line(err)
    shutil.rmtree(tmp_path / "imported", ignore_errors=True)
    cli_outcome(["import", tmp_path / "m.safetensors", "--vocab", tmp_path / "vocab.json", "--out",
                 tmp_path / "imported"], capsys)


@FUZZ
@given(data=some_bytes)
def test_random_bytes_as_a_metrics_log(data, tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(data)
    try:
        read_metrics(tmp_path)
    except ValueError as err:
        one_line(err)
