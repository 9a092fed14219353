"""A real browser for the tests in this folder: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, and servers (JupyterLab, Voilà, the built book) started on
127.0.0.1 for one test module and stopped after it.

Every test here is marked ``browser``: ``make test`` leaves this folder out, ``make test-browser``
runs it (after ``make book``; ``.ci/run`` runs both). Without Chromium or Selenium, a plain ``pytest``
(which collects every folder under ``tests``) reports each module here as skipped, with the reason and
the command that installs them; asked for by name with ``-m browser`` (as ``make test-browser`` asks),
a missing browser is an error instead, so the browser step never passes without a browser.
Screenshots and measurements go to ``build/browser/``.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path

import pytest
from browsing import OUT

INSTALL = "apt-get install chromium chromium-driver (as root, after apt-get update), then pip install -e '.[browser]'"
CHROMIUM = os.environ.get("CLOTHLIB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLOTHLIB_CHROMEDRIVER", "/usr/bin/chromedriver")


@functools.cache
def missing_browser() -> str | None:
    """Why the browser tests cannot run here (Selenium, Chromium or its driver absent), or None."""
    try:
        import selenium  # noqa: F401  (the test modules import it)
    except ImportError:
        return f"the browser tests need Selenium: {INSTALL}"
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        return f"the browser tests need {', '.join(missing)}: {INSTALL}"
    return None


def _asked_for(config: pytest.Config) -> bool:
    """``-m browser``: the run asked for the browser tests themselves (``make test-browser``)."""
    return re.fullmatch(r"\s*browser\s*", config.getoption("markexpr") or "") is not None


class _Unavailable(pytest.Module):
    """A test module here when the browser is missing: skipped with the reason, never imported (its
    ``import selenium`` would abort the whole session at collection)."""

    def collect(self):
        pytest.skip(missing_browser(), allow_module_level=True)


def pytest_pycollect_makemodule(module_path: Path, parent):
    why = missing_browser()
    if why is None:
        return None
    if _asked_for(parent.config):
        raise pytest.UsageError(why)
    return _Unavailable.from_parent(parent, path=module_path)


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
