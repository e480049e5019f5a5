"""The README's results table, written from the benchmarks' JSON in benchmarks/results/ (issue 33).

    python benchmarks/results_table.py            # rewrite the table between README.md's two markers
    python benchmarks/results_table.py --check    # exit 1, naming each figure, if the table is not the JSON's

Every cell comes from one file of benchmarks/results/, named ``DATE-CPU-WHAT.json`` (or ``.jsonl``): the
figures from its numbers, the date and CPU from its ``date`` and ``machine`` when it has them (else from
its name), the command from its ``command`` (else the command docs/performance.md gives for that file).
A row is shown only when its file exists; the newest file of each kind wins. The benchmarks that write
the rows still missing, each with ``--json benchmarks/results/DATE-CPU-WHAT.json``:

    python benchmarks/ptb_word.py --data PTB_FOLDER                       # WHAT = ptb-word
    python benchmarks/sentiment.py RT_POLARITY_FOLDER --extra-text T.txt  # WHAT = sentiment
    python benchmarks/seq2seq.py dates --attention                        # WHAT = seq2seq-dates (any task)
    python benchmarks/vector_classify.py --data JAPANESE_VOWELS_FOLDER    # WHAT = japanese-vowels
    python benchmarks/forecast.py TIMESERIES_FOLDER                       # WHAT = forecast
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- results table: written by `python benchmarks/results_table.py` from benchmarks/results/; do not edit -->"
END = "<!-- end of results table -->"
HEADER = ["result", "unroll", "reference", "date", "CPU", "command", "JSON"]


def load(path: Path):
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)


def ratio(x: float) -> str:
    return f"{x:.2f}×"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def shakespeare(data) -> list[tuple]:
    side = {r["side"]: r for r in data}
    u, t = side["unroll"], side["torch"]
    model = u.get("model", {})
    ours = f"{model.get('num_layers', 2)}×{model.get('hidden_size', 256)} {model.get('cell', 'lstm').upper()}"
    return [("Character LM, tiny Shakespeare, 600 s each, the defaults (validation nats/char)",
             f"{u['valid_loss']:.3f} ({u['step']:,} steps, {ours})",
             f"torch.nn 2×256 LSTM: {t['valid_loss']:.3f} ({t['step']:,} steps)")]


def shakespeare_long(data) -> list[tuple]:
    """A long budget (60 min): the unroll side alone, with the flags it ran."""
    rows = []
    for u in (r for r in data if r["side"] == "unroll"):
        model, minutes = u.get("model", {}), round(float(u["train_command"].split("--max-time ")[1].split()[0]) / 60)
        dropout = f", dropout {model['dropout']:g}" if model.get("dropout") else ""
        members = f"--members {u['members']}: {u['members']} × " if u.get("members", 1) > 1 else ""
        rows.append((f"Character LM, tiny Shakespeare, {minutes} min, {members}{model.get('num_layers', 2)}×"
                     f"{model.get('hidden_size')} {model.get('cell', 'lstm').upper()}{dropout} (validation nats/char)",
                     f"{u['valid_loss']:.3f} ({u['step']:,} steps)", ""))
    return rows


def speed(data) -> list[tuple]:
    rows = []
    for threads in sorted({r["threads"] for r in data["train"]}, reverse=True):
        at = {r["config"]: r["ratio"] for r in data["train"] if r["threads"] == threads and r["strategy"] == "auto"}
        cells = [f"{cell.upper() if cell != 'lstm' else 'LSTM'} {ratio(at[f'{cell}-128'])} / {ratio(at[f'{cell}-512'])}"
                 for cell in ("rnn", "gru", "lstm") if f"{cell}-128" in at and f"{cell}-512" in at]
        if "default" in at:
            model = next(r for r in data["train"] if r["config"] == "default")
            cells.append(f"default model ({model['cell'].upper()} 2×{model['hidden']}) {ratio(at['default'])}")
        rows.append((f"Training tokens/s over torch.nn, {threads} thread{'s' * (threads > 1)} (2×128 / 2×512)",
                     ", ".join(cells), "torch.nn at the same threads"))
    return rows


def memory_sampling(data) -> list[tuple]:
    rows = []
    for m in data.get("memory") or []:
        rows.append((f"Peak memory training a 2×{m['hidden']} {m['cell'].upper()}",
                     f"{m['unroll']['peak_mib']:.0f} MiB", f"torch.nn: {m['torch']['peak_mib']:.0f} MiB"))
    s = data.get("sample")
    if s:
        rows.append((f"Sampling chars/s, 2×{s['hidden']} LSTM, one character at a time",
                     f"{s['unroll_chars_per_s']:,.0f} ({ratio(s['ratio'])})", f"torch.nn: {s['torch_chars_per_s']:,.0f}"))
    return rows


def compile_cost(data) -> list[tuple]:
    cold, warm = [r["wall_s"] for r in data["cold"]], [r["wall_s"] for r in data["warm"]]
    return [("First run: compiling the LSTM, GRU and RNN kernels (wall clock)",
             f"cold {span(cold)} s, warm {span(warm)} s", "")]


def span(values) -> str:
    """The smallest and largest at one decimal as "a–b", or one figure when they print the same."""
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low}–{high}"


def ptb(data) -> list[tuple]:
    """Zaremba's small model; a variant's extra flags (``-- --dropout 0.2``) and the training time in the label."""
    flags = data["train_command"].split(" --quiet", 1)[1].strip() if " --quiet" in data["train_command"] else ""
    took = f" in {data['train_seconds'] / 60:.0f} min" if "train_seconds" in data else ""
    return [(f"Penn Treebank, word level, 2×200 LSTM{' ' + flags if flags else ''}, {data['epochs']} epochs{took} "
             "(test perplexity; Zaremba et al. 2014: 114.5)", f"{data['test_perplexity']:.1f}", "")]


def sentiment(data) -> list[tuple]:
    """The from-scratch classifier is "the defaults" when the file's settings added no --flags ("scratch" when
    it records no settings); the budget is in the label."""
    acc, settings = data["mean_test_acc"], data.get("settings", {})
    scratch = "scratch" if not settings else "the defaults" if not settings.get("flags") else f"flags {settings['flags']}"
    names = {"scratch": scratch,
             "pretrained": "pretrained"}
    mine = [f"{names[name]} {pct(acc[name])}" for name in ("scratch", "pretrained") if name in acc]
    budget = f", {settings['time']:.0f} s per fold" if settings.get("time") else ""
    return [(f"Sentence polarity (rt-polarity), {len(data['folds'])}-fold mean test accuracy{budget}",
             ", ".join(mine), f"NBSVM: {pct(acc['nbsvm'])}" if "nbsvm" in acc else "")]


def seq2seq(data) -> list[tuple]:
    g = data["test"]["greedy"]
    how = "attention" if data["settings"].get("attention") else "context C"
    return [(f"Sequence to sequence, {data['task']} ({how}), {data['test']['n']:,} held-out pairs",
             f"exact {pct(g['exact_match'])}, BLEU {g['bleu']:.2f}", "")]


def vowels(data) -> list[tuple]:
    seeds = len(data["unroll_seed_accuracy"])
    return [(f"{data['data']} (UEA), test accuracy, mean of {seeds} seeds",
             f"{pct(data['unroll_mean'])} (ensemble {pct(data['unroll_ensemble'])})",
             f"1-NN DTW: {pct(data['1nn_dtw_d_raw'])} raw, {pct(data['1nn_dtw_d_standardised'])} standardised")]


def forecast(data) -> list[tuple]:
    """The three series' test MASE (benchmarks/forecast.py's "series" suite; older files hold only it)."""
    rows = []
    for series, r in data.get("series", data).items():
        mine = {k: v for k, v in r["results"].items() if k.startswith("unroll")}
        others = {k: v for k, v in r["results"].items() if not k.startswith("unroll")}
        rows.append((f"Forecasting {series} (test MASE)", ", ".join(f"{v['mase']:.2f}" for v in mine.values()),
                     ", ".join(f"{k} {v['mase']:.2f}" for k, v in others.items())))
    return rows


# (what the file name ends with, the rows, the command when the file does not say it)
SOURCES = [
    ("-shakespeare-600s.jsonl", shakespeare, "python benchmarks/quality_shakespeare.py [--torch] --json {file}"),
    ("-shakespeare-3600s.jsonl", shakespeare_long, "python benchmarks/quality_shakespeare.py --seconds 3600 --json {file}"),
    ("-auto.json", speed, "python benchmarks/train_speed.py --threads 2,1 --json {file}"),
    ("-memory-sampling.json", memory_sampling, "python -m unroll bench --threads 2 --configs lstm-512 --json {file}"),
    ("-compile.json", compile_cost, "python benchmarks/compile_cost.py --json {file}"),
    ("-ptb-word.json", ptb, None),
    ("-sentiment.json", sentiment, None),
    ("-seq2seq-*.json", seq2seq, None),
    ("-japanese-vowels.json", vowels, None),
    ("-forecast.json", forecast, "python benchmarks/forecast.py TIMESERIES_FOLDER --json {file}"),
]
NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+?)-[^-]+(?:-[^-]+)*$")


def _natural(path: Path) -> list:
    return [(1, int(part), "") if part.isdigit() else (0, 0, part) for part in re.split(r"(\d+)", path.name)]


def provenance(path: Path, data, suffix: str, fallback: str | None, base: Path) -> tuple[str, str, str]:
    """(date, CPU, command) of one file: its own fields first, then its name, then the known command."""
    first = data[0] if isinstance(data, list) else data
    date = (first.get("date") or path.name[:10])[:10]
    machine = first.get("machine") or {}
    cpu = machine.get("cpu") or path.name[11:path.name.rindex(suffix.split("*")[0])].replace("-", " ").title()
    cpu = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b", "", cpu).strip()
    cpu = re.sub(r"\s+", " ", cpu) + (f", {machine['cores']} cores" if machine.get("cores") else "")
    command = first.get("command") if str(first.get("command", "")).startswith("python") else None
    command = command or (fallback or "").format(file=path.relative_to(base).as_posix())
    return date, cpu, command


def newest(root: Path, suffix: str) -> list[Path]:
    """The newest file of a kind (one per seq2seq task): the last in date order, then by the numbers in the
    name compared as numbers (wave13 after wave7)."""
    found = sorted(root.glob("????-??-??-*" + suffix), key=_natural)
    if "*" not in suffix:
        return found[-1:]
    by_what = {p.name.split(suffix.split("*")[0], 1)[1]: p for p in found}
    return [by_what[k] for k in sorted(by_what)]


def table(results: Path = RESULTS, base: Path = ROOT) -> str:
    """The table's Markdown from the files in ``results``; links are relative to ``base`` (README's folder)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for suffix, rows, fallback in SOURCES:
        for path in newest(results, suffix):
            data = load(path)
            date, cpu, command = provenance(path, data, suffix, fallback, base)
            link = f"[JSON]({path.relative_to(base).as_posix()})"
            for what, mine, reference in rows(data):
                lines.append(f"| {what} | {mine} | {reference} | {date} | {cpu} | `{command}` | {link} |")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"README.md: needs one '{BEGIN}' line, then one '{END}' line")
    head, rest = text.split(BEGIN)
    return head + BEGIN + "\n" + block + "\n" + END + rest.split(END, 1)[1]


FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(%?)")


def numbers(value, out: list[float]) -> list[float]:
    if isinstance(value, dict):
        for v in value.values():
            numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            numbers(v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(float(value))
    return out


def supported(figure: str, percent: bool, values: list[float]) -> bool:
    """Whether a figure as printed (its decimals) is one of the JSON's numbers rounded, or a hundredth of it."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    shown = float(figure.replace(",", ""))
    scale = 100.0 if percent else 1.0
    return any(abs(round(v * scale, decimals) - shown) < 10 ** -(decimals + 3) for v in values)


def unsupported_figures(readme: str, base: Path = ROOT) -> list[str]:
    """Each figure of the table's unroll and reference columns that is not in the row's JSON, as
    'JSON: figure'; a row whose JSON is missing is named too."""
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    wrong = []
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        target = re.search(r"\]\(([^)]+)\)", cells[-1])
        path = base / target.group(1) if target else None
        if path is None or not path.is_file():
            wrong.append(f"{cells[-1]}: no such JSON")
            continue
        values = numbers(load(path), [])
        for cell in cells[1:3]:
            for figure, percent in FIGURE.findall(cell):
                if not supported(figure, bool(percent), values):
                    wrong.append(f"{path.name}: {figure}{percent}")
    return wrong


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if README's table is not the JSON's")
    p.add_argument("--readme", type=Path, default=README)
    args = p.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = replace_block(text, table())
    if args.check:
        problems = unsupported_figures(text) + ([] if new == text else ["README.md: the table is not what the JSON gives; "
                                                                         "run python benchmarks/results_table.py"])
        print("\n".join(problems) or "README.md's results table matches benchmarks/results/")
        return 1 if problems else 0
    args.readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
