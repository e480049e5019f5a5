"""`unroll train ARGS...` for the data-parallel tests, started by mpiexec or alone (not a test module).

UNROLL_TEST_DTYPE=float64 builds the language model in float64; UNROLL_TEST_KILL=RANK:STEP makes that rank
SIGKILL itself when it reaches STEP, as a crashed machine would.
"""

import os
import signal
import sys

import numpy as np

from unroll.cli import main
from unroll.tasks import lm
from unroll.train import distributed, trainer

if os.environ.get("UNROLL_TEST_DTYPE") == "float64":
    build = lm.LanguageModelTask.build_model
    lm.LanguageModelTask.build_model = lambda self, seed, dtype=None: build(self, seed, np.float64)

if os.environ.get("UNROLL_TEST_KILL"):
    rank, step = map(int, os.environ["UNROLL_TEST_KILL"].split(":"))
    train_step = trainer.Trainer._train_step

    def dying_step(self):
        if distributed.world().rank == rank and self.counters["step"] == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return train_step(self)

    trainer.Trainer._train_step = dying_step

sys.exit(main(sys.argv[1:]))
