"""Fixtures of the report tests: plans built once per session, and a headless Chromium driven by Selenium for the
``browser``-marked tests (skipped, with the reason, only where no Chromium/ChromeDriver/Selenium is found)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from report_plans import build_plan  # noqa: E402

import inferrt as trt  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Debian's Chromium and ChromeDriver (apt-get install chromium chromium-driver) and "
                "Selenium (pip install -e '.[dev]'), or point INFERRT_CHROMIUM / INFERRT_CHROMEDRIVER at them")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: loads the HTML report in a headless Chromium (Selenium); skipped "
                                       "only when no browser is found")


@pytest.fixture(scope="session")
def plans(tmp_path_factory):
    """{"residual", "residual_names", "residual_none", "mnist": plan paths}."""
    d = tmp_path_factory.mktemp("report_plans")
    return {"residual": build_plan(d / "residual.plan"),
            "residual_names": build_plan(d / "residual_names.plan",
                                         verbosity=trt.ProfilingVerbosity.LAYER_NAMES_ONLY),
            "residual_none": build_plan(d / "residual_none.plan", verbosity=trt.ProfilingVerbosity.NONE),
            "mnist": build_plan(d / "mnist.plan", "mnist")}


def find_browser() -> tuple[str | None, str | None, str]:
    """(chromium, chromedriver, why not): the binaries the browser tests use, or the reason they cannot run."""
    if importlib.util.find_spec("selenium") is None:
        return None, None, "Selenium is not installed; " + INSTALL_HINT
    chrome = os.environ.get("INFERRT_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("INFERRT_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chrome or not driver:
        return None, None, f"no {'Chromium' if not chrome else 'ChromeDriver'} found; " + INSTALL_HINT
    return chrome, driver, ""


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (1400x1000) under Selenium, with the given ChromeDriver (no driver download)."""
    chrome, driver, why = find_browser()
    if why:
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield d
    finally:
        d.quit()
