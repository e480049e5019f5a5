"""``unroll serve [RUNS_DIR]``: a local web app over the run folders under RUNS_DIR (docs/serve.md).

Runs table, curves compared across runs (against step and against wall-clock time), a page per tuning
study (unroll tune), and each task's probes (sampling, the cell viewer, gate saturation; translation with
attention; class probabilities along the input; tags). Starlette served by uvicorn: the optional extra
``unroll[serve]``.

Modules: ``runs`` (safe run names, summary rows, the metrics and model caches; every file is read through
``unroll.runs.RunFolder``), ``compare`` (settings side by side, the ones that differ, each metric's best and
last, groups by a setting), ``studies`` (the tuning studies under RUNS_DIR, read through
unroll/tune/folder.py, study.db opened read-only), ``pages`` (the server-rendered HTML), ``app`` (routes and
refusals), ``static/`` (the shared plain JavaScript and CSS: chart.js draws curves and bands and holds the
page scripts' common kit, parallel.js the parallel coordinates, scatter.js a study's scatters; no build
step, nothing from another host). What each task's page asks of a model is the task's own (``Task.page``:
unroll/tasks/probes/).
"""

from __future__ import annotations

import sys
from pathlib import Path

from unroll.command import Command

LOCAL = ("127.0.0.1", "localhost", "::1")


def _arguments(p) -> None:
    p.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"), help="folder of run folders (default runs)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; another address warns)")
    p.add_argument("--slots", type=int, default=2, help="model evaluations run at once (default 2)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="which checkpoint the probes read: last (the newest that verifies; default) or best "
                        "(best/, the best validation so far; the newest when a run has kept none)")


def cmd_serve(args) -> int:
    if not args.runs_dir.is_dir():
        raise ValueError(f"RUNS_DIR {args.runs_dir} is not a folder")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must lie in 1..65535, got {args.port}")
    if args.slots < 1:
        raise ValueError(f"--slots must be at least 1, got {args.slots}")
    try:
        import uvicorn
        from unroll.serve.app import create_app
    except ImportError as err:
        raise ValueError(f"unroll serve needs the serve extra ({err.name} is missing): "
                         "pip install 'unroll[serve]'") from None
    if args.host not in LOCAL:
        print(f"unroll: warning: --host {args.host}: anyone who can reach this address can use the app "
              "(read your runs, run your models); it has no login", file=sys.stderr)
    print(f"unroll serve: http://{args.host}:{args.port}/ over {args.runs_dir}", file=sys.stderr)
    uvicorn.run(create_app(args.runs_dir, slots=args.slots, checkpoint=args.checkpoint), host=args.host, port=args.port, log_level="warning")
    return 0


COMMANDS = (Command("serve", "a local web app over the run folders in RUNS_DIR (curves, samples, cells)", _arguments,
                    cmd_serve, "Serve a read-only web app over every run folder under RUNS_DIR: the runs table, "
                               "curves compared, and each task's probes. Needs `pip install 'unroll[serve]'`."),)
