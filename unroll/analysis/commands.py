"""CLI glue for ``unroll plot``, ``unroll visualize``, ``unroll inspect --gates`` and ``unroll data python-source``.

``COMMANDS`` declares the four (unroll.command); each handler calls ``unroll.analysis.plots``,
``unroll.analysis.visualize`` or ``unroll.data.python_source``, and prints a short summary. A ValueError
becomes the CLI's one-line ``unroll: error: ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from unroll.command import Command


def _plot_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("--out", type=Path, default=None, help="PNG path (default RUN_DIR/curves.png)")


def cmd_plot(args, runs) -> int:
    from unroll.analysis.plots import plot_metrics
    from unroll.tasks import get_task
    folder = runs.RunFolder.named(args.run_dir)
    if getattr(get_task(folder.read_config()["task"]), "plot", None) is not None:   # forecast: its own figure
        task, model, _ = runs.load(args.run_dir)
        print(task.plot(model, folder.path, args.out))
        if args.out is not None:
            return 0
    print(plot_metrics(args.run_dir, args.out))
    return 0


def _visualize_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", type=Path, help="UTF-8 file to run the model over (default: the run's validation text)")
    src.add_argument("--prime", help="start from this text and let the model continue it")
    p.add_argument("--unit", help="LAYER:UNIT to colour by, counted from 0 (default: the unit most correlated "
                                  "with any feature)")
    p.add_argument("--state", choices=("c", "h"), help="c: tanh(c_t) (LSTM, the default), h: h_t")
    p.add_argument("--find", action="store_true", help="print the units that best track each text feature "
                                                        "(and put the table in the page)")
    p.add_argument("--feature-regex", help="an extra feature: 1 inside matches of this regular expression")
    p.add_argument("--chars", type=int, default=5000, help="characters shown (default 5000)")
    p.add_argument("--out", type=Path, default=Path("page.html"), help="HTML file to write (default page.html)")


def _inspect_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("--gates", action="store_true", help="fraction of time each gate unit is < 0.1 and > 0.9")
    p.add_argument("--text", type=Path, help="UTF-8 file to run over (default: the run's validation text)")
    p.add_argument("--chars", type=int, default=20000, help="characters read (default 20000)")
    p.add_argument("--out", type=Path, default=None, help="folder for gates.json and gates.png (default RUN_DIR)")


def _data_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="text file to write")
    p.add_argument("--max-chars", type=int, default=None, help="stop after about this many characters")
    p.add_argument("--keep-non-ascii", action="store_true", help="keep files with non-ASCII characters")


def cmd_visualize(args) -> int:
    from unroll.analysis import features, visualize as V
    model, vocab, task, _ = V.load_char_lm(args.run_dir)
    text = V.run_text(model, vocab, task, args.text, args.prime, length=args.chars)
    title = f"{args.run_dir}: {model.config.num_layers}x{model.config.hidden_size} {model.config.cell.upper()}"
    result = V.visualize(model, vocab, text, args.out, args.unit, args.state, args.find, args.feature_regex,
                         max_chars=args.chars, title=title)
    if args.find:
        print(features.format_table(result["rows"]))
    kind, layer, unit = result["unit"]
    note = f", {result['unknown']} outside the vocabulary (marked)" if result["unknown"] else ""
    print(f"{args.out}: {result['chars']} characters{note}; showing layer {layer} unit {unit} "
          f"({'tanh(c)' if kind == 'c' else 'h'})", file=sys.stderr)
    return 0


def cmd_inspect(args) -> int:
    from unroll.analysis import visualize as V
    if not args.gates:
        raise ValueError("say what to inspect: --gates")
    model, vocab, task, _ = V.load_char_lm(args.run_dir)
    text = V.run_text(model, vocab, task, args.text)
    out = args.out or args.run_dir
    sat = V.gates(model, vocab, text, out, max_chars=args.chars)
    print(f"{'layer':>5} {'gate':>5} {'< 0.1':>7} {'> 0.9':>7}")
    for l, layer in enumerate(sat["layers"]):
        for name, values in layer.items():
            print(f"{l:>5} {name:>5} {values['mean_left']:>7.3f} {values['mean_right']:>7.3f}")
    print(f"{out / 'gates.json'}, {out / 'gates.png'}", file=sys.stderr)
    return 0


def cmd_data(args) -> int:
    from unroll.data.python_source import python_source, stdlib_dir
    text = python_source(max_chars=args.max_chars, ascii_only=not args.keep_non_ascii)
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(text):,} characters, {len(set(text))} distinct, from {stdlib_dir()}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("plot", "PNG of a run's training and validation curves (forecast runs: also the forecast with its "
            "intervals)", _plot_arguments, cmd_plot, needs="runs"),
    Command("visualize", "HTML page: text coloured by a unit's activation, top-5 predictions", _visualize_arguments,
            cmd_visualize, "Write one self-contained HTML page showing a trained character model's units over a "
            "text (Karpathy, Johnson, Fei-Fei 2015)."),
    Command("inspect", "gate saturation of a trained LSTM/GRU (JSON and scatter plot)", _inspect_arguments,
            cmd_inspect),
    Command("python-source", "a corpus: this machine's Python standard library's .py files", _data_arguments,
            cmd_data, kind="data"),
)
