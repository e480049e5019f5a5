"""Vector standardisation uses the training statistics everywhere (issue 29): validation, `eval --data`
and `predict` standardise with the mean and std of the training file, stored in the run folder, never with
the statistics of the file at hand. The files at hand here have their own mean and scale far from the
training file's (a shift of 2 to 6 training std, a scale 2 to 6 times smaller).

The reference is a second run through the CLI: the same settings with --no-standardize, trained on the
files standardised by hand in this test (mean and population std of the training file's features). Its
validation loss, eval loss and predictions must equal the standardised run's, and differ from what the
file's own statistics would give."""

import json

import numpy as np
import pytest

from unroll.cli import main

FLAGS = {"classify": ["--task", "classify", "--hidden", "5", "--batch", "6", "--dtype", "float64", "--lr", "0.02"],
         "tag": ["--task", "tag", "--hidden", "5", "--batch", "6", "--dtype", "float64", "--lr", "0.02"]}


def sequences(seed: int, n: int, loc, scale, task: str):
    """[(id, x (T, 2), labels)]: the class follows the sign of f1 - loc[0] (per sequence or per row)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = np.round(rng.normal(loc, scale, (3 + i % 3, 2)), 6)
        if task == "classify":
            labels = ["up" if x[:, 0].mean() > loc[0] else "down"] * len(x)
        else:
            labels = ["H" if v > loc[0] else "L" for v in x[:, 0]]
        out.append((f"{seed}-{i}", x, labels))
    return out


def write(path, seqs, transform=lambda x: x) -> None:
    rows = ["id,time,f1,f2,label"]
    for sid, x, labels in seqs:
        rows += [f"{sid},{t},{a!r},{b!r},{y}" for t, ((a, b), y) in enumerate(zip(transform(x).tolist(), labels))]
    path.write_text("\n".join(rows) + "\n")


def trained(tmp_path, task):
    """(standardised run, reference run, hand mean, hand std, the eval file's sequences)."""
    train = sequences(0, 36, [0.0, 5.0], [1.0, 3.0], task)
    valid = sequences(1, 12, [2.0, -1.0], [0.5, 0.5], task)          # mean and scale far from train's
    other = sequences(2, 12, [-1.5, 20.0], [0.4, 1.0], task)
    allx = np.concatenate([x for _, x, _ in train])
    mean = allx.sum(axis=0) / len(allx)
    std = np.sqrt(((allx - mean) ** 2).sum(axis=0) / len(allx))
    by_hand = lambda x: (x - mean) / std                                                 # noqa: E731
    write(tmp_path / "train.csv", train)
    write(tmp_path / "valid.csv", valid)
    write(tmp_path / "other.csv", other)
    write(tmp_path / "train_h.csv", train, by_hand)
    write(tmp_path / "valid_h.csv", valid, by_hand)
    write(tmp_path / "other_h.csv", other, by_hand)
    common = [*FLAGS[task], "--max-steps", "8", "--eval-every", "4", "--quiet"]
    assert main(["train", *common, "--data", str(tmp_path / "train.csv"), "--valid", str(tmp_path / "valid.csv"),
                 "--out", str(tmp_path / "std")]) == 0
    assert main(["train", *common, "--no-standardize", "--data", str(tmp_path / "train_h.csv"), "--valid",
                 str(tmp_path / "valid_h.csv"), "--out", str(tmp_path / "ref")]) == 0
    return tmp_path / "std", tmp_path / "ref", mean, std, other


def valid_losses(run_dir) -> list[float]:
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["valid_loss"] for r in log if "valid_loss" in r]


def eval_loss(capsys, run_dir, data) -> float:
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--data", str(data), "--checkpoint", "last", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["loss"]


def predict(capsys, run_dir, data) -> list[str]:
    capsys.readouterr()
    assert main(["predict", str(run_dir), str(data), "--checkpoint", "last"]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("task", ["classify", "tag"])
def test_validation_eval_and_predict_use_the_training_statistics(tmp_path, capsys, task):
    std_run, ref_run, mean, std, other = trained(tmp_path, task)
    scaler = json.loads((std_run / "config.json").read_text())["scaler"]
    assert np.allclose(scaler["mean"], mean, rtol=1e-12) and np.allclose(scaler["std"], std, rtol=1e-12)

    assert len(valid_losses(std_run)) == 2
    assert valid_losses(std_run) == pytest.approx(valid_losses(ref_run), rel=1e-9)
    assert eval_loss(capsys, std_run, tmp_path / "valid.csv") == pytest.approx(valid_losses(ref_run)[-1], rel=1e-9)
    loss = eval_loss(capsys, std_run, tmp_path / "other.csv")
    assert loss == pytest.approx(eval_loss(capsys, ref_run, tmp_path / "other_h.csv"), rel=1e-9)
    lines = predict(capsys, std_run, tmp_path / "other.csv")
    assert len(lines) == len(other) and lines == predict(capsys, ref_run, tmp_path / "other_h.csv")

    # the file's own statistics would give other numbers: the test can tell the two apart
    allx = np.concatenate([x for _, x, _ in other])
    write(tmp_path / "other_own.csv", other, lambda x: (x - allx.mean(axis=0)) / allx.std(axis=0))
    assert abs(eval_loss(capsys, ref_run, tmp_path / "other_own.csv") - loss) > 1e-3 * loss
