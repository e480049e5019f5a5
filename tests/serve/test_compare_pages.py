"""Issue 32's views in headless Chromium (as test_pages.py starts it): compare's settings table (only the
differences, or all), grouping by a setting (one mean curve and band a value), the address keeping the
choices; parallel coordinates brushing the runs table; a constant learning rate drawn around its value;
a vector run's pasted sequence; a longterm run's result; a forecast's points and interval bands.
With ``UNROLL_SCREENSHOTS=DIR`` it saves the pictures of docs/serve.md into DIR."""

import json

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.serve.test_pages import rows, serving, shot, wait


WINDOW = (1250, 1100)                    # conftest's driver: a taller window for the compare pictures


@pytest.fixture(scope="module")
def base(runs):
    with serving(runs) as url:
        yield url


@pytest.fixture(scope="module")
def other(kinds):
    with serving(kinds) as url:
        yield url


def shown(driver, selector):
    return driver.execute_script(f"return [...document.querySelectorAll('{selector}')].map(r => r.dataset.key)")


def test_compare_shows_the_settings_that_differ_groups_and_keeps_it_in_the_address(driver, base, runs):
    driver.get(base + "/compare?runs=lm-a,lm-b,group/gru")
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "lm-a,lm-b,group/gru")
    wait(driver, lambda d: len(shown(d, "#settings tr.setting")) > 0)
    differ = shown(driver, "#settings tr.setting")
    assert {"network.cell", "network.hidden_size", "network.num_layers", "train.lr", "train.max_steps"} <= set(differ)
    assert "train.batch_size" not in differ
    cells = driver.execute_script("return [...document.querySelectorAll(\"#settings tr[data-key='network.hidden_size'] td\")].map(c => c.textContent)")
    assert cells == ["network.hidden_size", "8", "12", "6"]
    driver.find_element(By.ID, "allsettings").click()
    wait(driver, lambda d: len(shown(d, "#settings tr.setting")) > len(differ))
    assert "train.batch_size" in shown(driver, "#settings tr.setting")
    config = json.loads((runs / "lm-a" / "config.json").read_text())
    assert len(shown(driver, "#settings tr.setting")) == 1 + sum(len(config[k]) for k in ("train", "network", "corpus", "bptt", "ensemble"))
    driver.find_element(By.ID, "allsettings").click()
    wait(driver, lambda d: shown(d, "#settings tr.setting") == differ)
    assert "valid_loss" in shown(driver, "#metrics tr.metric")
    count = lambda d, cls: len(d.find_elements(By.CSS_SELECTOR, f"svg#loss path.curve.{cls}"))   # noqa: E731
    assert count(driver, "valid") == 3
    driver.execute_script("const g = document.getElementById('group'); g.value = 'network.cell'; g.dispatchEvent(new Event('change'))")
    wait(driver, lambda d: count(d, "valid.group") == 2 and count(d, "train.group") == 2)   # lstm (2 runs), gru
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#loss path.band")) == 2           # lstm's train and valid
    assert "group=network.cell" in driver.current_url
    driver.find_element(By.ID, "logy").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=x][value=tokens]").click()
    wait(driver, lambda d: "x=tokens" in d.current_url and "logy=1" in d.current_url)
    shot(driver, "compare-group")
    driver.get(driver.current_url)                                                        # the address restores it
    wait(driver, lambda d: count(d, "valid.group") == 2)
    assert driver.find_element(By.ID, "logy").is_selected()
    assert driver.find_element(By.CSS_SELECTOR, "input[name=x][value=tokens]").is_selected()


def test_brushing_a_parallel_axis_filters_the_runs_table(driver, base):
    driver.get(base + "/")
    wait(driver, lambda d: len(rows(d)) == 6 and d.find_elements(By.CSS_SELECTOR, "#pc path.line"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#pc path.line")) == 6
    hit = driver.find_element(By.CSS_SELECTOR, "#pc g.axis[data-key='network.hidden_size'] rect.hit")
    h = hit.size["height"]
    # hidden sizes 8, 12, 6, 12, 8, 8 (lm-a, lm-b, gru, s2s, cls, tag): the top quarter holds 12 only
    ActionChains(driver).move_to_element_with_offset(hit, 0, -h // 2 + 2).click_and_hold().move_by_offset(0, h // 4).release().perform()
    wait(driver, lambda d: sorted(rows(d)) == ["lm-b", "s2s"])
    assert len(driver.find_elements(By.CSS_SELECTOR, "#pc path.line.out")) == 4
    shot(driver, "parallel")
    ActionChains(driver).double_click(hit).perform()
    wait(driver, lambda d: len(rows(d)) == 6)


def test_a_constant_learning_rate_is_drawn_around_its_value(driver, base):
    driver.get(base + "/run/lm-a")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "svg#lr path.curve"))
    ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg#lr g.axes text")]
    assert "0.002" in ticks and "0" not in ticks
    wait(driver, lambda d: d.find_element(By.ID, "summary").get_attribute("data-loaded") == "1")
    assert driver.find_element(By.CSS_SELECTOR, "#summary tr.chosen td").text == "valid_loss"


def test_the_lm_page_says_what_fills_its_panels(driver, base):
    driver.get(base + "/run/lm-b")
    assert driver.find_element(By.CSS_SELECTOR, "#celltextview .hint").text.startswith("Type or paste text in the box above")


def test_a_vector_run_takes_a_pasted_sequence_and_a_longterm_run_shows_its_result(driver, other):
    driver.get(other + "/run/vec")
    assert not driver.find_element(By.ID, "text").is_displayed() and driver.find_element(By.ID, "rows").is_displayed()
    driver.find_element(By.ID, "rows").send_keys("f0,f1,f2\n10,11,12\n12,9,10\n8,10,11\n")
    driver.find_element(By.ID, "classify").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.prob")) == 2)
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#evolve path.curve")) == 2
    assert driver.find_element(By.CSS_SELECTOR, "#summary tr.chosen td").text == "valid_accuracy"
    driver.find_element(By.ID, "uinputs").send_keys("10,11,12\n12,9,10\n\n8,10,11\n9,12,13\n10,10,10\n")
    driver.find_element(By.ID, "urows").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#urowsbox tr.inputrow")) == 2)
    assert [len(r.find_elements(By.CSS_SELECTOR, "td.cell")) for r in driver.find_elements(By.CSS_SELECTOR, "#urowsbox tr.inputrow")] == [2, 3]
    shot(driver, "vectors")
    driver.get(other + "/run/lt")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "svg#ltcurve path.curve.baseline"))
    assert driver.find_elements(By.CSS_SELECTOR, "svg#ltcurve path.curve.valid")
    wait(driver, lambda d: "adding" in d.find_element(By.ID, "result").text)    # run.js fills it after 2 fetches
    assert "adding" in driver.find_element(By.ID, "resulttable").text
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "svg#reach path.curve.reach"))
    assert driver.find_elements(By.CSS_SELECTOR, "svg#reach path.curve.reach-c")      # an LSTM: the cell state too
    driver.execute_script("document.getElementById('ltcurve').scrollIntoView()")
    shot(driver, "longterm")
    driver.get(other + "/run/gen")
    wait(driver, lambda d: d.find_element(By.ID, "condition").get_attribute("value"))
    driver.find_element(By.ID, "generate").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#generated pre.sample")) == 3)
    shot(driver, "generate")
    driver.get(other + "/")
    wait(driver, lambda d: len(rows(d)) == 6)
    states = driver.execute_script("return Object.fromEntries([...document.querySelectorAll('#runs tbody tr')].map(r => [r.dataset.name, r.lastChild.textContent]))")
    assert states["imported"] == "imported" and states["lt"] == "finished"


def test_a_forecast_page_draws_the_forecast_and_its_interval_bands(driver, other):
    driver.get(other + "/run/fc")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#panels svg path.curve.forecast"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#panels svg circle.dot")) == 4           # the horizon
    assert len(driver.find_elements(By.CSS_SELECTOR, "#panels svg path.band")) == 2             # 80% and 95%
    assert driver.find_elements(By.CSS_SELECTOR, "#panels svg path.curve.baseline")             # seasonal naive
    wait(driver, lambda d: d.find_element(By.ID, "backtest").get_attribute("data-origin") == "44")
    driver.execute_script("const o = document.getElementById('origin'); o.value = 20; o.dispatchEvent(new Event('input'))")
    wait(driver, lambda d: d.find_element(By.ID, "backtest").get_attribute("data-origin") == "20")
    assert driver.find_element(By.ID, "originv").text == "origin 20 (2001-09)"
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#backtest path.band")) == 2
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#backtest path.curve.actual")) == 1
    shot(driver, "forecast")


def test_two_texts_in_the_cell_viewer_give_two_rows_on_one_colour_scale(driver, base, runs):
    from tests.serve.conftest import load
    from unroll.analysis import activations
    task, model = load(runs / "lm-a")
    texts = ["First Citizen:", "def f(x, y):"]
    driver.get(base + "/run/lm-a")
    driver.find_element(By.ID, "groupa").send_keys("\n".join(texts))
    driver.find_element(By.ID, "runit").clear()
    driver.find_element(By.ID, "runit").send_keys("11")                                  # layer 1, unit 3
    driver.find_element(By.ID, "showrows").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rowsbox tr.inputrow")) == 2)
    cells = [r.find_elements(By.CSS_SELECTOR, "td.cell") for r in driver.find_elements(By.CSS_SELECTOR, "#rowsbox tr.inputrow")]
    assert [len(row) for row in cells] == [len(t) for t in texts]
    values = [activations.collect(model, task.vocab, t).cell[1, :, 3] for t in texts]
    scale = max(np.abs(v).max() for v in values)
    for row, v in zip(cells, values):
        assert [float(c.get_attribute("title")) for c in row] == pytest.approx(v, abs=5e-4)
        colours = [c.value_of_css_property("background-color") for c in row]
        assert colours == [expected_colour(x / scale) for x in v]
    driver.find_element(By.ID, "groupb").send_keys("    return (x + y) * 2\nAll:")
    driver.find_element(By.ID, "findunits").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#foundbox tr.found")) == 16)
    shot(driver, "inputs")


def expected_colour(v):
    a, c = min(1.0, abs(v)), ((180, 4, 38) if v < 0 else (59, 76, 192))
    return "rgba(" + ", ".join(str(int(np.floor(255 + (x - 255) * a + 0.5))) for x in c) + ", 1)"
