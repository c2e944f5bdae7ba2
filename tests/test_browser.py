"""Real-browser smoke test: headless Chromium (Debian's, installed by scripts/test.sh) opens every
page of the navigation on the sample data and on an empty store, checks that nothing failed,
uploads a real file, and keeps screenshots in tests/artifacts/ (or $KAKEHASHI_SCREENSHOTS:
scripts/screenshots.sh points it at docs/screenshots/ for the README).

AppTest does not render charts or the sidebar; this does.
"""
from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.reports.shared import import_history
from pipelines.store.settings import ReadLimits
from ui.japanese import NO_RESULTS, UPLOAD_BUTTON, UPLOAD_DROP, upload_instructions

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("KAKEHASHI_SCREENSHOTS") or ROOT / "tests" / "artifacts")
EXPORTS = ROOT / "tests" / "data" / "exports"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# "Now" inside the sample's planted spike, so the screenshots show alerts (see data/sample/manifest.json).
AS_OF = "2025-07-23"


def _navigation_slugs() -> list[str]:
    """url_path of every st.Page in app.py, a deep link first (the server's first request is not "/")."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    slugs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            keywords = {kw.arg: kw.value.value for kw in node.keywords if isinstance(kw.value, ast.Constant)}
            # The default page lives at "/" (Streamlit ignores its url_path).
            slugs.append("" if keywords.get("default") else keywords["url_path"])
    return sorted(slugs, key=lambda slug: slug == "")


PAGES = _navigation_slugs()

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(store: Path):
    """Start the dashboard on `store`; yields its URL and stops it afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the tests through scripts/test.sh, which installs it")
    port = _free_port()
    env = {**os.environ, "KAKEHASHI_DB": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, sample_store):
    store = tmp_path_factory.mktemp("browser") / "store.duckdb"
    shutil.copy(sample_store, store)      # the upload test writes to it
    load_file(EXPORTS / "mixed_bad_rows.csv", store, LoadOptions(workers=1))   # rejected rows in the history
    for url in _serve(store):
        yield url, store


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    yield from _serve(tmp_path_factory.mktemp("browser-empty") / "empty.duckdb")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=60_000)
    # Wait until the script run is over (the running indicator disappears).
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    # Data grids and charts draw after the script run; give them a moment before the screenshot.
    page.wait_for_timeout(2500)
    return page


@pytest.mark.parametrize("slug", PAGES)
def test_every_page_renders_without_error(server, browser, slug):
    url, _store = server
    page = _open(browser, f"{url}/{slug}?as_of={AS_OF}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{slug or 'home'}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("h1").first.inner_text().strip()
    # The app frame (st.navigation) is in charge, even on a deep link as the server's first request.
    assert "取り込み履歴" in page.locator("[data-testid='stSidebarNav']").inner_text()
    page.close()


@pytest.mark.parametrize("slug", PAGES)
def test_every_page_has_an_empty_state(empty_server, browser, slug):
    page = _open(browser, f"{empty_server}/{slug}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"empty-{slug or 'home'}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Page not found").count() == 0
    if slug not in ("upload", "history", "admin"):      # the analysis pages point to the upload page
        assert page.get_by_text("まだケースがありません").count() >= 1
    page.close()


# Streamlit's fixed English in the uploader and select boxes (1.67 and earlier versions' words).
ENGLISH = ("Upload", "per file", "Drag and drop", "Browse files", "Choose an option", "No results", "not allowed")


def _after(page, selector: str) -> str:
    """The text CSS draws with ::after on the first element matching `selector` ("" when none)."""
    content = page.locator(selector).first.evaluate("e => getComputedStyle(e, '::after').content")
    return "" if content in ("none", "normal") else content.strip('"')


def _assert_no_english(page, selector: str) -> None:
    # innerText is the text a user sees: it leaves out what display: none hides.
    shown = page.locator(selector).first.inner_text()
    assert not [word for word in ENGLISH if word in shown], shown


def test_the_uploader_speaks_japanese(server, browser):
    url, _store = server
    page = _open(browser, f"{url}/upload")
    uploader = "[data-testid='stFileUploader']"
    _assert_no_english(page, uploader)
    assert not page.get_by_text("Upload", exact=True).is_visible()
    button = "[data-testid='stFileUploaderDropzone'] [data-testid='stBaseButton-secondary'] [data-testid='stMarkdownContainer']"
    assert _after(page, button) == UPLOAD_BUTTON and page.locator(button).is_visible()
    instructions = "[data-testid='stFileUploaderDropzoneInstructions'] > div"
    # .streamlit/config.toml's maxUploadSize, which equals the file limit (tests/test_limits.py checks)
    assert _after(page, instructions) == upload_instructions(ReadLimits().max_file_mb)
    assert page.locator(instructions).bounding_box()["width"] > 200
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(uploader).screenshot(path=str(ARTIFACTS / "upload-dropzone.png"))

    # While a file is dragged over the drop zone.
    dragged = page.evaluate_handle(
        "() => { const d = new DataTransfer(); d.items.add(new File(['a,b'], 'x.csv', {type: 'text/csv'})); return d; }")
    page.dispatch_event("[data-testid='stFileUploaderDropzone']", "dragenter", {"dataTransfer": dragged})
    overlay = "[data-testid='stFileUploaderDropzone'] > div:has(> span:only-child)"
    page.locator(overlay).wait_for(timeout=5_000)
    _assert_no_english(page, uploader)
    assert _after(page, overlay) == UPLOAD_DROP
    page.locator(uploader).screenshot(path=str(ARTIFACTS / "upload-drag.png"))
    page.dispatch_event("[data-testid='stFileUploaderDropzone']", "dragleave", {"dataTransfer": dragged})
    page.close()


def test_upload_through_the_real_file_input(server, browser):
    url, _store = server
    page = _open(browser, f"{url}/upload")
    page.locator("input[type='file']").set_input_files(str(EXPORTS / "zendesk_en_utf8.csv"))
    page.get_by_text("3. 検証").wait_for(timeout=30_000)
    _assert_no_english(page, "[data-testid='stFileUploader']")
    assert page.locator("input[placeholder='Choose an option']").count() == 0
    # A select box filtered down to nothing says so in Japanese.
    box = page.locator("[data-testid='stSelectbox'] input").nth(1)
    box.click()
    box.fill("該当しない列名")
    listbox = "[data-testid='stSelectboxVirtualDropdown'] [role='listbox']"
    page.locator(listbox).wait_for(timeout=5_000)
    _assert_no_english(page, listbox)
    assert _after(page, listbox) == NO_RESULTS
    page.screenshot(path=str(ARTIFACTS / "upload-no-results.png"))
    box.press("Escape")
    page.get_by_role("button", name="取り込む").click()
    page.get_by_text("追加 10").wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "upload-done.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()


def test_a_file_refused_in_the_browser_reaches_the_history(server, browser, tmp_path):
    url, store = server
    page = _open(browser, f"{url}/upload")
    refused = tmp_path / "見積書.pdf"
    refused.write_bytes(b"%PDF-1.4 a quote, not a case list")
    page.locator("input[type='file']").set_input_files(str(refused))
    page.get_by_text("表のファイルではなくPDFです").wait_for(timeout=30_000)
    page.get_by_text("受付できませんでした。理由とともに取り込み履歴に記録しました").wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "upload-refused.png"), full_page=True)
    page.close()
    # The history's grid draws on a canvas: read what it shows from the store it reads.
    history = import_history(store)
    assert list(history.loc[history["ファイル名"] == "見積書.pdf", "状態"]) == ["受付不可"]
    page = _open(browser, f"{url}/history")
    page.screenshot(path=str(ARTIFACTS / "history-refused.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()


def test_the_app_makes_no_request_beyond_this_machine(server, browser):
    """Every page, with every request the browser makes recorded: none leaves 127.0.0.1 (the tab's
    icon is shipped in ui/static, Material icons come from Streamlit's own bundled font)."""
    url, _store = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    for slug in PAGES:
        page.goto(f"{url}/{slug}?as_of={AS_OF}", wait_until="domcontentloaded")
        page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=60_000)
        page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
        page.wait_for_timeout(1500)
    context.close()
    assert any(request.startswith(f"{url}/") for request in requests)
    foreign = sorted({request for request in requests if not request.startswith(("http://127.0.0.1:", "data:", "blob:"))})
    assert not foreign, f"requests to other hosts: {foreign}"
