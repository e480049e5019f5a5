"""The wirings of the seeds' Figure 1, each built only from ``unroll.nn``."""

from unroll.models.classifier import SequenceClassifier
from unroll.models.generator import ConditionalGenerator
from unroll.models.language_model import LanguageModel
from unroll.models.output_recurrent import OutputRecurrentTagger
from unroll.models.seq2seq import Seq2Seq
from unroll.models.tagger import SequenceTagger

__all__ = ["ConditionalGenerator", "LanguageModel", "OutputRecurrentTagger", "Seq2Seq", "SequenceClassifier",
           "SequenceTagger"]
