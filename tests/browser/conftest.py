"""A real browser for the tests in this folder: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, and servers (JupyterLab, Voilà, the built book) started on
127.0.0.1 for one test module and stopped after it.

Every test here is marked ``browser``: ``make test`` leaves this folder out, ``make test-browser``
runs it (after ``make book``; ``.ci/run`` runs both). Without Chromium or Selenium they fail
with the command that installs them, never silently skip. Screenshots and measurements go to ``build/browser/``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browsing import OUT

INSTALL = "apt-get install chromium chromium-driver (as root, after apt-get update), then pip install -e '.[browser]'"
try:
    import selenium  # noqa: F401  (the test modules import it; say here how to get it)
except ImportError as err:
    raise ImportError(f"the browser tests need Selenium: {INSTALL}") from err

CHROMIUM = os.environ.get("CLOTHLIB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLOTHLIB_CHROMEDRIVER", "/usr/bin/chromedriver")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def out_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, 1400 x 1000, driven by the chromedriver of the same Debian release (no
    download: Selenium Manager is never asked, the driver's path is given)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: {INSTALL}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
