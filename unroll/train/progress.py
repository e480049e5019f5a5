"""A one-line progress bar on stderr: step, loss, tokens/s, time left.

A progress bar that is not quiet also says, once, when the first step is about to compile the numba kernels
(a cold cache: the first run after installing, which takes a while; ``kernels.on_compile``).

On a terminal the line is redrawn in place a few times a second; when stderr is not a terminal (a log
file, CI) a plain line is printed instead for every metrics record that has a validation loss, falls on
a multiple of 50 steps (the language model logs every 50 steps; a task logging every step is not flooded),
or comes 30 s of training after the last line (slow steps are not silent for minutes).
"""

from __future__ import annotations

import os
import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


PLAIN_EVERY = 50      # off a terminal: a line for every validation and every 50th step ...
PLAIN_SECONDS = 30.0  # ... and at least one every 30 s of training


class Progress:
    def __init__(self, quiet: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = not quiet and (self.stream.isatty() or os.environ.get("UNROLL_LIVE_PROGRESS") == "1")
        self.last_draw = 0.0
        self.last_record = None
        self.last_plain = 0.0

    def update(self, step: int, max_steps: int | None, elapsed: float, max_time: float | None, record: dict) -> None:
        if self.quiet:
            return
        if not self.live:
            due = "valid_loss" in record or step % PLAIN_EVERY == 0 or elapsed - self.last_plain >= PLAIN_SECONDS
            if record and record is not self.last_record and due:
                self.last_record, self.last_plain = record, elapsed
                print(self._line(step, max_steps, elapsed, max_time, record), file=self.stream, flush=True)
            return
        now = time.monotonic()
        if now - self.last_draw >= 0.2:
            self.last_draw = now
            print("\r" + self._line(step, max_steps, elapsed, max_time, record).ljust(100), end="", file=self.stream, flush=True)

    def listen(self, on: bool = True) -> None:
        """While training (on) say when numba compiles the kernels: a new user would otherwise see nothing
        for ~30 s. Off again when training ends, so no later compile writes to this stream."""
        if not self.quiet:
            from unroll.nn import kernels
            kernels.on_compile(self.say if on else None)

    def say(self, message: str) -> None:
        if not self.quiet:
            print(("\n" if self.live else "") + message, file=self.stream, flush=True)

    def close(self) -> None:
        if self.live:
            print(file=self.stream, flush=True)

    @staticmethod
    def _line(step, max_steps, elapsed, max_time, record) -> str:
        parts = [f"step {step}" + (f"/{max_steps}" if max_steps else "")]
        if record.get("train_loss") is not None:
            parts.append(f"loss {record['train_loss']:.4f}")
        if record.get("valid_loss") is not None:
            parts.append(f"val {record['valid_loss']:.4f}")
        if record.get("tokens_per_s"):
            parts.append(f"{record['tokens_per_s']:,.0f} tok/s")
        left = []
        if max_time:
            left.append(max_time - elapsed)
        if max_steps and step:
            left.append(elapsed / step * (max_steps - step))
        parts.append(f"{format_seconds(elapsed)} elapsed" + (f", {format_seconds(min(left))} left" if left else ""))
        return " | ".join(parts)
