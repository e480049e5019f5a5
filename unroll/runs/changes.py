"""`unroll train --resume RUN` with other flags: which settings a resumed run may change, and the record.

A resumed run continues with its own settings. It may change its learning rate, its step and time
budgets and its evaluation and logging cadence (``RESUMABLE``); any other flag typed with --resume is
refused in one line naming every such flag (an abbreviation argparse accepts counts as the flag),
unless it repeats the run's own value (the whole command again, with --resume added). What
changed is recorded by ``RunFolder.update_train`` (a metrics event, config.json's train section,
config-history.jsonl), and only when the resumed run has steps left to train.
"""

from __future__ import annotations

from pathlib import Path

RESUMABLE = ("lr", "max_steps", "max_time", "eval_every", "log_every")   # TrainConfig fields --resume may change
NOT_SETTINGS = ("--resume", "--quiet", "--workers")


def resume_changes(args) -> dict:
    """{TrainConfig field: value} that `train --resume` was asked to change; a one-line error naming every
    typed flag that cannot change (the model, the data, the seed ...: start a new run for those)."""
    from unroll.runs.folder import RunFolder
    actions = args.parser._option_string_actions
    typed = []
    for token in args.argv[1:]:
        if token.startswith("--") and token != "--":
            name = token.split("=", 1)[0]
            match = [name] if name in actions else [o for o in actions if o.startswith(name)]
            if len(match) == 1 and actions[match[0]].option_strings[0] not in typed:
                typed.append(actions[match[0]].option_strings[0])
    dests = {flag: actions[flag].dest for flag in typed}
    changeable = {flag for flag, dest in dests.items() if dest.startswith("train.") and dest[6:] in RESUMABLE}
    config = RunFolder.named(args.resume).read_config()
    fixed = [f for f in typed if f not in changeable and f not in NOT_SETTINGS and f not in ("-h", "--help")
             and not _same_as_the_run(config, f, dests[f], getattr(args, dests[f], None))]
    if fixed:
        allowed = ", ".join(actions_flag(args.parser, f"train.{k}") for k in RESUMABLE)
        raise ValueError(f"--resume {args.resume} continues the run with its own settings; these cannot change on "
                         f"--resume: {', '.join(fixed)} (only {allowed} can; start a new run with --out for the "
                         "others)")
    return {dests[f][6:]: getattr(args, dests[f]) for f in typed if f in changeable}


def _same_as_the_run(config: dict, flag: str, dest: str, value) -> bool:
    """True when a typed flag repeats the run's own setting (the whole command again, with --resume): no change."""
    if flag == "--task":
        return value == config["task"]
    section, _, name = dest.partition(".")
    if not isinstance(config.get(section), dict) or name not in config[section]:
        return False
    stored = config[section][name]
    if name in ("data", "valid") and isinstance(value, str) and isinstance(stored, str):
        value = ",".join(str(Path(p).resolve()) if Path(p).exists() else p for p in value.split(","))
    return (list(value) if isinstance(value, tuple) else value) == stored


def actions_flag(parser, dest: str) -> str:
    return next(a.option_strings[0] for a in parser._actions if a.dest == dest)
