"""mkdocs hooks of the documentation site (mkdocs.yml): the notebooks come in as pages, MathJax ships.

* ``on_config``: the nav's Notebooks section keeps the notebooks that exist (in the repository's notebooks/
  or the docs folder's), so a notebook still being written does not break ``mkdocs build --strict``.
* ``on_files``: every ``notebooks/*.ipynb`` of the repository becomes the page ``notebooks/NAME.ipynb``,
  unless the docs folder has its own ``notebooks/NAME.ipynb`` (tests/notebooks/test_site.py puts the
  executed copies there); mkdocs-jupyter renders a notebook as it is, outputs included, and never runs it.
* ``on_post_build``: MathJax 3 (``es5/tex-svg.js``: the TeX input and SVG output in one file, no fonts to
  fetch) and its Apache-2.0 licence are copied from the django-static-mathjax wheel (the docs extra) into
  ``javascripts/mathjax/`` of the built site, so no page loads a script from another host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
MATHJAX_FILES = {"es5/tex-svg.js": "tex-svg.js", "LICENSE": "LICENSE"}


def notebook_names(config) -> set[str]:
    folders = (ROOT / "notebooks", Path(config["docs_dir"]) / "notebooks")
    return {path.name for folder in folders for path in folder.glob("*.ipynb")}


def on_config(config):
    present = notebook_names(config)
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Notebooks" in item:
            item["Notebooks"] = [entry for entry in item["Notebooks"]
                                 if Path(next(iter(entry.values()))).name in present]
    return config


@event_priority(100)             # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        uri = f"notebooks/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def mathjax_source() -> Path:
    try:
        import mathjax
    except ImportError as exc:
        raise SystemExit("mkdocs_hooks: MathJax ships in the docs extra: pip install -e '.[docs]'") from exc
    return Path(mathjax.__file__).parent / "static" / "mathjax"


def on_post_build(config) -> None:
    source, target = mathjax_source(), Path(config["site_dir"]) / "javascripts" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    for name, copy in MATHJAX_FILES.items():
        shutil.copyfile(source / name, target / copy)
