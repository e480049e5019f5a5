"""unroll: recurrent neural networks from first principles.

The public API, by explicit re-export (see docs/architecture.md for the layout)::

    from unroll import LanguageModel, Stack, Adam, clip_grad_norm
    from unroll.nn import rnn, lstm, gru       # the cells: init / forward / backward / step
    from unroll import Task, get_task, TrainConfig, start_run, resume_run, load_run   # tasks and run folders
"""

__version__ = "0.2.0"   # defined before the imports below: train.checkpoint reads it

from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig  # noqa: E402
from unroll.data import CharVocab, StreamBatcher, WordVocab, eval_batches, load_bundled  # noqa: E402
from unroll.decode import beam_search, generate  # noqa: E402
from unroll.models.language_model import LanguageModel  # noqa: E402
from unroll.models.readout import TaskModel  # noqa: E402
from unroll.nn.gradcheck import check as gradcheck  # noqa: E402
from unroll.nn.stack import Stack, register_cell  # noqa: E402
from unroll.tasks import TASKS, Task, get_task, register_task  # noqa: E402
from unroll.train.bptt import TruncatedBPTT  # noqa: E402
from unroll.train.optim import (SGD, Adagrad, Adam, Momentum, RMSprop, clip_grad_norm, clip_grad_value,  # noqa: E402
                                make_optimizer)
from unroll.train.run import load as load_run, resume as resume_run, start as start_run  # noqa: E402
from unroll.train.trainer import Trainer, TrainingDiverged  # noqa: E402

__all__ = [
    "Adagrad", "Adam", "BPTTConfig", "CharVocab", "CorpusConfig", "LanguageModel", "ModelConfig", "Momentum",
    "RMSprop", "SGD", "Stack", "StreamBatcher", "TASKS", "Task", "TaskModel", "TrainConfig", "Trainer",
    "TrainingDiverged", "TruncatedBPTT", "WordVocab", "__version__", "beam_search", "clip_grad_norm",
    "clip_grad_value", "eval_batches", "generate", "get_task", "gradcheck", "load_bundled", "load_run",
    "make_optimizer", "register_cell", "register_task", "resume_run", "start_run",
]
