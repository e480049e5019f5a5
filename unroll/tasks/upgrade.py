"""config.json format 3 -> 4: each task's network settings move into one ``network`` section.

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
