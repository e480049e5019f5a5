"""The package's import graph, read from the source (``ast``), with its two rules checked.

    python -m unroll.tools.imports                  every module, its floor and what it imports; exit 1 on a breach
    python -m unroll.tools.imports unroll.train     only the modules under a prefix
    python -m unroll.tools.imports --flag lr-decay  which settings dataclass declares --lr-decay, and the
                                                    modules that read its field

The rules (tests/test_imports.py runs ``breaches``):

1. **Floors.** Each module sits on one floor of ``FLOORS`` and imports only from its own floor or below,
   lazy imports (inside functions) included. ``train/`` knows no task, no run folder and not the package
   root; ``tasks/`` knows no run folder; nothing but the top floor imports the package root.
2. **No cycle**, lazy or not: the graph of modules is acyclic.

Plug-ins found by name at run time (``stack.CELLS``' module names, ``tasks.TASKS``, the ``unroll.tasks``
entry points, ``config.REGISTRIES``) are not imports and are not edges.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (        # lowest first
    ("version", ("unroll._version",)),
    ("engine", ("unroll.command", "unroll.nn", "unroll.options", "unroll.config", "unroll.data", "unroll.decode")),
    ("models", ("unroll.models",)),
    ("train", ("unroll.train",)),
    ("tasks", ("unroll.tasks",)),
    ("runs", ("unroll.runs",)),
    ("commands", ("unroll.analysis", "unroll.interop", "unroll.bench", "unroll.serve", "unroll.tasks.probes",
                  "unroll.tune.folder")),                   # a study folder read without train's parser (serve)
    ("cli", ("unroll.cli", "unroll.clidoc", "unroll.__main__", "unroll.tools",
             "unroll.tune",                                  # drives `unroll train`'s own parser (unroll.cli)
             "unroll")),
)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """{dotted module name: file} of every module of the package (``unroll.tasks`` is tasks/__init__.py)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules that module ``name`` imports anywhere in its file (lazy imports included)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out |= {_known_prefix(a.name, known) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else _known_prefix(base, known))
    out.discard(None)
    out.discard(name)
    return out


def _known_prefix(name: str, known: dict) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def floor_of(module: str) -> int:
    """The index in FLOORS of the floor whose longest prefix names ``module`` (the root only by itself)."""
    best, index = -1, None
    for i, (_, prefixes) in enumerate(FLOORS):
        for p in prefixes:
            if (module == p or (p != "unroll" and module.startswith(p + "."))) and len(p) > best:
                best, index = len(p), i
    if index is None:
        raise ValueError(f"module {module} sits on no floor of unroll.tools.imports.FLOORS; add it there")
    return index


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def breaches(edges: dict[str, set[str]] | None = None) -> list[str]:
    """One line per import that runs up a floor, and per cycle; [] when the package keeps both rules."""
    edges = graph() if edges is None else edges
    lines = []
    for module in sorted(edges):
        for target in sorted(edges[module]):
            if floor_of(target) > floor_of(module):
                lines.append(f"{module} ({FLOORS[floor_of(module)][0]}) imports {target} "
                             f"({FLOORS[floor_of(target)][0]}), a higher floor")
    lines += [f"import cycle: {' -> '.join(c)}" for c in cycles(edges)]
    return lines


def flag_readers(flag: str) -> list[str]:
    """Where ``--flag`` is declared (section, dataclass, field) and which modules read that field."""
    from dataclasses import fields
    from unroll.cli import build_parser
    from unroll.tasks import TASKS, get_task
    from unroll.config import TrainConfig
    want = "--" + flag.lstrip("-")
    declared = set()
    for task in TASKS:
        for section, cls in [*get_task(task).sections.items(), ("train", TrainConfig)]:
            for f in fields(cls):
                option = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
                if want in ((option,) if isinstance(option, str) else option):
                    declared.add((section, cls.__module__ + "." + cls.__name__, f.name, task))
    if not declared:
        build_parser()
        return [f"{want}: no settings dataclass declares it (a command's own argparse option)"]
    lines = [f"{want}: section {s!r}, {cls}.{name} (--task {t})" for s, cls, name, t in sorted(declared)]
    names = {name for _, _, name, _ in declared}
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hits = sorted({n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in names})
        if hits:
            lines.append(f"  read in {module}: line {', '.join(map(str, hits))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unroll.tools.imports", description=__doc__.splitlines()[0])
    parser.add_argument("prefix", nargs="?", default="unroll", help="show only modules under this name")
    parser.add_argument("--flag", help="follow a flag: where it is declared and read")
    args = parser.parse_args(argv)
    if args.flag:
        print("\n".join(flag_readers(args.flag)))
        return 0
    edges = graph()
    for module in sorted(edges, key=lambda m: (floor_of(m), m)):
        if module == args.prefix or module.startswith(args.prefix + ".") or args.prefix == "unroll":
            print(f"[{FLOORS[floor_of(module)][0]}] {module}: {', '.join(sorted(edges[module])) or '-'}")
    problems = breaches(edges)
    print("\n".join(problems) if problems else "floors kept, no cycle", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
