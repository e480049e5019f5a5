"""A tuning study's page in headless Chromium (issue 32, item 5), against a real server over conftest's
studies: the runs page lists the studies, the study page shows the trials table, the best trial's settings
and command line, and one scatter per searched setting with one mark per finished trial (pruned ones as
crosses; a log axis for a :log range, one column per choice). With ``UNROLL_SCREENSHOTS=DIR`` it saves
docs/serve.md's picture of the page."""

import json
import math

import pytest
from selenium.webdriver.common.by import By

from tests.serve.conftest import BUILT
from tests.serve.test_pages import serving, shot, wait

pytest.importorskip("optuna")
WINDOW = (1250, 1300)                    # conftest's driver: the whole study page in the picture


@pytest.fixture(scope="module")
def base(studies):
    with serving(studies) as url:
        yield url


def texts(driver, selector):
    return driver.execute_script(f"return [...document.querySelectorAll(\"{selector}\")].map(e => e.textContent)")


def test_the_runs_page_lists_the_studies(driver, base):
    driver.get(base + "/")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#studies tr.study")) == 2)
    assert driver.find_element(By.ID, "studybox").is_displayed()
    assert [r.get_attribute("data-name") for r in driver.find_elements(By.CSS_SELECTOR, "#studies tr.study")] == \
        ["group/built", "tuned"]
    assert texts(driver, "#studies tr.study[data-name='group/built'] td")[:5] == \
        ["group/built", "lm", "valid_loss \u2193", "3 complete, 1 pruned, 1 fail, 1 running", "2.2500 (trial 2)"]
    driver.find_element(By.LINK_TEXT, "group/built").click()
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "h2").text == "study group/built")


def test_a_study_page_shows_trials_best_and_the_metric_against_each_setting(driver, base, studies):
    driver.get(base + "/study/group/built")
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "6")
    head = texts(driver, "#trials tr:first-child th")
    assert head == ["trial", "state", "cell", "dropout", "hidden", "valid_loss", "steps", "seconds", "run", ""]
    rows = driver.execute_script("return [...document.querySelectorAll('#trials tr.trial')]"
                                 ".map(r => [...r.children].slice(0, 8).map(c => c.textContent))")
    assert rows == [[str(k), state.lower(), p["cell"], f"{p['dropout']:g}", str(p["hidden"]),
                     "" if v is None else f"{v:g}", str(a.get("step", "")), f"{a['elapsed']:g}" if "elapsed" in a else ""]
                    for k, (p, v, state, a) in enumerate(BUILT[:5])] + [["5", "running", "lstm", "0.05", "12", "", "4", rows[5][7]]]
    elapsed = json.loads((studies / "tuned/trials/0001/metrics.jsonl").read_text().splitlines()[-1])["elapsed"]
    assert float(rows[5][7]) == pytest.approx(elapsed, rel=1e-4)            # the running trial's run, read now
    assert texts(driver, "#trials tr.trial td:nth-child(9)") == ["group/built/trials/0000", "", "", "", "",
                                                                 "group/built/trials/0005"]
    assert texts(driver, "#trials tr.chosen td:first-child") == ["2"]                       # the best, in bold
    assert driver.find_element(By.ID, "bestvalue").text == "2.25"
    assert dict(zip(texts(driver, "#bestsettings td:first-child"), texts(driver, "#bestsettings td:last-child"))) == \
        {"cell": "gru", "dropout": "0.2", "hidden": "16"}
    assert driver.find_element(By.ID, "command").text == ("unroll train --task lm --layers 1 --hidden 16 --dropout 0.2 "
                                                          "--cell gru --max-time 5 --out runs/tune-trial-2")
    plots = driver.find_elements(By.CSS_SELECTOR, "#scatters svg.scatter")
    assert [p.get_attribute("data-param") for p in plots] == ["cell", "dropout", "hidden"]
    for name in ("cell", "dropout", "hidden"):               # 3 complete, 1 pruned; the failed trial has no value
        marks = f"svg[data-param='{name}'] .point"
        assert len(driver.find_elements(By.CSS_SELECTOR, marks + ".complete")) == 3
        assert len(driver.find_elements(By.CSS_SELECTOR, marks + ".pruned")) == 1
        assert driver.find_element(By.CSS_SELECTOR, marks + ".pruned").tag_name == "path"           # a cross
        assert len(driver.find_elements(By.CSS_SELECTOR, f"svg[data-param='{name}'] circle.ring")) == 1
    x = {float(c.get_attribute("cx")) for c in driver.find_elements(By.CSS_SELECTOR, "svg[data-param='hidden'] .point.complete")}
    x8, x16, x64 = sorted(x)                                 # hidden 8, 16, 64 on a log axis: 16 -> 64 is twice 8 -> 16
    assert x64 - x16 == pytest.approx(2 * (x16 - x8), abs=0.2)
    assert {"5", "10", "20", "50"} <= set(texts(driver, "svg[data-param='hidden'] .axes text"))
    y = {t.get_attribute("textContent"): float(t.find_element(By.XPATH, "..").get_attribute("cy"))
         for t in driver.find_elements(By.CSS_SELECTOR, "svg[data-param='dropout'] circle.point title")}
    assert sorted(y, key=y.get)[0].endswith("valid_loss 2.75") and sorted(y, key=y.get)[-1].endswith("valid_loss 2.25")
    cells = texts(driver, "svg[data-param='cell'] .axes text")
    assert cells[:2] == ["lstm", "gru"]                      # one column per choice, in the search's order
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#history circle.dot")) == 4
    shot(driver, "study")


def test_a_real_study_page_links_every_trial(driver, base, studies):
    driver.get(base + "/study/tuned")
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "3")
    assert texts(driver, "#trials tr.trial td:nth-child(2)") == ["complete"] * 3
    for name in ("cell", "hidden", "lr"):
        assert len(driver.find_elements(By.CSS_SELECTOR, f"svg[data-param='{name}'] .point.complete")) == 3
    values = [float(v) for v in texts(driver, "#trials tr.trial td:nth-child(6)")]
    assert math.isclose(float(driver.find_element(By.ID, "bestvalue").text), min(values), rel_tol=1e-4)
    driver.find_element(By.LINK_TEXT, "tuned/trials/0001").click()
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "h2").text == "tuned/trials/0001")
