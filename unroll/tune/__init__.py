"""`unroll tune`: which `unroll train` settings win in the time given, searched with Optuna (``unroll[tune]``).

- ``spec``: the search (``--search 'hidden=64..512:log,cell=lstm|gru'``), checked against `unroll train`'s
  own parser and settings before any trial starts; one-line errors naming the parameter
- ``objective``: one trial, an ordinary run folder STUDY/trials/NNNN, whose validations feed the pruner
- ``folder``: the study folder's files read without writing (tune.json, study.db opened read-only, the
  study as plain data); a floor below the rest, so unroll serve reads studies through it
- ``study``: the study folder (tune.json, study.db, lock), running trials in one or N processes, resuming
- ``worker``: the process of one of ``--jobs N``
- ``report``: the trials table, the best trial as an `unroll train` command line, importances, a plot
- ``commands``: the `unroll tune` command
"""
