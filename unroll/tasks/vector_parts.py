"""The vector side of classify, tag and seq2seq: data -> batches -> model -> metrics -> predictions.

Each part follows the token task it stands in for (same metrics, same describe, same model class with a
``VectorInput`` in place of the embedding); ``tasks/vectors.py`` says how a task chooses between them.

Predict output, one line per sequence of the input file::

    classify   id<TAB>label<TAB>p(label)<TAB>label:p ...
    tag        id<TAB>tag tag ... (one per row of the sequence)
    seq2seq    id<TAB>the decoded target text
"""

from __future__ import annotations

import numpy as np

from unroll.data import pairs as P
from unroll.data import vectors as V
from unroll.models.seq2seq import Seq2Seq
from unroll.nn import ops
from unroll.tasks.vectors import VectorPart


class Seq2SeqVectors(VectorPart):
    """Vectors in, words out (video captioning): Seq2Seq(source_input=VectorInput); the label is the target."""

    section = "pairs"
    token_only = ("encoding",)            # --level splits the targets, which are text

    def source(self, x: np.ndarray) -> np.ndarray:
        """The encoder's input: x, or x backwards with --reverse-source (as the token task reverses its ids)."""
        return np.ascontiguousarray(x[::-1]) if self.task.settings["seq2seq"].reverse_source else x

    def check_lengths(self, data: V.VectorSet) -> None:
        """--max-source-len (else 10 x the longest training sequence) bounds every source read after training."""
        limit = self.cfg.max_source_len
        if limit is None:
            return super().check_lengths(data)
        for sid, x in zip(data.ids, data.xs):
            if len(x) > limit:
                raise ValueError(f"{data.source}: sequence {sid} has {len(x)} steps, more than --max-source-len {limit}")

    @property
    def target_vocab(self) -> P.PairVocab:
        return P.PairVocab.from_json(self.prepared["tgt_vocab"])

    def prepare(self) -> dict:
        train = self.sets("train")
        level = self.cfg.level
        tgt = P.PairVocab.build(train.labels, level)
        return {**self.prepare_common(train), "tgt_vocab": tgt.to_json(), "max_source": max(len(x) for x in train.xs),
                "max_target": max(len(P.tokens_of(t, level)) for t in train.labels), "train_pairs": len(train)}

    def encoded(self, split: str):
        data, tgt = self.sets(split), self.target_vocab
        if split != "train":
            self.check_lengths(data)
        out = []
        for sid, x, text in zip(data.ids, self.inputs(data.xs), data.labels):
            try:
                out.append((self.source(x), tgt.encode(text)))
            except ValueError as err:
                raise ValueError(f"{data.source}: sequence {sid}: target {err}") from None
        return out, data

    def batches(self, train):
        self.task._batches = P.PairBatches(self.encoded("train")[0], train.batch_size,
                                           self.task.stream(train.seed, "train"), train.dtype or np.float32)
        return self.task._batches

    def build_model(self, seed: int, dtype=np.float32):
        c, n, tgt = self.task.settings["seq2seq"], self.task.settings["network"], self.target_vocab
        return Seq2Seq.from_config(n, None, len(tgt), conditioning=c.conditioning, attention=c.attention,
                                   bos_id=tgt.bos_id, eos_id=tgt.eos_id, seed=seed, dtype=dtype,
                                   source_input=self.input_layer(n.hidden_size))

    def metrics(self, model, split: str) -> dict:
        from unroll import metrics as MT
        pairs, data = self.encoded(split)
        tgt, total, count = self.target_vocab, 0.0, 0.0
        for start in range(0, len(pairs), 256):
            batch = P.make_batch(pairs[start:start + 256], model.dtype)
            logits, _ = model.forward(batch.src, batch.src_mask, batch.tgt_in, training=False)
            logp = ops.log_softmax(logits.astype(np.float64))
            t, n = np.indices(batch.tgt_out.shape)
            total -= float((logp[t, n, batch.tgt_out] * batch.tgt_mask).sum())
            count += float(batch.tgt_mask.sum())
        hyps = self.task.translate(model, [x for x, _ in pairs], self.task.settings["seq2seq"].eval_beam)
        preds = [tgt.decode(h.tokens) for h in hyps]
        refs = [P.detokenize(P.tokens_of(t, tgt.level), tgt.level) for t in data.labels]
        return {"loss": total / count, **MT.all_metrics(preds, refs), "pairs": len(pairs)}

    def predict(self, model, path, options):
        tgt, data = self.target_vocab, self.read(path, labelled=False)
        self.check_lengths(data)
        beam, max_len, temperature, penalty, seed = ((1, None, 0.0, 0.0, 0) if options is None else
                                                     (options.beam, options.max_len, options.temperature,
                                                      options.length_penalty, options.seed))
        rng = np.random.default_rng(seed)
        for sid, x in zip(data.ids, self.inputs(data.xs)):
            hyp = self.task.translate(model, [self.source(x)], beam, max_len, temperature, penalty, rng)[0]
            yield f"{sid}\t{tgt.decode(hyp.tokens)}"
