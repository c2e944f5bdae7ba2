"""Sign-in in a real browser against a real OpenID Connect provider, both on 127.0.0.1.

The provider is the `oidc-provider` package from the npm registry, run by Node (tests/oidc/provider.js;
scripts/test.sh installs it with `npm ci`), with test accounts whose ID tokens carry a `groups` claim.
The dashboard runs with an [auth] section in a secrets file of the test's own and a roles file mapping
those groups. Checked: sign-in and the menu of the user's roles, sign-out, a user the provider knows
but Kakehashi does not (refused in Japanese), a session idle past the limit (signed out by the app),
that every request stays on 127.0.0.1, and the audit trail of all of it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.store import audit
from tests.test_browser import ARTIFACTS, CHROMIUM, ROOT, _free_port

pytestmark = pytest.mark.browser

OIDC_DIR = ROOT / "tests" / "oidc"
PASSWORD = "kakehashi-test"
ROLES = """groups_claim = "groups"

[groups]
"kk-executives" = ["経営"]
"kk-leads" = ["相談室長"]
"kk-analysts" = ["分析担当"]
"kk-admins" = ["管理者"]
"""
SECRETS = """[auth]
redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"
cookie_secret = "kakehashi-browser-test-cookie-secret-0123456789"
client_id = "kakehashi"
client_secret = "kakehashi-test-secret"
server_metadata_url = "http://127.0.0.1:{idp_port}/.well-known/openid-configuration"
# Streamlit asks for prompt=select_account by default (Google, Entra ID); oidc-provider knows login and consent.
client_kwargs = {{ prompt = "consent" }}
"""


def _wait_for(url: str, proc: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    output = proc.stdout.read().decode(errors="replace")[-3000:] if proc.stdout else ""
    pytest.fail(f"{what} did not start: {output}")


@pytest.fixture(scope="module")
def ports():
    return {"idp": _free_port(), "app": _free_port(), "idle_app": _free_port()}


@pytest.fixture(scope="module")
def provider(ports):
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        pytest.fail("the test identity provider is not installed: run the tests through scripts/test.sh "
                    "(it runs `npm ci` in tests/oidc)")
    callbacks = ",".join(f"http://127.0.0.1:{ports[name]}/oauth2callback" for name in ("app", "idle_app"))
    proc = subprocess.Popen([node, str(OIDC_DIR / "provider.js")], cwd=OIDC_DIR,
                            env={**os.environ, "PORT": str(ports["idp"]), "REDIRECT_URIS": callbacks},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for(f"http://127.0.0.1:{ports['idp']}/.well-known/openid-configuration", proc, "the OIDC provider")
    yield f"http://127.0.0.1:{ports['idp']}"
    proc.terminate()
    proc.wait(timeout=10)


def _serve_signed_in(folder: Path, sample_store: Path, ports: dict, app: str, idle_seconds: int):
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "store.duckdb"
    shutil.copy(sample_store, store)
    (folder / "roles.toml").write_text(ROLES, encoding="utf-8")
    secrets = folder / "secrets.toml"
    secrets.write_text(SECRETS.format(app_port=ports[app], idp_port=ports["idp"]), encoding="utf-8")
    env = {**os.environ, "KAKEHASHI_DB": str(store), "KAKEHASHI_ROLES": str(folder / "roles.toml"),
           "KAKEHASHI_IDLE_TIMEOUT": str(idle_seconds)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                             "--server.port", str(ports[app]), "--server.address", "127.0.0.1",
                             "--server.headless", "true", "--secrets.files", str(secrets)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{ports[app]}"
    _wait_for(f"{url}/_stcore/health", proc, "streamlit")
    return proc, url, store


@pytest.fixture(scope="module")
def app(provider, ports, tmp_path_factory, sample_store):
    proc, url, store = _serve_signed_in(tmp_path_factory.mktemp("auth-app"), sample_store, ports, "app", 8 * 3600)
    yield url, store
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def idle_app(provider, ports, tmp_path_factory, sample_store):
    proc, url, store = _serve_signed_in(tmp_path_factory.mktemp("auth-idle"), sample_store, ports, "idle_app", 6)
    yield url, store
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the tests through scripts/test.sh, which installs it")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def _settled(page) -> None:
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=60_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(1000)


def _sign_in(page, url: str, login: str) -> None:
    """From the dashboard's sign-in page through the provider's login form and back."""
    page.goto(url, wait_until="domcontentloaded")
    _settled(page)
    page.get_by_role("button", name="会社のアカウントでサインイン").click()
    page.wait_for_selector("input[name=login]", timeout=30_000)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/**", timeout=30_000)
    _settled(page)


def _context(browser):
    return browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP")


def test_the_sign_in_page_then_a_user_with_a_role_signs_in_and_out(app, browser):
    url, store = app
    context = _context(browser)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    _settled(page)
    assert page.get_by_text("サインインしてください").count() == 1
    assert page.locator("[data-testid='stSidebarNav']").count() == 0        # nothing of the dashboard before sign-in
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sign-in.png"))

    _sign_in(page, url, "analyst")
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "分析 次郎" in sidebar and "役割: 分析担当" in sidebar
    menu = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "データ取り込み" in menu and "取り込み履歴" in menu and "トレンド" in menu
    assert "役割と監査ログ" not in menu                                         # the admin page is not theirs
    page.goto(f"{url}/admin", wait_until="domcontentloaded")                   # nor by its address
    page.wait_for_selector("text=「管理（役割・監査ログ）」の権限がありません", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0

    page.get_by_role("button", name="サインアウト").click()
    page.wait_for_selector("text=サインインしてください", timeout=30_000)
    assert not [cookie for cookie in context.cookies() if cookie["name"].startswith("_streamlit_user")]
    context.close()

    actions = [(entry["user"], entry["action"]) for entry in reversed(audit.read(store).entries)]
    assert ("analyst@example.co.jp", audit.SIGN_IN) in actions
    assert ("analyst@example.co.jp", audit.REFUSED) in actions
    assert actions.index(("analyst@example.co.jp", audit.SIGN_OUT)) > actions.index(("analyst@example.co.jp",
                                                                                       audit.SIGN_IN))
    foreign = sorted({request for request in requests if not request.startswith(("http://127.0.0.1:", "data:",
                                                                                  "blob:"))})
    assert not foreign, f"requests to other hosts: {foreign}"


def test_a_user_without_a_role_is_refused_in_japanese(app, browser):
    url, store = app
    context = _context(browser)
    page = context.new_page()
    _sign_in(page, url, "guest")
    assert page.get_by_text("guest@example.co.jp には懸け橋を使う役割が割り当てられていません").count() == 1
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    context.close()
    assert any(entry["user"] == "guest@example.co.jp" and entry["action"] == audit.REFUSED
               for entry in audit.read(store).entries)


def test_an_admin_sees_the_audit_trail(app, browser):
    url, _store = app
    context = _context(browser)
    page = context.new_page()
    _sign_in(page, url, "admin")
    assert page.locator("h1").first.inner_text() == "役割と監査ログ"          # their default page
    # Their only page, so Streamlit draws no menu at all: no analysis page, no verbatims.
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.count() == 0 or "トレンド" not in nav.inner_text()
    assert "役割: 管理者" in page.locator("[data-testid='stSidebar']").inner_text()
    assert page.get_by_text("新しい順）").count() == 1                         # the audit trail (a canvas grid)
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_timeout(3000)                                                # the grids draw after the run
    page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
    context.close()


def test_an_idle_session_is_signed_out_by_the_app(idle_app, browser):
    url, store = idle_app
    context = _context(browser)
    page = context.new_page()
    _sign_in(page, url, "exec")
    assert "役割: 経営" in page.locator("[data-testid='stSidebar']").inner_text()
    # Nobody touches the page: the app turns it into the notice by itself once the 6 s limit passed.
    page.wait_for_selector("text=操作がなかったため、サインアウトしました", timeout=30_000)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    page.reload(wait_until="domcontentloaded")                                 # the cookie no longer lets them in
    _settled(page)
    assert page.get_by_text("操作がなかったため、サインアウトしました").count() == 1
    page.get_by_role("button", name="もう一度サインイン").click()               # the provider still knows them
    page.wait_for_url(f"{url}/**", timeout=30_000)
    _settled(page)
    assert "役割: 経営" in page.locator("[data-testid='stSidebar']").inner_text()
    context.close()
    assert any(entry["user"] == "exec@example.co.jp" and entry["action"] == audit.IDLE_SIGN_OUT
               for entry in audit.read(store).entries)
