"""The command line: ``unroll <command>`` (or ``python -m unroll <command>``).

Thin wrappers: each subcommand parses its options, calls the library, and turns a ValueError into a
one-line ``unroll: error: ...`` message with exit status 2 (no traceback). The CLI knows no task: `train`
offers the flags of ``--task NAME``'s settings dataclasses and of TrainConfig, generated from their fields;
`eval` and `predict` ask the run folder's task. Every command is an ``unroll.command.Command``: the five
here, each task's ``commands`` (`sample`, `experiment`, data kinds) and the ``COMMANDS`` of the modules in
``COMMAND_MODULES``, the one list; ``invoke`` hands a command the loaded run (needs="run") or the run
machinery (needs="runs") it declared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from functools import partial
from pathlib import Path

from unroll.command import Command
from unroll.config import TrainConfig, add_arguments, from_args
from unroll.tasks import DEFAULT_TASK, TASKS, get_task

COMMAND_MODULES = (            # every module with a COMMANDS tuple (unroll.command); tasks bring their own
    "unroll.analysis.commands",    # plot, visualize, inspect, data python-source
    "unroll.analysis.diagnose",    # diagnose
    "unroll.bench",                # bench
    "unroll.interop.commands",     # export, import
    "unroll.serve",                # serve (the web app, #24)
    "unroll.tune.commands",        # tune (Optuna studies of train's settings, #30)
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(task_hint(argv))
    except ValueError as err:
        print(f"unroll: error: {err}", file=sys.stderr)
        return 2
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "passes_on", False):     # a command may take others' flags (tune)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as done:                       # --help, --version, or a bad flag (one line, exit 2)
        return done.code if isinstance(done.code, int) else 2
    args.argv, args.extra = argv, extra
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    try:
        return invoke(args.command, args) or 0
    except BrokenPipeError:   # `unroll sample ... | head`
        return 0
    except (ValueError, OSError) as err:    # bad input; the disk is full, a folder is read-only ...
        report(err)
        return 2


def report(err: Exception) -> None:
    """The one `unroll: error:` line (with P ranks, rank 0's alone: every rank checks the same input)."""
    from unroll.train import distributed
    if distributed.launched_size() > 1 and distributed.world().rank != 0:
        return
    print(f"unroll: error: {one_line(err)}", file=sys.stderr)


MAX_MESSAGE = 400        # characters of an error line; a longer one is cut (a list of 5000 unknown tags ...)


def one_line(err: Exception) -> str:
    """The error's message on one bounded line; an OSError reads 'cannot ...: reason: path', not [Errno N]."""
    if isinstance(err, OSError) and err.strerror:
        names = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        text = f"{err.strerror}" + (f": {names}" if names else "")
    else:
        text = str(err)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + f" ... ({len(text) - MAX_MESSAGE} more characters)"


class Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line, no usage block (the subcommands inherit it)."""

    def error(self, message: str):
        self.exit(2, f"unroll: error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser(task: str = DEFAULT_TASK) -> argparse.ArgumentParser:
    """The whole command line; ``task`` decides which task's flags `train` and `predict` offer."""
    from unroll._version import __version__
    parser = Parser(prog="unroll", description="Recurrent neural networks from first principles.")
    parser.add_argument("--version", action="version", version=f"unroll {__version__}")
    sub = parser.add_subparsers(metavar="command")
    every = commands(task)
    for command in every:
        if command.kind == "command":
            add_command(sub, command)
    data = sub.add_parser("data", help="make data sets: `unroll data KIND ...` (word segmentation, pairs ...)")
    kinds = data.add_subparsers(dest="data_kind", metavar="kind", required=True)
    for command in every:
        if command.kind == "data":
            add_command(sub, command, kinds)
    return parser


def commands(task: str = DEFAULT_TASK) -> list[Command]:
    """Every command, in --help order: the CLI's own, every task's, then COMMAND_MODULES'."""
    own = [Command("train", "train a model on a task (default: a language model)", partial(_train_arguments, task),
                   cmd_train, "Train a model. With no options: a 2-layer LSTM language model on the bundled tiny "
                   "Shakespeare for 600 seconds. The flags below are those of --task "
                   f"{task}; `unroll train --task NAME --help` lists another task's."),
           Command("eval", "validation (or --data) metrics of a run's best (or latest) checkpoint", _eval_arguments, cmd_eval,
                   needs="run"),
           Command("predict", "read inputs, write one prediction per line (streaming)",
                   partial(_predict_arguments, task), cmd_predict, f"The options below are those of --task {task} runs.",
                   needs="run"),
           Command("gradcheck", "float64 finite-difference check of every cell's backward pass", _gradcheck_arguments,
                   cmd_gradcheck)]
    tasks = [c for name in TASKS for c in get_task(name).commands]
    return own + tasks + [c for module in COMMAND_MODULES for c in importlib.import_module(module).COMMANDS]


def add_command(sub, command: Command, kinds=None) -> argparse.ArgumentParser:
    """Register ``command`` on the subparsers ``sub`` (a data kind on ``kinds``, the subparsers of `unroll data`)."""
    where = kinds if command.kind == "data" else sub
    p = where.add_parser(command.name, help=command.help, description=command.description)
    command.arguments(p)
    p.set_defaults(command=command)
    return p


def invoke(command: Command, args) -> int | None:
    """Run a parsed command, handing it the loaded run folder or the run machinery it declared it needs."""
    from unroll import runs
    if command.needs == "run":
        loaded = runs.load(args.run_dir, getattr(args, "checkpoint", "last"))
        if loaded.folder.state() == "training":          # another process trains it: say what this reads
            print(f"unroll: {args.run_dir} is still training; {command.name} reads its {loaded.info['checkpoint']} "
                  f"checkpoint, step {loaded.info['step']}", file=sys.stderr)
        return command.run(args, loaded)
    if command.needs == "runs":
        return command.run(args, runs)
    return command.run(args)


def task_hint(argv: list[str]) -> str:
    """The task whose flags to offer: `train --task NAME`, else the task of `train --resume RUN`'s or of
    `predict RUN`'s run folder."""
    if argv[:1] == ["train"]:
        named, resumed = _value_of(argv, "--task"), _value_of(argv, "--resume")
        if named is not None or resumed is None:
            return named if named in TASKS else DEFAULT_TASK
        return _task_of(resumed)
    if argv[:1] == ["predict"] and len(argv) > 1 and not argv[1].startswith("-"):
        return _task_of(argv[1])
    return DEFAULT_TASK


def _value_of(argv: list[str], flag: str) -> str | None:
    """The value of ``flag`` in argv (``--flag V`` or ``--flag=V``), or None."""
    return next((value if arg == flag else arg.split("=", 1)[1] for arg, value in zip(argv, [*argv[1:], None])
                 if arg == flag or arg.startswith(flag + "=")), None)


def _task_of(run_dir: str) -> str:
    """The task of a run folder, or the default task when it cannot be read (the command then says why)."""
    from unroll.runs.folder import RunFolder
    try:
        name = RunFolder.named(run_dir).read_config()["task"]
    except ValueError:
        return DEFAULT_TASK
    return name if name in TASKS else DEFAULT_TASK


# ----------------------------------------------------------------------------------------------------
# train

def _train_arguments(task_name: str, p) -> None:
    task = get_task(task_name)
    p.add_argument("--task", choices=list(TASKS), default=DEFAULT_TASK,
                   help=f"what to learn (default {DEFAULT_TASK})")
    for section, cls in task.sections.items():
        add_arguments(p.add_argument_group(f"{section} ({cls.__name__})"), cls, section)
    add_arguments(p.add_argument_group("training (TrainConfig)"), TrainConfig, "train", task.train_defaults)
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<cell or task>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--workers", type=int, default=1, metavar="P",
                   help="train with P processes on this machine through mpiexec (data-parallel, one model; "
                        "on several machines run `mpiexec -n P unroll train ...` yourself)")
    p.set_defaults(task_class=task, parser=p)


def cmd_train(args) -> int:
    from unroll.runs import run
    task = args.task_class
    if args.workers != 1:
        return launch_workers(args)
    if args.resume is not None:
        from unroll.runs.changes import resume_changes
        trainer = run.resume(args.resume, resume_changes(args), quiet=args.quiet)
        reached = run.limit_reached(trainer)
        if reached:
            c, cfg = trainer.counters, trainer.config
            print(f"unroll: {args.resume} has nothing left to train: {reached}. Extend it with "
                  f"`unroll train --resume {args.resume} --max-steps {max(c['step'] * 2, c['step'] + 1)}` "
                  f"(or --max-time SECONDS, counted from the run's start)", file=sys.stderr)
            return 0
    else:
        settings = {name: from_args(cls, args, name) for name, cls in task.sections.items()}
        train = from_args(TrainConfig, args, "train", task.train_defaults)
        label = next((s.cell for s in settings.values() if hasattr(s, "cell")), task.name)
        out = args.out or run.default_out_dir(label)
        trainer = run.start(out, task.name, settings, train, quiet=args.quiet)
        if trainer.world.rank == 0:
            print(f"run folder: {out}", file=sys.stderr)
        with run.first_start(trainer):                  # a failed first start leaves no run folder
            return finish(trainer)
    return finish(trainer)


def launch_workers(args) -> int:
    """`train --workers P`: run this same command on P MPI ranks of this machine, and wait for them."""
    from unroll.train import distributed
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if distributed.launched_size() > 1:
        raise ValueError("--workers starts mpiexec itself; under mpiexec leave it out")
    batch = getattr(args, "train.batch_size", None)
    if args.resume is None and batch is not None and batch < args.workers:     # before any process starts
        raise ValueError(f"--batch {batch} leaves some of the --workers {args.workers} processes no sequence; "
                         f"give --batch {args.workers} or more")
    argv, skip = [], False
    for arg in args.argv:                            # the same command without --workers
        if skip or arg == "--workers" or arg.startswith("--workers="):
            skip = arg == "--workers"
            continue
        argv.append(arg)
    command, env = distributed.launch_command(args.workers, argv)
    return distributed.run_launcher(command, env)


def finish(trainer) -> int:
    """Train, write result.json when the task has a summary, print the last record as JSON; 1 if it diverged."""
    from unroll.runs import run
    from unroll.train.trainer import TrainingDiverged
    try:
        record = trainer.train()
    except TrainingDiverged as err:
        print(f"unroll: error: {err}", file=sys.stderr)
        return 1
    if trainer.world.rank == 0:                      # with P ranks, rank 0 alone writes and reports
        run.summarise(trainer)
        print(json.dumps({"run": str(trainer.run_dir), **record}))
    if trainer.stop_signal is not None:              # interrupted (checkpoint written): 130 SIGINT, 143 SIGTERM
        return 128 + int(trainer.stop_signal)
    return 0


# ----------------------------------------------------------------------------------------------------
# eval, predict

def _eval_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("--data", help="evaluate on this file instead of the run's validation split")
    p.add_argument("--batch", type=int, default=None,
                   help="sequences read side by side (default: the run's --batch, fewer for a short file)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    _add_checkpoint_choice(p)


def _add_checkpoint_choice(p) -> None:
    """--checkpoint best | last: which checkpoint ``invoke`` loads for the command (unroll.runs.load)."""
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="best: the checkpoint of the best validation by the task's metric (the latest if none "
                        "was kept yet); last: the latest (default best)")


def cmd_eval(args, loaded) -> int:
    from dataclasses import replace
    task, model, info = loaded
    if args.batch is not None:                               # a new TrainConfig checks it (a positive integer)
        task.settings["train"] = replace(task.settings["train"], batch_size=args.batch)
    if info.get("imported") and not args.data:
        raise ValueError(f"run folder {args.run_dir} was imported from {info['imported']} and has no data; pass --data FILE")
    result = {"step": info["step"], **task.metrics(model, args.data or "valid")}
    if "loss" not in result:                             # nothing evaluated: say so, and fail
        raise ValueError(task.describe(result))
    line = task.describe(result)                         # every eval names the step it read
    print(json.dumps(result) if args.json else line if f"step {info['step']}" in line else
          f"step {info['step']} ({info['checkpoint']} checkpoint): {line}")
    return 0


def _predict_arguments(task_name: str, p) -> None:
    task = get_task(task_name)
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("input", nargs="?", default="-", help="a file of inputs, one a line (default: standard input); "
                                                         "a vector run: a .csv, .ts or .npz file")
    if task.predict_options is not None:
        add_arguments(p.add_argument_group(f"{task_name} ({task.predict_options.__name__})"), task.predict_options,
                      "predict")
    _add_checkpoint_choice(p)


def cmd_predict(args, loaded) -> int:
    from unroll.data.columns import read_lines, stdin_lines
    task, model, _ = loaded
    if task.predict_reads is None and args.input != "-":
        raise ValueError(f"a {task.name} run's predict reads no INPUT file ({args.input}); leave it out "
                         f"(`unroll predict {args.run_dir} --help` lists what it takes)")
    options = from_args(task.predict_options, args, "predict") if task.predict_options is not None else None
    reader = getattr(task, "predict_file", None)                 # vector runs read their own file formats
    out = reader(model, args.input, options) if reader is not None and args.input != "-" else None
    if out is None:
        lines = stdin_lines(encoding=_encoding(task)) if args.input == "-" else read_lines(args.input, _encoding(task))
        out = task.predict(model, (line.rstrip("\n") for line in lines), options)
    for line in out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def _encoding(task) -> str:
    """The text encoding of the run's data files (a task setting of lm, classify, tag, generate, seq2seq)."""
    return next((s.encoding for s in task.settings.values() if isinstance(getattr(s, "encoding", None), str)),
                "utf-8")


# ----------------------------------------------------------------------------------------------------
# gradcheck

def _gradcheck_arguments(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the random test inputs (default 0)")


def cmd_gradcheck(args) -> int:
    from unroll.nn.gradcheck import report
    rows = report(args.seed)
    print(f"{'case':<28} {'tensor':<22} {'relative error':>15}")
    worst = 0.0
    for case, tensor, error in rows:
        worst = max(worst, error)
        print(f"{case:<28} {tensor:<22} {error:>15.2e}")
    verdict = "PASS" if worst < 1e-7 else "FAIL"
    print(f"worst relative error {worst:.2e} (threshold 1e-7): {verdict}")
    return 0 if verdict == "PASS" else 1

