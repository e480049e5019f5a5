"""Vector input end to end through the real CLI in temporary folders: classify from a long CSV, a .ts file and
an .npz; tag from a CSV and an .npz; seq2seq with vector sources. For each: the validation loss falls, eval
equals the logged validation figure, predict reads the same format, a run stopped and resumed ends
bit-identical; the same sequences in three formats train to bit-identical weights; bad input is one line,
exit 2 and no run folder; a token task given numbers warns."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import run
from tests.data.vector_helpers import make_sequences, write_csv, write_npz, write_ts


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    xs, labels, tags = make_sequences(120, seed=1)
    write_csv(tmp_path / "c.csv", xs, labels)
    write_ts(tmp_path / "c.ts", xs, labels)
    write_npz(tmp_path / "c.npz", xs, labels)
    write_csv(tmp_path / "t.csv", xs, tags, per_step=True)
    write_npz(tmp_path / "t.npz", xs, tags, per_step=True)
    return tmp_path


def valid_by_step(run_dir) -> dict:
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["valid_loss"] for r in log if "valid_loss" in r}


CASES = {
    "classify-csv": ["--task", "classify", "--data", "c.csv", "--bidirectional", "--readout", "mean"],
    "classify-ts": ["--task", "classify", "--data", "c.ts", "--input-layer", "mlp", "--input-width", "6"],
    "classify-npz": ["--task", "classify", "--data", "c.npz", "--readout", "max"],
    "tag-csv": ["--task", "tag", "--data", "t.csv"],
    "tag-npz": ["--task", "tag", "--data", "t.npz", "--input-layer", "mlp"],
    "seq2seq-csv": ["--task", "seq2seq", "--data", "c.csv", "--attention", "--valid-fraction", "0.1"],
}


# classify's and tag's defaults drop out and decay the rate to 0 at the last step; 30 steps must learn, and
# the run stopped at 15 and resumed must follow the same constant rate
NO_DROPOUT = {"classify": ["--dropout", "0", "--embedding-dropout", "0", "--schedule", "constant"],
              "tag": ["--dropout", "0", "--schedule", "constant"]}


@pytest.mark.parametrize("case", list(CASES))
def test_train_eval_predict_resume(data, case, capsys):
    common = ["train", *CASES[case], *NO_DROPOUT.get(case.split("-")[0], []),
              "--hidden", "10", "--lr", "0.01", "--batch", "8", "--eval-every", "10", "--quiet"]
    assert main([*common, "--max-steps", "30", "--out", "whole"]) == 0
    config = json.loads((data / "whole" / "config.json").read_text())
    assert config["input"] == "vectors" and config["features"] == 3
    assert np.allclose(config["scaler"]["mean"], 10.0, atol=0.5)         # the generator's offset is 10
    valid = valid_by_step(data / "whole")
    assert list(valid) == [10, 20, 30] and valid[30] < valid[10]
    capsys.readouterr()
    assert main(["eval", "whole", "--json", "--checkpoint", "last"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(valid[30], rel=1e-12)
    assert main(["eval", "whole", "--json"]) == 0                        # the best checkpoint, by the task's metric
    best = json.loads(capsys.readouterr().out)["loss"]
    assert any(best == pytest.approx(v, rel=1e-12) for v in valid.values())

    source = CASES[case][3]
    assert main(["predict", "whole", source]) == 0
    out = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 120
    if case.startswith("classify"):
        assert all(row[1] in ("hi", "lo") and 0.5 <= float(row[2]) <= 1 for row in out)
    elif case.startswith("tag"):
        lengths = [len(x) for x in make_sequences(120, seed=1)[0]]
        assert [len(row[1].split()) for row in out] == lengths and {t for r in out for t in r[1].split()} <= {"up", "down"}
    else:
        assert all(len(row) == 2 for row in out)

    assert main([*common, "--max-steps", "15", "--out", "split"]) == 0
    assert main(["train", "--resume", "split", "--max-steps", "30", "--quiet"]) == 0
    whole, split = run.load(data / "whole")[1], run.load(data / "split")[1]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
    resumed = valid_by_step(data / "split")
    assert {step: resumed[step] for step in valid} == valid


def test_the_three_formats_train_the_same_model(data):
    for suffix in ("csv", "ts", "npz"):
        assert main(["train", "--task", "classify", "--data", f"c.{suffix}", "--hidden", "6", "--batch", "8",
                     "--max-steps", "5", "--eval-every", "5", "--out", f"r{suffix}", "--quiet"]) == 0
    models = [run.load(data / f"r{s}")[1] for s in ("csv", "ts", "npz")]
    for key in models[0].params:
        assert np.array_equal(models[0].params[key], models[1].params[key])
        assert np.array_equal(models[0].params[key], models[2].params[key])


def test_eval_on_another_file_and_a_wrong_width(data, capsys):
    assert main(["train", "--task", "classify", "--data", "c.csv", "--hidden", "6", "--batch", "8",
                 "--max-steps", "5", "--eval-every", "5", "--out", "r", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "r", "--data", "c.npz", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.0
    np.savez(data / "wide.npz", x_0=np.ones((4, 5)), labels=np.array(["hi"]))
    assert main(["eval", "r", "--data", "wide.npz"]) == 2
    assert capsys.readouterr().err.strip().endswith("wide.npz: 5 features per step; the run was trained on 3")


BAD = [
    ("bad.csv", "id,f,label\na,1,x\na,oops,x\nb,2,y\n", ["--task", "classify"],
     "bad.csv:3: column 'f' (column 2): 'oops' is not a number (if 'f' holds classes, name it with --label-col or "
     "leave it out of --feature-cols)"),
    ("bad.csv", "id,f,label\na,1,x\na,,x\nb,2,y\n", ["--task", "classify"],
     "bad.csv:3: column 'f' (column 2): missing value (NaN or empty); pass --missing ffill or --missing zero to fill gaps"),
    ("bad.csv", "id,t,f,label\na,1,1,x\na,1,2,x\nb,1,2,y\n", ["--task", "tag"],
     "bad.csv:3: column 't' (column 2): sequence 'a' time 1 repeats the time on line 2; rows must be in increasing "
     "time within a sequence"),
    ("bad.csv", "id,f,label\n" + "".join(f"s{i},{i},{i + 0.25}\n" for i in range(10)), ["--task", "classify"],
     "bad.csv: the labels are numbers such as 0.25 (9 distinct values): classify and tag need classes (names or "
     "integers), not measurements"),
    ("bad.ts", "@classLabel true a b\n@data\n1,2:a\n1,2,3\n", ["--task", "classify"],
     "bad.ts:4: no ':' before the class label (a case is dim1:dim2:...:label)"),
    ("bad.ts", "@classLabel true a b\n@data\n1,2:a\n", ["--task", "tag"],
     "bad.ts: a .ts file has one label per case; a label per step (--task tag) needs a long CSV or an .npz file"),
]


@pytest.mark.parametrize("name,text,flags,message", BAD)
def test_bad_input_is_one_line_and_leaves_no_run_folder(data, capsys, name, text, flags, message):
    (data / name).write_text(text)
    assert main(["train", *flags, "--data", name, "--max-steps", "1", "--out", "r", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(message) and "Traceback" not in "\n".join(err)
    assert not (data / "r").exists()


def test_missing_fill_lets_the_run_start(data):
    (data / "gap.csv").write_text("id,f,label\n" + "".join(f"s{i},{'' if k == 1 else k},{'ab'[i % 2]}\n"
                                                          for i in range(20) for k in range(3)))
    assert main(["train", "--task", "classify", "--data", "gap.csv", "--missing", "ffill", "--hidden", "4",
                 "--max-steps", "2", "--eval-every", "2", "--out", "r", "--quiet"]) == 0


def test_a_token_task_given_numbers_warns(data, capsys):
    rng = np.random.default_rng(0)
    (data / "n.tsv").write_text("".join(f"{'ab'[i % 2]}\t" + " ".join(f"{v:.3f}" for v in rng.random(5)) + "\n"
                                        for i in range(40)))
    assert main(["train", "--task", "classify", "--data", "n.tsv", "--hidden", "4", "--max-steps", "1",
                 "--eval-every", "1", "--out", "r", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "n.tsv: the examples are numbers; --task classify reads them as word tokens" in err
    assert "--input vectors" in err
    assert main(["train", "--task", "classify", "--data", "n.tsv", "--input", "vectors", "--max-steps", "1",
                 "--out", "r2", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().endswith("n.tsv: no sequence id column (looked for id, series_id, "
                                                    "sequence_id, sequence, seq_id, case_id, sample_id); name it "
                                                    "with --id-col")
    assert not (data / "r2").exists()


def test_a_token_run_made_before_vector_input_still_loads(data, capsys):
    """config.json without the "vectors" section (runs written before it existed) reads with its defaults."""
    (data / "s.tsv").write_text("".join(f"{'ab'[i % 2]}\tword{i % 2} other\n" for i in range(20)))
    assert main(["train", "--task", "classify", "--data", "s.tsv", "--hidden", "4", "--max-steps", "2",
                 "--eval-every", "2", "--out", "r", "--quiet"]) == 0
    config = json.loads((data / "r" / "config.json").read_text())
    assert config["vectors"]["input"] == "auto" and "input" not in config
    del config["vectors"]
    (data / "r" / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["eval", "r", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.0
