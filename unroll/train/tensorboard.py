"""Metrics sinks: where a Trainer's metrics records go besides RUN_DIR/metrics.jsonl.

A sink is any callable ``sink(record: dict)`` with an optional ``close()``; ``Trainer.sinks`` holds them
and ``Trainer._log`` hands each one every record it writes. ``TensorBoardSink`` (``train --tensorboard``,
the optional extra ``unroll[tensorboard]``) writes the numbers as TensorBoard scalars into
RUN_DIR/tensorboard/ (tensorboardX's event writer), tagged ``train/loss``, ``valid/loss``,
``valid/<metric>``, ``grad_norm``, ``lr``, ``tokens_per_s``, each at its record's step, flushed after
every record so that ``tensorboard --logdir RUNS_DIR`` shows a run while it trains.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SKIPPED = ("step", "epoch", "elapsed")


def tag_of(key: str) -> str:
    """metrics.jsonl key -> TensorBoard tag: train_loss -> train/loss, valid_bits_per_char -> valid/bits_per_char."""
    for prefix in ("train_", "valid_"):
        if key.startswith(prefix):
            return prefix[:-1] + "/" + key[len(prefix):]
    return key


class TensorBoardSink:
    """Scalars of every metrics record into RUN_DIR/tensorboard/ (the writer is opened on the first record,
    so that a run that fails to start leaves no folder)."""

    def __init__(self, run_dir: Path):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ValueError("--tensorboard needs tensorboardX: pip install 'unroll[tensorboard]'") from None
        self.folder, self.writer_class, self.writer = Path(run_dir) / "tensorboard", SummaryWriter, None

    def __call__(self, record: dict) -> None:
        if "event" in record:
            return
        if self.writer is None:
            # a resume within the same second would reuse the file name (time.hostname) and overwrite it
            self.writer = self.writer_class(logdir=str(self.folder), flush_secs=1,
                                            filename_suffix=f".{os.getpid()}.{time.time_ns()}")
        for key, value in record.items():
            if key not in SKIPPED and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag_of(key), float(value), int(record["step"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
