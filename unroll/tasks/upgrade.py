"""config.json format 3 -> 4: each task's network settings move into one ``network`` section; 4 -> 5: the
long-term task's ``model`` section (cell, hidden, skip_every, alpha_range; the cell list with ``irnn``) is a
``network`` section too.

Format 3 kept them in the task's own section (``classify.hidden_size``, ``tag.unidirectional`` ...); format 4
has them once, in ``network`` (nn/network.py's StackConfig with the task's defaults); the language model's
section ``model``, which held the same settings, is ``network`` too. Called by ``runs/folder.py``'s
``read_config``; the file on disk is left as it was.
"""

from __future__ import annotations

NETWORK_FIELDS = ("cell", "hidden_size", "num_layers", "bidirectional", "embedding_size", "dropout", "locked_dropout",
                  "weight_drop", "recurrent_dropout", "zoneout", "activation", "init", "init_scale", "forget_bias", "alpha", "skip_every",
                  "skip_only", "depth", "shortcut")
TASK_SECTION = {"classify": "classify", "tag": "tag", "generate": "generate", "seq2seq": "seq2seq",
                "forecast": "forecast"}     # the format-3 section that held each task's network


def upgrade_v3(info: dict) -> dict:
    """Format 3 -> 4 (a new dict): the task section's network fields under ``network``; the long-term task's
    skip delay ``skip_d`` is ``skip_every``, the one name every task uses."""
    info = dict(info, format=4)
    if info.get("task") == "longterm" and isinstance(info.get("model"), dict):
        info["model"] = {("skip_every" if k == "skip_d" else k): v for k, v in info["model"].items()}
    from unroll.tasks.lm import LanguageModelTask
    if info.get("task") == LanguageModelTask.name and isinstance(info.get("model"), dict):
        info["network"] = info.pop("model")
    section = TASK_SECTION.get(info.get("task"))
    if section is None or not isinstance(info.get(section), dict):
        return info
    old = dict(info[section])
    network = {k: old.pop(k) for k in NETWORK_FIELDS if k in old}
    if info["task"] == "tag":                   # tag read both ways unless --unidirectional
        network["bidirectional"] = not old.pop("unidirectional", False)
    info[section], info["network"] = old, network
    return info


IRNN = {"cell": "rnn", "activation": "relu", "init": "identity:0.001"}     # Le et al. 2015, as format 4 built it


def upgrade_v4(info: dict) -> dict:
    """Format 4 -> 5 (a new dict): the long-term task's ``model`` {cell, hidden, skip_every, alpha_range} is
    ``network``; ``irnn`` is the rnn with relu and ``--init identity:0.001``; the skip delay and the leaky cell's
    α range are kept for the cells that read them (format 4 stored both for every cell)."""
    info = dict(info, format=5)
    if info.get("task") != "longterm" or not isinstance(info.get("model"), dict):
        return info
    old = info.pop("model")
    cell = old.get("cell", "lstm")
    network = dict(IRNN) if cell == "irnn" else {"cell": cell}
    network["hidden_size"] = old.get("hidden", 64)
    if cell == "skip":
        network["skip_every"] = old.get("skip_every", 10)
    if cell == "leaky" and "alpha_range" in old:
        network["alpha_range"] = old["alpha_range"]
    info["network"] = network
    return info
