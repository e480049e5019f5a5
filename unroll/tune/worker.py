"""`python -m unroll.tune.worker STUDY DEADLINE TRIALS K`: worker K of an `unroll tune --jobs N` study.

Started by unroll/tune/study.py's ``run``: it runs trials from the study's shared storage until the study
has its trials or the deadline comes (repr of a float or None), and ends itself when the tune process dies.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from unroll.tune.commands import say, search_of
    from unroll.tune.study import optimize, read_info, watch_parent
    watch_parent()
    study_dir, deadline, trials, worker = Path(argv[0]), ast.literal_eval(argv[1]), ast.literal_eval(argv[2]), int(argv[3])
    info = read_info(study_dir)
    try:
        optimize(study_dir, info, search_of(info), deadline, trials, worker, say=say)
    except KeyboardInterrupt:
        return 130
    except ValueError as err:
        print(f"unroll: error: tune worker {worker}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
