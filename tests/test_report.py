"""`snakemake --report report.html` of a real run, opened in headless Chromium (Debian's, installed by
scripts/install-browser.sh): every table and figure is listed under its category, every figure
renders (a decoded PNG of the file's own size), and its caption is shown."""

import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from workflow_helpers import CONNECTED_LANDSCAPE, ROOT, connect_config, run_snakemake

pytestmark = pytest.mark.slow

STUDY_FIGURES = ["auc boxplots", "disconnectivity panel test auc", "disconnectivity panel train auc",
                 "discovery curves", "heat capacity"]
LANDSCAPE_FIGURES = ["disconnectivity test auc", "disconnectivity train auc", "discovery curve"]
CAPTION_WORDS = {  # words of each caption (workflow/report/) that the report must show
    "heat capacity": "harmonic superposition approximation",
    "auc boxplots": "Box plots of the minima's training and testing AUC",
    "disconnectivity train auc": f"Disconnectivity graph of landscape {CONNECTED_LANDSCAPE}",
    "discovery curve": f"Discovery curve of landscape {CONNECTED_LANDSCAPE}",
}


@pytest.fixture(scope="module")
def browser():
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install-browser.sh")], capture_output=True, text=True,
                          timeout=900)
    if done.returncode:
        pytest.fail(f"Chromium could not be installed: {done.stderr.strip()[-1500:]}", pytrace=False)
    chromium, chromedriver = done.stdout.split()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    # the machine's network is closed: no background connections, no first-run pages
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report")
    config = connect_config(rounds=1)
    done = run_snakemake(workdir, config, env={"LFL_DB_URL": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    made = run_snakemake(workdir, config, "--report", str(workdir / "report.html"), env={"LFL_DB_URL": ""})
    assert made.returncode == 0, made.stderr[-3000:]
    return workdir


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def _click_text(driver, text: str):
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//*[normalize-space(text())={text!r}]").click()
    time.sleep(0.3)


def _wait_for(driver, condition, what: str, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"report: {what} not shown in {timeout} s")


def _check_figures(driver, workdir: Path, folder: str, names: list[str], listing: str) -> None:
    """Each figure of the listing (a subcategory, named `listing` in the breadcrumbs) opened, then its caption."""
    from selenium.webdriver.common.by import By

    listed = [cell.text for cell in driver.find_elements(By.XPATH, "//tr/td[1]")]
    assert listed == names
    for name in names:
        stem = name.replace(" ", "_")
        row = driver.find_element(By.XPATH, f"//tr[td[normalize-space(text())={name!r}]]")
        row.find_element(By.XPATH, ".//a[@iconname='eye']").click()

        def rendered():
            for img in driver.find_elements(By.TAG_NAME, "img"):
                if f"filename={stem}.png;" in (img.get_attribute("src") or ""):
                    size = driver.execute_script(
                        "return arguments[0].complete ? [arguments[0].naturalWidth, arguments[0].naturalHeight] : null",
                        img)
                    if size:
                        return tuple(size)
            return None

        size = _wait_for(driver, rendered, f"figure {stem}.png")
        assert size == _png_size(workdir / folder / f"{stem}.png")  # the file itself, decoded by the browser
        if name in CAPTION_WORDS:
            row.find_element(By.XPATH, ".//a[@iconname='information-circle']").click()
            _wait_for(driver, lambda: CAPTION_WORDS[name] in driver.find_element(By.TAG_NAME, "body").text,
                      f"caption of {name}")
            _click_text(driver, listing)  # the caption replaced the listing: back to it


def test_report_shows_every_table_and_figure_with_its_caption(report, browser):
    from selenium.webdriver.common.by import By

    browser.get((report / "report.html").as_uri())
    _wait_for(browser, lambda: "Study tiny" in browser.find_element(By.TAG_NAME, "body").text, "the report's menu")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Studies in this run: tiny." in body  # workflow/report/workflow.rst, its Jinja rendered
    assert "Landscapes" in body and "Study tiny" in body

    _click_text(browser, "Study tiny")
    _click_text(browser, "Figures")
    _check_figures(browser, report, "results/figures/studies/tiny", STUDY_FIGURES, "Figures")

    _click_text(browser, "Results")  # the breadcrumb back to the categories
    _click_text(browser, "Landscapes")
    # one subcategory per landscape; the report skips that level when there is only one, as here
    listing = "Landscapes"
    if browser.find_elements(By.XPATH, f"//*[normalize-space(text())={CONNECTED_LANDSCAPE!r}]"):
        _click_text(browser, CONNECTED_LANDSCAPE)
        listing = CONNECTED_LANDSCAPE
    _check_figures(browser, report, f"results/figures/landscapes/{CONNECTED_LANDSCAPE}", LANDSCAPE_FIGURES, listing)

    _click_text(browser, "Results")
    _click_text(browser, "Study tiny")
    _click_text(browser, "Summary table")
    row = browser.find_element(By.XPATH, "//tr[td[normalize-space(text())='tiny']]")
    row.find_element(By.XPATH, ".//a[@iconname='information-circle']").click()
    _wait_for(browser, lambda: "One row per landscape of study tiny" in browser.find_element(By.TAG_NAME, "body").text,
              "the summary table's caption")
