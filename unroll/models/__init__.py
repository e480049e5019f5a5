"""The wirings of the seeds' Figure 1, each built only from ``unroll.nn``."""

from unroll.models.language_model import LanguageModel
from unroll.models.seq2seq import Seq2Seq

__all__ = ["LanguageModel", "Seq2Seq"]
