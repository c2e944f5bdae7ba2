"""Real-browser test of chart → verbatims (issue 16): headless Chromium clicks a bar of 経営サマリー's
weekly chart and a point of the trend chart, and sees the customer's words of that week below;
screenshots go to tests/artifacts/ (or $KAKEHASHI_SCREENSHOTS: docs/screenshots/ for the README).

AppTest cannot click inside a Plotly chart; this does."""
from __future__ import annotations

import re
import shutil

import pytest

from test_browser import ARTIFACTS, _open, _serve   # one way to start the app and open a page

pytestmark = pytest.mark.browser
AS_OF = "2025-07-23"   # inside the sample's planted spike


@pytest.fixture(scope="module")
def server(tmp_path_factory, sample_store):
    store = tmp_path_factory.mktemp("browser-insight") / "store.duckdb"
    shutil.copy(sample_store, store)
    yield from _serve(store)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from test_browser import CHROMIUM

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield chromium
        chromium.close()


def _click_last_bar(page, chart) -> None:
    # The first trace is 今期 (whole weeks): its last bar is the latest whole week of the period.
    bars = chart.locator(".barlayer .trace").first.locator(".point path")
    bars.first.wait_for(timeout=60_000)
    bars.last.click(force=True)


def test_clicking_a_weekly_bar_shows_the_customers_words(server, browser):
    page = _open(browser, f"{server}/?as_of={AS_OF}")
    chart = page.locator("[data-testid='stPlotlyChart']").last
    page.get_by_text("週別の受付件数").first.wait_for(timeout=180_000)   # the weekly chart is the page's last
    chart.scroll_into_view_if_needed()
    _click_last_bar(page, chart)
    page.get_by_text("からの週のお客様の声").first.wait_for(timeout=120_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    # Each verbatim card carries its case ID, date and channel under the customer's words.
    voices = page.get_by_text(re.compile(r"^C-\d{4}-\d{6}・\d{4}/\d{2}/\d{2}"))
    voices.first.wait_for(timeout=60_000)
    assert voices.count() >= 1
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.get_by_text("からの週のお客様の声").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "home-verbatims.png"), full_page=False)
    page.close()


def test_clicking_a_trend_point_shows_the_customers_words(server, browser):
    page = _open(browser, f"{server}/trends?as_of={AS_OF}")
    chart = page.locator("[data-testid='stPlotlyChart']").first
    points = chart.locator(".scatterlayer .trace .points path")
    points.first.wait_for(timeout=30_000)
    points.nth(points.count() // 2).click(force=True)
    page.get_by_text("の週のお客様の声").first.wait_for(timeout=120_000)
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "trends-verbatims.png"), full_page=True)
    page.close()
