"""The run folder has one owner and tasks own their behaviour (issue 28), read from the source (``ast``):
no module outside unroll/runs/ joins a path with the name of a run-folder file; serve and the task pages use
no private name of another object; no module but the language model's own (and the task registry, and the
upgrade of unroll 0.1's language-model folders) names the task "lm"."""

import ast
from pathlib import Path

from unroll.runs.folder import FILES

PACKAGE = Path(__file__).resolve().parents[2] / "unroll"


def sources(*parts):
    root = PACKAGE.joinpath(*parts)
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


def constant(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_no_module_outside_runs_opens_a_run_folder_file_by_name():
    found = []
    for path in sources():
        if PACKAGE / "runs" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = None
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                named = constant(node.right)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("joinpath", "with_name"):
                named = next((constant(a) for a in node.args if constant(a)), None)
            if named in FILES:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {named}")
    assert found == []


def test_serve_and_the_task_pages_use_no_private_name():
    found = []
    for path in [*sources("serve"), *sources("tasks", "probes")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
    assert found == []


def test_no_task_name_is_special_cased_outside_its_module():
    allowed = {PACKAGE / "tasks" / "lm.py", PACKAGE / "tasks" / "__init__.py",     # the task, the registry
               PACKAGE / "runs" / "folder.py"}                                    # unroll 0.1 made only LMs
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in sources() if path not in allowed
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if constant(node) == "lm"]
    assert found == []
