"""unroll: recurrent neural networks from first principles.

The public API, by explicit re-export (see docs/architecture.md for the layout)::

    from unroll import LanguageModel, Stack, Adam, clip_grad_norm
    from unroll.nn import rnn, lstm, gru       # the cells: init / forward / backward / step
    from unroll import Task, get_task, TrainConfig, start_run, resume_run, load_run   # tasks and run folders
"""

from unroll._version import __version__

from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig
from unroll.data import CharVocab, StreamBatcher, WordVocab, eval_batches, load_bundled
from unroll.decode import beam_search, generate
from unroll.models.language_model import LanguageModel
from unroll.models.readout import TaskModel
from unroll.nn.gradcheck import check as gradcheck
from unroll.nn.stack import Stack, register_cell
from unroll.tasks import TASKS, Task, get_task, register_task
from unroll.train.bptt import TruncatedBPTT
from unroll.train.optim import (SGD, Adagrad, Adam, Momentum, RMSprop, clip_grad_norm, clip_grad_value,
                                make_optimizer)
from unroll.runs import RunFolder, load as load_run, resume as resume_run, start as start_run
from unroll.train.trainer import Trainer, TrainingDiverged

__all__ = [
    "Adagrad", "Adam", "BPTTConfig", "CharVocab", "CorpusConfig", "LanguageModel", "ModelConfig", "Momentum",
    "RMSprop", "RunFolder", "SGD", "Stack", "StreamBatcher", "TASKS", "Task", "TaskModel", "TrainConfig", "Trainer",
    "TrainingDiverged", "TruncatedBPTT", "WordVocab", "__version__", "beam_search", "clip_grad_norm",
    "clip_grad_value", "eval_batches", "generate", "get_task", "gradcheck", "load_bundled", "load_run",
    "make_optimizer", "register_cell", "register_task", "resume_run", "start_run",
]
