"""The pages in headless Chromium against a real uvicorn server on a free port: the runs table lists the
runs of a temporary folder, ticking two runs draws two curves, typing in the cell viewer colours the text
by the model's own activations, the attention heat map appears for a seq2seq run; classify and tag too.

Without a browser this test fails (it never skips): ``apt-get install chromium chromium-driver``.
With ``UNROLL_SCREENSHOTS=DIR`` it also saves the pictures of docs/serve.md into DIR.
"""

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from unroll.analysis import activations as A
from unroll.serve.app import create_app
from tests.serve.conftest import load


@contextlib.contextmanager
def serving(root):
    """A uvicorn server over ``root`` on a free port, in a thread; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base(runs):
    with serving(runs) as url:
        yield url


def wait(driver, condition, seconds=30):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))


def shot(driver, name):
    folder = os.environ.get("UNROLL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def rows(driver):
    """Run names in table order (read in one script: the table is re-rendered every 2 s)."""
    return driver.execute_script("return [...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.name)")


def column(driver, k):
    return driver.execute_script(f"return [...document.querySelectorAll('#runs tbody tr')]"
                                 f".map(r => r.children[{k}].textContent)")


def test_runs_table_lists_sorts_and_filters(driver, base, runs):
    driver.get(base + "/")
    wait(driver, lambda d: len(rows(d)) == 6)
    assert sorted(rows(driver)) == ["cls", "group/gru", "lm-a", "lm-b", "s2s", "tag"]
    assert set(column(driver, 10)) == {"finished"}
    shot(driver, "runs")
    driver.find_element(By.CSS_SELECTOR, "th[data-key=step]").click()               # ascending steps
    steps = [int(text.split(" / ")[0]) for text in column(driver, 5)]
    assert steps == sorted(steps) and rows(driver)[0] == "group/gru"                # the run of fewest steps
    driver.find_element(By.ID, "filter").send_keys("group")   # "gru" alone: classify runs are GRUs by default too
    wait(driver, lambda d: rows(d) == ["group/gru"])


def test_the_table_follows_new_runs_and_new_log_lines(driver, runs, tmp_path):
    root = tmp_path / "live"
    shutil.copytree(runs / "lm-b", root / "one")
    odd = "it's <b>\"odd\"</b>"
    shutil.copytree(runs / "lm-b", root / odd)                                  # quotes and markup in a name
    with serving(root) as url:
        driver.get(url + "/")
        wait(driver, lambda d: len(rows(d)) == 2)
        assert rows(driver) == [odd, "one"] and not driver.find_elements(By.CSS_SELECTOR, "#runs b")
        assert column(driver, 1)[0] == odd
        driver.find_element(By.LINK_TEXT, odd).click()
        wait(driver, lambda d: d.find_element(By.TAG_NAME, "h2").text == odd)
        driver.get(url + "/")
        wait(driver, lambda d: len(rows(d)) == 2)
        shutil.rmtree(root / odd)
        wait(driver, lambda d: rows(d) == ["one"])
        shutil.copytree(runs / "lm-a", root / "two")                              # a run starts
        with open(root / "one" / "metrics.jsonl", "a") as fh:                        # another logs a line
            fh.write(json.dumps({"step": 99, "train_loss": 1.0, "valid_loss": 0.5, "elapsed": 9.0}) + "\n")
        wait(driver, lambda d: rows(d) == ["one", "two"])
        max_steps = json.loads((root / "one" / "config.json").read_text())["train"]["max_steps"]   # 4, or 200 for the pictures
        wait(driver, lambda d: column(d, 5)[0] == f"99 / {max_steps}" and column(d, 6)[0] == "0.5000")


def test_compare_two_runs_draws_two_curves_each(driver, base):
    driver.get(base + "/compare")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#picker input")) == 6)
    for name in ("lm-a", "lm-b"):
        driver.find_element(By.CSS_SELECTOR, f"#picker input[value='{name}']").click()
    count = lambda d, cls: len(d.find_elements(By.CSS_SELECTOR, f"svg#loss path.curve.{cls}"))   # noqa: E731
    wait(driver, lambda d: count(d, "train") == 2 and count(d, "valid") == 2)
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#grad path.curve")) == 2
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#lr path.curve")) == 2
    by_step = [p.get_attribute("d") for p in driver.find_elements(By.CSS_SELECTOR, "svg#loss path.curve")]
    driver.find_element(By.CSS_SELECTOR, "input[name=x][value=elapsed]").click()    # the equal-time view
    wait(driver, lambda d: [p.get_attribute("d") for p in d.find_elements(By.CSS_SELECTOR, "svg#loss path.curve")] != by_step)
    assert driver.current_url.endswith("/compare?runs=lm-a,lm-b&x=elapsed")          # the choices stay in the address
    shot(driver, "compare")


def expected_colours(values):
    out = []
    for v in A.dequantise(A.quantise(values)):
        a, c = min(1.0, abs(v)), ((180, 4, 38) if v < 0 else (59, 76, 192))
        out.append("rgb(" + ", ".join(str(int(np.floor(255 + (x - 255) * a + 0.5))) for x in c) + ")")
    return out


def test_typing_in_the_cell_viewer_colours_the_text_by_the_unit(driver, base, runs):
    task, model = load(runs / "lm-a")
    driver.get(base + "/run/lm-a")
    box = driver.find_element(By.ID, "celltext")
    spans = lambda d: d.find_elements(By.CSS_SELECTOR, "#celltextview span.ch")  # noqa: E731
    box.send_keys("First Citizen:")
    wait(driver, lambda d: len(spans(d)) == 14)
    box.send_keys("\n    return (x + y)")
    wait(driver, lambda d: len(spans(d)) == 33)
    text = "First Citizen:\n    return (x + y)"
    acts = A.collect(model, task.vocab, text)
    Select(driver.find_element(By.ID, "kind")).select_by_value("c")
    Select(driver.find_element(By.ID, "unit")).select_by_value(str(1 * 8 + 3))       # layer 1, unit 3
    colours = [s.value_of_css_property("background-color") for s in spans(driver)]
    assert colours == [c.replace("rgb(", "rgba(").replace(")", ", 1)") for c in expected_colours(acts.cell[1, :, 3])]
    Select(driver.find_element(By.ID, "unit")).select_by_value(str(0 * 8 + 5))
    after = [s.value_of_css_property("background-color") for s in spans(driver)]
    assert after == [c.replace("rgb(", "rgba(").replace(")", ", 1)") for c in expected_colours(acts.cell[0, :, 5])]
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).move_to_element(spans(driver)[0]).perform()
    preds = driver.find_elements(By.CSS_SELECTOR, "#tip tr.pred")
    assert len(preds) == 5
    assert [float(p.find_element(By.CSS_SELECTOR, "td.p").text) for p in preds] == \
        pytest.approx(acts.top_probs[0], abs=5e-5)
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.find tr.row")) > 0
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg#gates circle.gate")) == 2 * 3 * 8)
    driver.find_element(By.ID, "length").clear()
    driver.find_element(By.ID, "length").send_keys("80")
    driver.find_element(By.ID, "prime").send_keys("First")
    driver.find_element(By.ID, "sample").click()
    wait(driver, lambda d: d.find_element(By.ID, "sampled").get_attribute("data-done") == "1")
    assert driver.find_element(By.ID, "sampled").text.startswith("First")
    shot(driver, "lm")


def test_attention_heat_map_for_a_seq2seq_run(driver, base, runs):
    task, model = load(runs / "s2s")
    hyp = task.translate(model, [task.encode_source("abc", "x")], 1)[0]
    driver.get(base + "/run/s2s")
    driver.find_element(By.ID, "line").send_keys("abc")
    driver.find_element(By.ID, "translate").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.heat"))
    cells = driver.find_elements(By.CSS_SELECTOR, "table.heat td.cell")
    assert len(cells) == (len(hyp.tokens) + hyp.finished) * 3
    titles = np.array([float(c.get_attribute("title")) for c in cells]).reshape(-1, 3)
    np.testing.assert_allclose(titles, hyp.attention, atol=1e-3)
    assert driver.find_element(By.ID, "output").text.startswith(task.vocabs[1].decode(hyp.tokens))
    shot(driver, "seq2seq")


def test_classify_and_tag_pages(driver, base):
    driver.get(base + "/run/cls")
    driver.find_element(By.ID, "text").send_keys("the film was great and the story was good")
    driver.find_element(By.ID, "classify").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.prob")) == 2)
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#evolve path.curve")) == 2
    shot(driver, "classify")
    driver.get(base + "/run/tag")
    driver.find_element(By.ID, "text").send_keys("thefilmwasgood")
    driver.find_element(By.ID, "tag").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tags span.tok")) == 14)
    assert {t.text for t in driver.find_elements(By.CSS_SELECTOR, "#tags span.tok small")} <= {"B", "I"}
    shot(driver, "tag")
