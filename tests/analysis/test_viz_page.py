"""The page, driven in headless Chromium: coloured characters, hover predictions, unit switching, screenshot.

Without a browser this test fails (it never skips): install one with
``apt-get install chromium chromium-driver`` (the project's .ci/run does so).
"""

import base64
import json
import re
import shutil

import numpy as np
import pytest

from unroll.analysis import activations as A
from unroll.analysis import features as F
from unroll.analysis import page as P
from unroll.data.vocab import CharVocab
from unroll.models import LanguageModel

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 3) + "caf\u00e9 \u2603\n"
INSTALL = "headless Chromium is needed: apt-get install chromium chromium-driver (and pip install selenium)"


def build(tmp_path):
    vocab = CharVocab.from_text(TEXT.replace("\u00e9", "").replace("\u2603", ""))
    model = LanguageModel(len(vocab), 8, 2, "lstm", seed=3, dtype=np.float64)
    acts = A.collect(model, vocab, TEXT)
    found = F.find(acts, regex="[A-Z]")
    rows = F.best_units(found)
    path = tmp_path / "page.html"
    P.write_page(path, acts, vocab, found, ("c", 1, 2), "test page", rows)
    return path, acts, vocab


def page_json(path):
    text = path.read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S).group(1)
    return text, json.loads(blob)


def test_page_is_self_contained_and_holds_the_quantised_activations(tmp_path):
    path, acts, vocab = build(tmp_path)
    text, data = page_json(path)
    assert not re.search(r'(src|href)=["\']?(https?:)?//', text)                  # nothing fetched
    q = np.frombuffer(base64.b64decode(data["states"]["c"]["q"]), np.uint8).reshape(2, 8, -1)
    np.testing.assert_array_equal(q, A.quantise(acts.cell).transpose(0, 2, 1))
    assert data["text"] == TEXT and data["known"].count("0") == 2
    assert data["vocab"] == list(vocab.tokens) and len(data["top_ids"]) == 5 * acts.ids.size


def driver_or_fail():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(INSTALL)
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    chromedriver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if shutil.os.path.exists(p)), None)
    if browser is None or chromedriver is None:
        pytest.fail(INSTALL)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def colours(driver):
    return driver.execute_script("return [...document.querySelectorAll('#text span.ch')]"
                                 ".map(s => s.style.backgroundColor)")


def test_page_in_headless_chromium(tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    path, acts, vocab = build(tmp_path)
    driver = driver_or_fail()
    try:
        driver.get(path.as_uri())
        before = colours(driver)
        assert len(before) == acts.ids.size == len(TEXT) - 2 and all(c.startswith("rgb(") for c in before)
        oov = driver.find_elements(By.CSS_SELECTOR, "#text span.oov")
        assert [s.text for s in oov] == ["\u00e9", "\u2603"]
        # hover the 'B' of "Before": the tip lists the model's five most probable next characters
        i = TEXT.index("Before")
        span = driver.find_element(By.CSS_SELECTOR, f'#text span[data-i="{i}"]')
        ActionChains(driver).move_to_element(span).perform()
        rows = driver.find_elements(By.CSS_SELECTOR, "#tip tr.pred")
        assert len(rows) == 5
        shown = [(r.find_element(By.CSS_SELECTOR, "td.c").text, float(r.find_element(By.CSS_SELECTOR, "td.p").text))
                 for r in rows]
        t = i                                                    # every character before "Before" is known
        expect = [(vocab.tokens[j], p) for j, p in zip(acts.top_ids[t], acts.top_probs[t])]
        for (c, p), (ec, ep) in zip(shown, expect):
            assert c == {" ": "\u2423", "\n": "\\n"}.get(ec, ec) and p == pytest.approx(ep, abs=5e-5)
        # the shown value of the hovered unit is the quantised tanh(c) of layer 1, unit 2
        v = float(span.get_attribute("data-v"))
        assert v == pytest.approx(A.dequantise(A.quantise(acts.cell[1, t, 2])), abs=1e-3)
        driver.save_screenshot(str(tmp_path / "page.png"))
        Select(driver.find_element(By.ID, "unit")).select_by_value(str(0 * 8 + 5))    # layer 0, unit 5
        after = colours(driver)
        assert len(after) == len(before) and sum(a != b for a, b in zip(after, before)) > len(before) // 2
        assert "layer 0, unit 5" in driver.find_element(By.ID, "info").text
        # three units each for line_position, word_start and regex (quotes, brackets, indentation are constant here)
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.find tr.row")) == 3 * 3
        driver.save_screenshot(str(tmp_path / "page_unit.png"))
        assert (tmp_path / "page.png").stat().st_size > 0
    finally:
        driver.quit()
