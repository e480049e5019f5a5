"""docs/cli.md is generated from the parsers and current; the flags are the config dataclasses' fields."""

from dataclasses import fields
from pathlib import Path

import pytest

from unroll import clidoc
from unroll.cli import build_parser
from unroll.config import TrainConfig, defaults_of, from_args
from unroll.tasks import TASKS, get_task

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_md_is_current():
    assert DOC.read_text(encoding="utf-8") == clidoc.render(), \
        "docs/cli.md is stale: run `python -m unroll.clidoc > docs/cli.md`"


def test_every_command_and_task_has_a_section():
    text = clidoc.render()
    for command in ("train", "eval", "predict", "plot", "gradcheck", "sample", "experiment", "diagnose", "bench"):
        assert f"`unroll {command}`" in text
    for task in TASKS:
        assert f"## unroll train --task {task}" in text


@pytest.mark.parametrize("task", list(TASKS))
def test_parsing_no_flags_gives_each_sections_defaults(task):
    """A default cannot differ between the CLI and the API: both are the dataclass field's."""
    cls = get_task(task)
    args = build_parser(task).parse_args(["train", "--task", task])
    for section, config in cls.sections.items():
        assert from_args(config, args, section) == config()
    assert from_args(TrainConfig, args, "train", cls.train_defaults) == TrainConfig(**defaults_of(TrainConfig, cls.train_defaults))
    flags = {a.dest for a in build_parser(task)._subparsers._group_actions[0].choices["train"]._actions}
    for section, config in {**cls.sections, "train": TrainConfig}.items():
        for f in fields(config):
            assert f"{section}.{f.name}" in flags or not f.metadata.get("cli", True)
