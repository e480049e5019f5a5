"""End to end in temporary folders: train, resume, sample, eval, plot, and the errors users meet."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main
from unroll.data.text import load_bundled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = ["--hidden", "32", "--layers", "1", "--seq-len", "20", "--batch", "8", "--quiet"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    text = load_bundled("tinyshakespeare")[:30000]
    path.write_text(text, encoding="utf-8")
    return path


def train(*args) -> dict:
    return main(["train", *SMALL, *map(str, args)])


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(run: Path) -> dict:
    folder = run / "checkpoints" / (run / "latest").read_text().strip()
    return load_file(str(folder / "model.safetensors"))


def test_training_lowers_the_loss_and_eval_agrees_with_the_log(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    assert train("--data", corpus, "--max-steps", 60, "--eval-every", 30, "--out", run) == 0
    log = [r for r in records(run) if "valid_loss" in r]
    assert [r["step"] for r in log] == [30, 60]
    assert log[-1]["valid_loss"] < log[0]["valid_loss"] < math.log(65)
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 60
    assert result["loss"] == pytest.approx(log[-1]["valid_loss"], rel=1e-9)
    assert result["bits_per_char"] == pytest.approx(result["loss"] / math.log(2))
    assert main(["eval", str(run)]) == 0
    assert capsys.readouterr().out.startswith(f"{result['loss']:.4f} nats/char")
    assert main(["plot", str(run)]) == 0
    import matplotlib.image
    assert matplotlib.image.imread(run / "curves.png").shape[:2] == (440, 1210)   # figsize (11, 4) at 110 dpi


def test_resume_is_bit_identical_to_an_uninterrupted_run(corpus, tmp_path):
    # --total-steps 12: the default cosine decays over the whole run's 12 steps in both (the split run's
    # first --max-steps 7 would otherwise end its decay at step 7)
    options = ["--data", corpus, "--eval-every", 5, "--dropout", 0.2, "--layers", 2, "--bptt", 30, "--total-steps", 12]
    assert train(*options, "--max-steps", 12, "--out", tmp_path / "whole") == 0
    assert train(*options, "--max-steps", 7, "--out", tmp_path / "split") == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "12", "--quiet"]) == 0
    whole, split = weights(tmp_path / "whole"), weights(tmp_path / "split")
    assert whole.keys() == split.keys()
    for key in whole:
        assert np.array_equal(whole[key], split[key]), key
    whole_log = {r["step"]: r for r in records(tmp_path / "whole")}
    split_log = {r["step"]: r for r in records(tmp_path / "split") if "event" not in r}   # not the budget change
    assert sorted(split_log) == sorted(whole_log) == list(range(1, 13))     # a 12-step run logs every step
    assert [s for s in sorted(split_log) if "valid_loss" in split_log[s]] == [5, 7, 10, 12]   # the stop evaluates at 7
    assert [s for s in sorted(whole_log) if "valid_loss" in whole_log[s]] == [5, 10, 12]
    assert split_log[12]["valid_loss"] == whole_log[12]["valid_loss"]


def test_sampling_twice_with_one_seed_gives_the_same_text(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    train("--data", corpus, "--max-steps", 5, "--out", run)
    capsys.readouterr()
    texts = []
    for seed in (3, 3, 4):
        assert main(["sample", str(run), "--length", "80", "--seed", str(seed), "--prime", "ROMEO:"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] != texts[2]
    assert texts[0].startswith("ROMEO:") and len(texts[0]) == len("ROMEO:") + 80 + 1
    assert main(["sample", str(run), "--length", "30", "--greedy"]) == 0
    greedy = capsys.readouterr().out
    assert main(["sample", str(run), "--length", "30", "--greedy", "--seed", "9"]) == 0
    assert capsys.readouterr().out == greedy


def test_utf8_text_in_any_script_trains_and_samples_unmangled(tmp_path, capsys):
    text = "naïve café, crème brûlée — 中文字符，你好世界。Ελληνικά! " * 60
    path = tmp_path / "utf8.txt"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    assert train("--data", path, "--max-steps", 30, "--lr", "0.01", "--out", run) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "200", "--seed", "0", "--prime", "中文"]) == 0
    sample = capsys.readouterr().out
    assert set(sample) <= set(text) | {"\n"}
    assert any(ch in sample for ch in "字符你好世界")


def test_word_level_on_the_time_machine(tmp_path, capsys):
    run = tmp_path / "run"
    data = FIXTURES / "timemachine.txt"
    assert train("--data", data, "--level", "word", "--min-count", "3", "--max-steps", 40,
                 "--eval-every", 20, "--out", run) == 0
    config = json.loads((run / "config.json").read_text())
    vocab = config["vocab"]
    assert config["vocab"]["level"] == "word" and "<unk>" in json.dumps(vocab)
    log = [r for r in records(run) if "valid_loss" in r]
    assert log[-1]["valid_loss"] < log[0]["valid_loss"]
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["perplexity"] == pytest.approx(math.exp(log[-1]["valid_loss"]), rel=1e-9)
    assert main(["sample", str(run), "--length", "20", "--seed", "1", "--prime", "the time"]) == 0
    assert capsys.readouterr().out.startswith("the time ")


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"abc\x00\x01\x02", "binary"),
    (b"good line\nbad \xe9 byte\n", "bad.txt:2: byte 0xe9 is not utf-8"),
    (b"too short", "too short for batch 8"),
])
def test_bad_corpus_gets_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert train("--data", path, "--max-steps", 1, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unroll: error:") and message in err and "\n" not in err
    assert not (tmp_path / "run" / "latest").exists()


def test_bad_run_folders_and_primes_get_one_line_errors(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    train("--data", corpus, "--max-steps", 2, "--out", run)
    capsys.readouterr()
    assert main(["sample", str(run), "--prime", "ROMEO€"]) == 2
    assert "'€'" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train("--data", corpus, "--max-steps", 2, "--out", run) == 2
    assert "holds a finished run; give another --out" in capsys.readouterr().err      # advice that works (#28)
    config = json.loads((run / "config.json").read_text())
    config["network"]["hidden_size"] = 16
    (run / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(run)]) == 2
    assert "has shape" in capsys.readouterr().err
    (run / "latest").unlink()
    assert main(["eval", str(run)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "unroll", "gradcheck"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout.splitlines()[-1]
    worst = float(result.stdout.splitlines()[-1].split("worst relative error ")[1].split()[0])
    assert worst < 1e-7


def test_predict_completes_each_line(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    train("--data", corpus, "--max-steps", 5, "--out", run)
    (tmp_path / "in.txt").write_text("ROMEO:\nFirst Citizen:\n", encoding="utf-8")
    capsys.readouterr()
    outputs = []
    for _ in range(2):
        assert main(["predict", str(run), str(tmp_path / "in.txt"), "--length", "30", "--seed", "2"]) == 0
        outputs.append(capsys.readouterr().out.splitlines())
    assert outputs[0] == outputs[1] and len(outputs[0]) == 2
    assert outputs[0][0].startswith("ROMEO:") and outputs[0][1].startswith("First Citizen:")
    assert all(len(line) <= len(prefix) + 30 for line, prefix in zip(outputs[0], ["ROMEO:", "First Citizen:"]))


def _as_unroll_0_1(run: Path) -> None:
    """Rewrite a run folder in the layout unroll 0.1 wrote (config.json sections, fixed checkpoint fields)."""
    from safetensors.numpy import save_file
    config = json.loads((run / "config.json").read_text())
    corpus = {k: v for k, v in config["corpus"].items() if k != "valid"}
    old = {"unroll_version": "0.1.0", "created": config["created"], "model": config["network"],
           "train": {**corpus, **config["bptt"], **config["train"]}, "data": config["data"], "vocab": config["vocab"]}
    del old["train"]["log_every"]
    (run / "config.json").write_text(json.dumps(old))
    names = {"carry.state.0": "bptt.state.0", "carry.state.1": "bptt.state.1",
             "carry.history.0": "bptt.history.x", "carry.history.1": "bptt.history.y"}
    for folder in (run / "checkpoints").iterdir():
        state = json.loads((folder / "state.json").read_text())["components"]
        counters = {k: state["counters"][k] for k in ("step", "tokens", "elapsed", "lr_scale", "nan_retries")}
        (folder / "state.json").write_text(json.dumps({"counters": counters, "optimizer": state["optimizer"],
                                                       "batcher": state["batches"], "rng": state["rng"]}))
        arrays = load_file(str(folder / "train.safetensors"))
        save_file({names.get(k, k): v for k, v in arrays.items()}, str(folder / "train.safetensors"))


def test_a_run_folder_of_unroll_0_1_resumes_bit_identically(corpus, tmp_path, capsys):
    options = ["--data", corpus, "--cell", "lstm", "--eval-every", 5, "--layers", 2, "--bptt", 30,   # 0.1's LSTM:
               "--total-steps", 12]                                         # its carried state (h, c) per name
    assert train(*options, "--max-steps", 12, "--out", tmp_path / "whole") == 0
    assert train(*options, "--max-steps", 7, "--out", tmp_path / "old") == 0
    _as_unroll_0_1(tmp_path / "old")
    assert "bptt.history.x" in load_file(str(tmp_path / "old" / "checkpoints" / "step-00000007" / "train.safetensors"))
    assert main(["train", "--resume", str(tmp_path / "old"), "--max-steps", "12", "--quiet"]) == 0
    whole, old = weights(tmp_path / "whole"), weights(tmp_path / "old")
    for key in whole:
        assert np.array_equal(whole[key], old[key]), key
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    (tmp_path / "old" / "config.json").write_text(json.dumps({**config, "format": 7, "unroll_version": "9.0"}))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err.strip()
    assert "written by unroll 9.0 (format 7)" in err and "\n" not in err
