"""The application floor: run folders (``RunFolder``) and the runs of a task in them (start, resume, load).

It sits above ``tasks/`` and ``train/`` and joins them: ``train/`` knows no task and no run folder beyond
the few calls of ``RunFolder`` it is handed (save, log, restore, has_checkpoint, held). Every file of a
run folder is read and written here: ``folder`` (RunFolder, its verbs and the layout), ``checkpoint``
(checkpoint files), ``lock`` (the flock), ``records`` (metrics.jsonl), ``loading`` (task and model from a
checkpoint), ``ending`` (is a run finished), ``safety`` (reading without following links: unroll serve),
``changes`` (what ``train --resume`` may change), ``first_start`` and ``run``.
"""

from unroll.runs.folder import RunFolder
from unroll.runs.run import LoadedRun, experiment, load, resume, start, summarise

__all__ = ["LoadedRun", "RunFolder", "experiment", "load", "resume", "start", "summarise"]
