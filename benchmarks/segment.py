"""Word segmentation of tiny Shakespeare with its spaces removed: boundary F1 of a unidirectional and a
bidirectional SequenceTagger, beside the unigram Viterbi anchor and the output-to-hidden tagger.

    python benchmarks/segment.py ../shared/data/tinyshakespeare/input.txt --epochs 2 --seconds 3600

The text is cut at 90% of its characters (``unroll.data.text.split``); every line of each part becomes one
sequence of its non-space characters, tagged B where a white-space word starts (``unroll.data.segment``).
The anchor counts word frequencies on the training part only. Each neural model trains for ``--seconds``
or ``--epochs`` passes, whichever comes first (Adam, clipping 5, length-bucketed batches) and is scored once
on the whole test part. The boundary F1 counts word starts after each line's first character
(``unroll.tasks.metrics.boundary_f1``).

The output-to-hidden tagger (``OutputRecurrentTagger``: a window of inputs and the previous TAG feed the
hidden layer, no hidden-to-hidden recurrence) trains with teacher forcing in one batched pass per batch;
it is scored both with the true previous tags (teacher forced) and running free on its own guesses, which
is the cost of exposure bias. Its training speed is compared with the unidirectional tagger's (BPTT).

``--models task`` (not in the default set) trains ``unroll train --task tag`` with its defaults on the
training part (written to ``--out`` as CoNLL; the task holds out its own 10% for validation) for
``--steps`` (``--max-steps``) or else ``--seconds`` (``--max-time``) with ``--seed``, ``--flags '...'``
added to its command (candidate defaults, docs/tune.md "Tag defaults"), and reports its best checkpoint's
validation boundary F1 (``valid_boundary_f1``, the one to choose by) beside the test part's; ``--json PATH``
writes the rows with the date, machine and command:

    python benchmarks/segment.py unroll/data/corpora/tinyshakespeare.txt --models task --steps 1000 \\
        --flags '--schedule cosine' --out runs/seg-B --json runs/seg-B.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unroll.bench.measure import provenance  # noqa: E402
from unroll.cli import main as unroll  # noqa: E402
from unroll.data.buckets import BucketBatches, eval_order, pad  # noqa: E402
from unroll.data.columns import write_conll  # noqa: E402
from unroll.data.segment import UnigramSegmenter, segmentation_examples  # noqa: E402
from unroll.data.text import split  # noqa: E402
from unroll.models.output_recurrent import OutputRecurrentTagger  # noqa: E402
from unroll.models.tagger import SequenceTagger, TagBatch  # noqa: E402
from unroll.runs import run  # noqa: E402
from unroll.tasks.metrics import boundary_f1, word_f1  # noqa: E402
from unroll.train.optim import Adam, clip_grad_norm  # noqa: E402

TAGS = ("B", "I")


def encode(examples, stoi):
    seqs = [np.array([stoi.get(c, 0) for c in chars], np.int64) for chars, _ in examples]
    tags = [np.array([TAGS.index(t) for t in tg], np.int64) for _, tg in examples]
    return seqs, tags


def train(model, seqs, tags, seconds, epochs, batch_size, lr, seed):
    """Adam until the time budget is spent or ``epochs`` passes are done; returns steps, epochs, tokens/s."""
    opt, batches = Adam(model.params, lr=lr), BucketBatches([len(s) for s in seqs], batch_size, seed=seed)
    start, steps, tokens = time.time(), 0, 0
    while time.time() - start < seconds and steps < epochs * batches.batches_per_epoch:
        rows = next(batches)
        ids, mask = pad([seqs[i] for i in rows])
        tg, _ = pad([tags[i] for i in rows])
        _, grads, _ = model.loss_and_grads(TagBatch(ids, mask, tg))
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
        steps, tokens = steps + 1, tokens + int(mask.sum())
    elapsed = time.time() - start
    return {"steps": steps, "epochs": round(batches.epoch + batches.position / batches.batches_per_epoch, 2),
            "train_tokens_per_s": round(tokens / elapsed)}


def predict(model, seqs, free_running=None, tags=None):
    """Predicted tag strings per sequence; for the output-to-hidden tagger: free running or teacher forced."""
    out = [None] * len(seqs)
    for index in eval_order([len(s) for s in seqs], 256):
        ids, mask = pad([seqs[i] for i in index])
        if free_running is True:
            guess = model.predict(ids, mask)
        elif free_running is False:
            tg, _ = pad([tags[i] for i in index])
            logits, _ = model.forward(ids, model.shift(tg), mask)
            guess = logits.argmax(axis=2)
        else:
            guess = model.predict_proba(ids, mask).argmax(axis=2)
        for col, i in enumerate(index):
            out[i] = [TAGS[t] for t in guess[:len(seqs[i]), col]]
    return out


def scores(pred, gold) -> dict:
    b, w = boundary_f1(pred, gold), word_f1(pred, gold)
    return {"boundary_f1": round(b["f1"], 4), "boundary_p": round(b["precision"], 4),
            "boundary_r": round(b["recall"], 4), "word_f1": round(w["f1"], 4)}


def logged(folder, step: int) -> dict:
    """The validation metrics the run logged at ``step`` (RunFolder.metrics), without the ``valid_`` prefix."""
    for row in folder.metrics():
        if row.get("step") == step and "valid_boundary_f1" in row:
            return {k[len("valid_"):]: v for k, v in row.items() if k.startswith("valid_")}
    raise SystemExit(f"{folder.path}/metrics.jsonl: no validation at step {step}")


def tag_task(out: Path, train_ex, test_ex, limit: list[str], extra: list[str]) -> dict:
    """`unroll train --task tag` (its defaults, ``extra`` added) on the training part; its best checkpoint, chosen
    by the validation boundary F1 of the part the task holds out itself, scores the test part."""
    out.mkdir(parents=True, exist_ok=True)
    train_conll, test_conll = out / "train.conll", out / "test.conll"
    write_conll(train_conll, train_ex)
    write_conll(test_conll, test_ex)
    argv = ["train", "--task", "tag", "--data", str(train_conll), "--level", "char", *limit,
            "--out", str(out / "run"), "--quiet", *extra]
    if unroll(argv) != 0:
        raise SystemExit(f"unroll {' '.join(argv)} failed")
    loaded = run.load(out / "run", "best")
    task, model, info = loaded
    valid, test = logged(loaded.folder, info["step"]), task.metrics(model, str(test_conll))
    return {"model": "unroll train --task tag", "valid_boundary_f1": round(valid["boundary_f1"], 4),
            "valid_word_f1": round(valid["word_f1"], 4), "boundary_f1": round(test["boundary_f1"], 4),
            "word_f1": round(test["word_f1"], 4), "best_step": info["step"], "command": "unroll " + shlex.join(argv)}


MODELS = ("anchor", "uni", "bi", "output", "task")
MODEL_FLAGS = ("hidden", "embed", "cell", "layers", "batch", "lr", "window", "epochs")   # not read by --models task
TASK_FLAGS = ("steps", "flags", "out")                                                  # read by it alone


def check_flags(p, args) -> None:
    """A flag that no chosen model reads is refused: the task model takes its settings from --flags."""
    given = lambda names: [n for n in names if getattr(args, n) != p.get_default(n)]  # noqa: E731
    if "task" in args.models and given(MODEL_FLAGS):
        p.error(f"--{given(MODEL_FLAGS)[0]} sets the uni, bi and output models; --models task trains with "
                "unroll train's flags: put them in --flags")
    if "task" not in args.models and given(TASK_FLAGS):
        p.error(f"--{given(TASK_FLAGS)[0]} acts only with --models task")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a text file (tiny Shakespeare's input.txt)")
    p.add_argument("--seconds", type=float, default=300.0, help="training budget per neural model")
    p.add_argument("--epochs", type=float, default=float("inf"), help="stop each model after this many epochs")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--window", type=int, default=3, help="output-to-hidden tagger: inputs t-w..t+w")
    p.add_argument("--models", nargs="*", default=["anchor", "uni", "bi", "output"], choices=MODELS,
                   help="task: unroll train --task tag (not in the default set)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="task: --max-steps STEPS instead of --max-time SECONDS")
    p.add_argument("--flags", default="", help="task: flags added to its command (candidate defaults: "
                                               "'--schedule cosine --dropout 0.2')")
    p.add_argument("--out", type=Path, default=Path("runs/segment"), help="task: work folder (OUT/train.conll, "
                   "OUT/test.conll, the run folder OUT/run)")
    p.add_argument("--json", type=Path, default=None, help="write the rows with the date, machine and command here")
    args = p.parse_args(argv)
    check_flags(p, args)
    train_text, test_text = split(Path(args.data).read_text(encoding="utf-8"), 0.1)
    train_ex, test_ex = segmentation_examples(train_text), segmentation_examples(test_text)
    gold = [tg for _, tg in test_ex]
    chars = sorted({c for chars, _ in train_ex for c in chars})
    stoi = {c: i + 1 for i, c in enumerate(chars)}                  # 0: a character unseen in training
    seqs, tags = encode(train_ex, stoi)
    test_seqs, test_tags = encode(test_ex, stoi)
    print(json.dumps({"train_sequences": len(train_ex), "test_sequences": len(test_ex),
                      "test_boundaries": sum(t.count("B") - 1 for t in gold)}), flush=True)
    V, rows = len(chars) + 1, []
    for name in args.models:
        start = time.time()
        if name == "task":
            limit = ["--max-steps", str(args.steps)] if args.steps else ["--max-time", f"{args.seconds:g}"]
            row = tag_task(args.out, train_ex, test_ex, [*limit, "--seed", str(args.seed)], shlex.split(args.flags))
        elif name == "anchor":
            seg = UnigramSegmenter(train_text)
            row = {"model": "unigram Viterbi anchor"} | scores([seg.tag(c) for c, _ in test_ex], gold)
        elif name in ("uni", "bi"):
            model = SequenceTagger(V, 2, hidden_size=args.hidden, embedding_size=args.embed, num_layers=args.layers,
                                   cell=args.cell, bidirectional=name == "bi", dropout=0.0, seed=args.seed)
            fit = train(model, seqs, tags, args.seconds, args.epochs, args.batch, args.lr, args.seed)
            row = {"model": f"{'bi' if name == 'bi' else 'uni'}directional {args.cell} {args.layers}x{args.hidden}"}
            row |= scores(predict(model, test_seqs), gold) | fit
        else:
            model = OutputRecurrentTagger(V, 2, hidden_size=args.hidden, embedding_size=args.embed,
                                          window=args.window, seed=args.seed)
            fit = train(model, seqs, tags, args.seconds, args.epochs, args.batch, args.lr, args.seed)
            forced = scores(predict(model, test_seqs, False, test_tags), gold)
            row = {"model": f"output-to-hidden, window {args.window}, H {args.hidden}"} | scores(
                predict(model, test_seqs, True), gold) | {"teacher_forced_boundary_f1": forced["boundary_f1"]} | fit
        rows.append(row | {"seconds": round(time.time() - start, 1)})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(provenance() | {"rows": rows}, indent=1) + "\n", encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
