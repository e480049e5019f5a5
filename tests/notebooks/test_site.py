"""The documentation site (issue 33): ``mkdocs build --strict`` of a copy of docs/ with the executed notebooks,
the "hello" notebook's trained sample on its page in headless Chromium, the equations typeset by the MathJax
the site ships, and no page that loads a script or a stylesheet from another host.

The build runs offline in a temporary folder: mkdocs.yml, mkdocs_hooks.py and docs/ are copied there and the
notebooks executed by ``executed_notebooks`` (tests/notebooks/conftest.py) go to its docs/notebooks/, so the
site shows their outputs without running anything. Without Chromium the browser test fails (it never skips):
``apt-get install chromium chromium-driver``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.analysis.test_viz_page import driver_or_fail

ROOT = Path(__file__).resolve().parents[2]
HELLO = "wirings-and-hello.ipynb"
NAV_PAGES = ["index.html", "tasks/index.html", "derivations/index.html", "cli/index.html",
             "notebooks/wirings-and-hello/index.html", "api/nn/index.html", "api/models/index.html",
             "api/tasks/index.html", "api/train/index.html", "api/data/index.html", "api/runs/index.html"]


@pytest.fixture(scope="module")
def site(executed_notebooks, tmp_path_factory) -> Path:
    """The built site's folder; the build's own output is the failure message when it does not pass."""
    work = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "docs", work / "docs")
    for name in ("mkdocs.yml", "mkdocs_hooks.py"):
        shutil.copy(ROOT / name, work / name)
    (work / "docs" / "notebooks").mkdir()
    for name, path in executed_notebooks.items():
        shutil.copy(path, work / "docs" / "notebooks" / name)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(work / "out")], cwd=work,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stderr[-6000:]}")
    return work / "out"


def test_strict_build_has_every_page_and_the_api_reference(site, executed_notebooks):
    notebooks = [f"notebooks/{Path(name).stem}/index.html" for name in executed_notebooks]
    missing = [page for page in NAV_PAGES + notebooks if not (site / page).is_file()]
    assert missing == []
    nn = (site / "api/nn/index.html").read_text(encoding="utf-8")
    for anchor in ("unroll.nn.lstm.forward", "unroll.nn.lstm.backward", "unroll.nn.gru.forward"):
        assert f'id="{anchor}"' in nn
    assert (site / "javascripts/mathjax/tex-svg.js").stat().st_size > 1_000_000


def hello_sample(executed_notebooks) -> str:
    """The line ``sample: ...`` the executed hello notebook printed."""
    nb = nbformat.read(executed_notebooks[HELLO], as_version=4)
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    lines = [line for line in text.splitlines() if line.startswith("sample: ")]
    assert lines, f"{HELLO} printed no line starting 'sample: '"
    return lines[-1]


@contextlib.contextmanager
def http_server(folder: Path):
    """The built site over http on a free port of 127.0.0.1, in a thread; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def typeset_count(driver) -> int:
    return driver.execute_script("return document.querySelectorAll('mjx-container').length")


def test_hello_page_in_chromium_shows_the_trained_sample_and_typesets_the_equations(site, executed_notebooks):
    sample = hello_sample(executed_notebooks)
    driver = driver_or_fail()
    try:
        with http_server(site) as base:
            driver.get(f"{base}/notebooks/wirings-and-hello/")
            body = driver.find_element(By.TAG_NAME, "body").text
            assert sample in body.splitlines()
            driver.get(f"{base}/derivations/")
            spans = driver.execute_script("return document.querySelectorAll('.arithmatex').length")
            assert spans > 20
            WebDriverWait(driver, 30, poll_frequency=0.2).until(lambda d: typeset_count(d) >= spans)
            assert driver.execute_script("return document.querySelectorAll('mjx-merror').length") == 0
    finally:
        driver.quit()


LOADS = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?([^"'\s>]+)|<link\b[^>]*\bhref\s*=\s*["']?([^"'\s>]+)[^>]*>"""
                   r"""|@import\s+(?:url\()?["']?([^"')\s;]+)""", re.IGNORECASE)


def foreign_loads(html: str) -> list[str]:
    """The scripts, stylesheets and imports of a page that come from another host."""
    found = []
    for match in LOADS.finditer(html):
        url = next(u for u in match.groups() if u is not None)
        tag = match.group(0)
        is_link = tag.lower().startswith("<link")
        if is_link and not re.search(r"""rel\s*=\s*["']?(stylesheet|preload|modulepreload|icon)""", tag, re.I):
            continue
        if re.match(r"(?i)(https?:)?//", url):
            found.append(url)
    return found


def test_foreign_loads_are_found():
    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//fonts.example/a.css">'
            '<style>@import url("https://fonts.example/b.css");</style><script src="../local.js"></script>'
            '<link rel="next" href="https://example.org/next">')
    assert foreign_loads(page) == ["https://cdn.example/x.js", "//fonts.example/a.css", "https://fonts.example/b.css"]


def test_no_page_loads_a_script_or_stylesheet_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= len(NAV_PAGES)
    offending = {str(p.relative_to(site)): urls for p in pages if (urls := foreign_loads(p.read_text("utf-8")))}
    assert offending == {}
