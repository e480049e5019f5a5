"""Tiny run folders of every probed task, trained for a few steps through the real CLI (module-wide)."""

import os

import pytest

from unroll.cli import main
from unroll.data.segment import segmentation_examples
from unroll.data.columns import write_conll

from tests.tasks.helpers import sentiment_lines

TEXT = ('First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n'
        'def f(x, y):\n    return (x + y) * 2\n') * 12
SENTENCES = "".join(f"the {w} film was {w} and the story is good\n" for w in ("good", "bad", "fine", "dull") * 10)


@pytest.fixture(scope="module")
def driver(request):
    """Headless Chromium for a page-test module (``driver_or_fail``: no browser is a failure, never a skip),
    its window the module's WINDOW (width, height; default 1250 x 950: the screenshots' size)."""
    from tests.analysis.test_viz_page import driver_or_fail
    d = driver_or_fail()
    d.set_window_size(*getattr(request.module, "WINDOW", (1250, 950)))
    yield d
    d.quit()


def load(run_dir):
    """(task, model) of a run's latest checkpoint, as `unroll eval` reads it."""
    from unroll.runs import load as load_run
    loaded = load_run(run_dir)
    return loaded.task, loaded.model


SCALE = 50 if os.environ.get("UNROLL_SCREENSHOTS") else 1     # docs/serve.md's pictures: train longer


def train(*args) -> None:
    args = [str(int(a) * SCALE) if prev in ("--max-steps", "--eval-every") else a for prev, a in zip(("",) + args, args)]
    assert main(["train", *args, "--quiet"]) == 0


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """RUNS_DIR holding lm-a, lm-b (two LSTMs of different sizes), group/gru, s2s, cls, tag."""
    data = tmp_path_factory.mktemp("data")
    root = tmp_path_factory.mktemp("runs")
    (data / "text.txt").write_text(TEXT, encoding="utf-8")
    lm = ["--data", str(data / "text.txt"), "--seq-len", "16", "--batch", "4", "--eval-every", "3"]
    lm_lstm = [*lm, "--cell", "lstm"]           # the LM's default cell is the GRU since wave 7: these two stay LSTMs
    train(*lm_lstm, "--hidden", "8", "--layers", "2", "--max-steps", "6", "--schedule", "constant",   # a constant rate
          "--out", str(root / "lm-a"))                                                         # for the lr chart
    train(*lm_lstm, "--hidden", "12", "--layers", "1", "--max-steps", "4", "--lr", "0.01", "--out", str(root / "lm-b"))
    train(*lm, "--hidden", "6", "--layers", "1", "--cell", "gru", "--max-steps", "2", "--out", str(root / "group" / "gru"))
    assert main(["data", "reverse", "--n", "200", "--min-len", "2", "--max-len", "5", "--seed", "3",
                 "--out", str(data / "pairs.tsv")]) == 0
    train("--task", "seq2seq", "--attention", "--data", str(data / "pairs.tsv"), "--hidden", "12", "--batch", "16",
          "--max-steps", "4", "--eval-every", "4", "--out", str(root / "s2s"))
    (data / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(120)))
    train("--task", "classify", "--data", str(data / "s.tsv"), "--hidden", "8", "--max-steps", "4",
          "--eval-every", "4", "--out", str(root / "cls"))
    write_conll(data / "seg.conll", segmentation_examples(SENTENCES))
    train("--task", "tag", "--data", str(data / "seg.conll"), "--level", "char", "--hidden", "8", "--max-steps", "4",
          "--eval-every", "4", "--out", str(root / "tag"))
    return root


@pytest.fixture(scope="session")
def kinds(tmp_path_factory, runs):
    """RUNS_DIR of the other input kinds and tasks: vec (classify on vectors), vtag (tag on vectors), fc
    (forecast), lt (longterm adding), gen (generate from a label), imported (lm-b's folder as `unroll import` leaves one: config.json
    naming its source, a checkpoint, no training logged)."""
    import json
    import shutil

    import numpy as np
    from tests.data.vector_helpers import make_sequences, write_csv
    data, root = tmp_path_factory.mktemp("kdata"), tmp_path_factory.mktemp("kinds")
    xs, labels, tags = make_sequences(40, seed=1)
    write_csv(data / "c.csv", xs, labels)
    write_csv(data / "t.csv", xs, tags, per_step=True)
    train("--task", "classify", "--data", str(data / "c.csv"), "--hidden", "6", "--batch", "8", "--max-steps", "2",
          "--eval-every", "2", "--out", str(root / "vec"))
    train("--task", "tag", "--data", str(data / "t.csv"), "--hidden", "6", "--batch", "8", "--max-steps", "2",
          "--eval-every", "2", "--out", str(root / "vtag"))
    rows = ["month,sales"] + [f"{np.datetime64('2000-01') + t},{20 + 5 * np.sin(t / 2):.4f}" for t in range(48)]
    (data / "sales.csv").write_text("\n".join(rows) + "\n")
    train("--task", "forecast", "--data", str(data / "sales.csv"), "--context", "12", "--horizon", "4",
          "--hidden", "6", "--batch", "4", "--max-steps", "2", "--eval-every", "2", "--out", str(root / "fc"))
    train("--task", "longterm", "--problem", "adding", "--T", "5", "--hidden", "4", "--max-steps", "4",
          "--eval-every", "2", "--valid-size", "10", "--test-size", "10", "--out", str(root / "lt"))
    (data / "g.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(60)))
    train("--task", "generate", "--data", str(data / "g.tsv"), "--hidden", "8", "--max-steps", "2",
          "--eval-every", "2", "--out", str(root / "gen"))
    shutil.copytree(runs / "lm-b", root / "imported")
    config = json.loads((root / "imported" / "config.json").read_text())
    (root / "imported" / "config.json").write_text(json.dumps({**config, "imported": "/models/lm.pt"}))
    (root / "imported" / "metrics.jsonl").unlink()
    return root


BUILT = (  # trials of the "built" study: (params, value, state, user attributes)
    ({"hidden": 8, "dropout": 0.1, "cell": "lstm"}, 2.5, "COMPLETE", {"step": 40, "elapsed": 3.25}),
    ({"hidden": 32, "dropout": 0.4, "cell": "gru"}, 3.0, "PRUNED", {"step": 10, "elapsed": 0.75}),
    ({"hidden": 16, "dropout": 0.2, "cell": "gru"}, 2.25, "COMPLETE", {"step": 40, "elapsed": 3.5}),
    ({"hidden": 4, "dropout": 0.0, "cell": "lstm"}, None, "FAIL", {"error": "--hidden 4: too small"}),
    ({"hidden": 64, "dropout": 0.3, "cell": "lstm"}, 2.75, "COMPLETE", {"step": 40, "elapsed": 3.0}),
    ({"hidden": 12, "dropout": 0.05, "cell": "lstm"}, None, "RUNNING", {}),      # its run: tuned's trial 1
)


def build_study(folder, tuned):
    """A study written with Optuna's API: BUILT's trials; the run folders of trials 0 and 5 are copies of
    the tuned study's trials 0 and 1 (the others have none)."""
    import shutil

    import optuna
    from unroll.tune import study as studies
    D = optuna.distributions
    info = {"task": "lm", "fixed": ["--layers", "1"], "search": "hidden=4..64:log,dropout=0..0.5,cell=lstm|gru",
            "trial_time": 5.0, "budget": None, "trials": 5, "metric": "loss", "mode": "min", "pruner": "median",
            "startup_trials": 1, "sampler_seed": 0, "storage": None, "study_name": "built", "cwd": str(folder)}
    studies.write_info(folder, info)
    study = studies.open_study(folder, info)
    dists = {"hidden": D.IntDistribution(4, 64, log=True), "dropout": D.FloatDistribution(0.0, 0.5),
             "cell": D.CategoricalDistribution(["lstm", "gru"])}
    for k, (params, value, state, attrs) in enumerate(BUILT):
        argv = ["--task", "lm", "--layers", "1", "--hidden", str(params["hidden"]), "--dropout",
                repr(params["dropout"]), "--cell", params["cell"], "--max-time", "5"]
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=value, state=getattr(optuna.trial.TrialState, state),
            user_attrs={**attrs, "argv": argv, "run": str(folder / "trials" / f"{k:04d}")},
            intermediate_values={} if value is None else {10: value}))
    shutil.copytree(tuned / "trials" / "0000", folder / "trials" / "0000")
    shutil.copytree(tuned / "trials" / "0001", folder / "trials" / "0005")


@pytest.fixture(scope="session")
def studies(tmp_path_factory):
    """RUNS_DIR holding two tuning studies: "tuned" (3 trials of `unroll tune` on a tiny language model) and
    "group/built" (BUILT's six trials, written with Optuna's API: complete, pruned, failed and running)."""
    pytest.importorskip("optuna")
    from unroll.runs import lock
    data, root = tmp_path_factory.mktemp("sdata"), tmp_path_factory.mktemp("studies")
    (data / "text.txt").write_text(TEXT, encoding="utf-8")
    assert main(["tune", "--out", str(root / "tuned"), "--search", "hidden=4..12:log,lr=1e-3..3e-2:log,cell=lstm|gru",
                 "--trials", "3", "--sampler-seed", "0", "--pruner", "none", "--data", str(data / "text.txt"),
                 "--layers", "1", "--seq-len", "8", "--batch", "2", "--eval-every", "2", "--max-steps", "4"]) == 0
    lock.release(root / "tuned")                 # the tune ran in this process: its study lock goes with it
    build_study(root / "group" / "built", root / "tuned")
    return root
