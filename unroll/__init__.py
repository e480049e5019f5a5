"""unroll: recurrent neural networks from first principles.

The public API, by explicit re-export (see docs/architecture.md for the layout)::

    from unroll import LanguageModel, Stack, Adam, clip_grad_norm
    from unroll.nn import rnn, lstm, gru       # the cells: init / forward / backward / step
"""

__version__ = "0.1.0"
