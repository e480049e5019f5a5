"""Screenshot an ``unroll visualize`` page in headless Chromium (for docs/visualisation.md).

    python benchmarks/screenshot_page.py PAGE.html OUT.png [--hover N] [--height 900]

--hover N moves the mouse over character N first, so the top-5 tip shows.
"""

import argparse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("page")
    p.add_argument("out")
    p.add_argument("--hover", type=int, default=None)
    p.add_argument("--width", type=int, default=1300)
    p.add_argument("--height", type=int, default=900)
    args = p.parse_args(argv)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={args.width},{args.height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(Path(args.page).resolve().as_uri())
        if args.hover is not None:
            span = driver.find_element(By.CSS_SELECTOR, f'#text span[data-i="{args.hover}"]')
            ActionChains(driver).move_to_element(span).perform()
        driver.save_screenshot(args.out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
