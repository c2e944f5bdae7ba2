"""Sign-in, the acting user and what each user sees in the navigation (Streamlit's native OIDC).

With an [auth] section in .streamlit/secrets.toml, Streamlit signs users in with the company's
identity provider (st.login) and keeps their ID token's claims in a signed cookie (st.user). This
module turns those claims into an access.Actor through the roles file, refuses users without a role,
signs a session out after the idle limit (the cookie itself lasts 30 days), and writes sign-ins to
the audit trail. Without [auth] and on 127.0.0.1 the app runs as the one local user with every role.

The checks themselves live in pipelines.store.access: this module only asks it and draws the answer.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping

import streamlit as st

from pipelines.store import access, audit
from pipelines.store.errors import KakehashiError
from pipelines.store.access import idle_timeout_seconds
from pipelines.store.settings import db_path

_ACTOR_KEY = "_kk_actor"
_PAGE_KEY = "_kk_page"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("kakehashi")


class _Sessions:
    """Last activity of every sign-in this server has seen (by access.Actor.login_id), the ones it
    signed out for idleness, and the ones whose sign-in is already in the audit trail."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_seen: dict[str, float] = {}
        self.expired: set[str] = set()
        self.recorded: set[str] = set()


@st.cache_resource(show_spinner=False)
def _sessions() -> _Sessions:
    return _Sessions()


def _store() -> str:
    return str(db_path())


def auth_configured() -> bool:
    """True when secrets.toml has an [auth] section: st.user then always says whether one is signed in."""
    return "is_logged_in" in st.user


def bound_locally() -> bool:
    """True when the server listens on the loopback address only (the laptop install)."""
    return (st.get_option("server.address") or "") in LOOPBACK


def actor() -> access.Actor | None:
    """The acting user of this session (None before app.py's sign_in() has run)."""
    return st.session_state.get(_ACTOR_KEY)


def idle_limit_ja(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} 時間"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} 分"
    return f"{seconds:g} 秒"


def _providers() -> list[str | None]:
    """The provider to pass to st.login: None for a single [auth] provider, else each [auth.NAME]."""
    try:
        section = st.secrets.get("auth", {})
    except FileNotFoundError:   # no secrets.toml (StreamlitSecretNotFoundError): one default provider
        section = {}
    named = [name for name, value in section.items() if isinstance(value, Mapping)]
    return [None] if "client_id" in section or not named else named


def _sign_in_page() -> None:
    st.title("懸け橋 Kakehashi")
    st.subheader("サインインしてください")
    st.write("このダッシュボードは社内のアカウントで使います。下のボタンから会社のサインイン画面に進んでください。")
    for provider in _providers():
        label = "会社のアカウントでサインイン" if provider is None else f"{provider} でサインイン"
        st.button(label, key=f"kk_login_{provider}", type="primary", icon=":material/login:", on_click=st.login,
                  args=() if provider is None else (provider,))
    st.caption(f"最後の操作から {idle_limit_ja(idle_timeout_seconds())} たつと、自動でサインアウトします。")


def _actor_from_claims(claims: Mapping[str, object]) -> access.Actor:
    role_map = access.load_role_map()
    subject = str(claims.get("sub") or "")
    user_id = str(claims.get("email") or claims.get("preferred_username") or subject or "unknown")
    return access.Actor(user_id=user_id, name=str(claims.get("name") or user_id), roles=role_map.roles_for(claims),
                        login_id=f"{claims.get('iss', '')}|{subject or user_id}|{claims.get('iat', '')}")


def _idle_expired(login_id: str, issued_at: float | None, now: float, touch: bool) -> bool:
    """True when this sign-in has been idle past the limit; with touch, a live one is marked active.
    A sign-in this server has not seen (it restarted) counts from the ID token's issue time."""
    sessions = _sessions()
    with sessions.lock:
        if login_id in sessions.expired:
            return True
        last = sessions.last_seen.get(login_id, issued_at if issued_at is not None else now)
        if now - last > idle_timeout_seconds():
            sessions.expired.add(login_id)
            sessions.last_seen.pop(login_id, None)
            return True
        if touch:
            sessions.last_seen[login_id] = now
        return False


def _first_time(login_id: str) -> bool:
    sessions = _sessions()
    with sessions.lock:
        new = login_id not in sessions.recorded
        sessions.recorded.add(login_id)
        return new


def _issued_at(claims: Mapping[str, object]) -> float | None:
    try:
        return float(claims["iat"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None


def sign_in() -> access.Actor:
    """The acting user, or stop the run with the page they need instead: the sign-in page, a refusal
    for a user without a role, the notice of an idle sign-out, or the local-mode refusal off 127.0.0.1."""
    if not auth_configured():
        if not bound_locally():
            st.error("サインインが設定されていないため、127.0.0.1 以外では起動できません。"
                     ".streamlit/secrets.toml に [auth] を設定してください（README「サインインと役割」）。",
                     icon=":material/lock:")
            st.stop()
        st.session_state[_ACTOR_KEY] = access.LOCAL_USER
        return access.LOCAL_USER
    if not st.user.is_logged_in:
        st.session_state.pop(_ACTOR_KEY, None)
        _show_only(_sign_in_page)
    claims = st.user.to_dict()
    try:
        user = _actor_from_claims(claims)
    except KakehashiError as error:
        st.error(error.message_ja(), icon=":material/error:")
        st.stop()
    if not user.roles:
        if _first_time(user.login_id):
            audit.record(_store(), user, audit.REFUSED, "サインイン", {"reason": "no role"})
        _show_only(lambda: _refused_user_page(user))
    if _idle_expired(user.login_id, _issued_at(claims), time.time(), touch=True):
        if _first_time(user.login_id + "|idle"):
            audit.record(_store(), user, audit.IDLE_SIGN_OUT, "", {"idle_limit_seconds": idle_timeout_seconds()})
        _show_only(_idle_page)
    if _first_time(user.login_id):
        audit.record(_store(), user, audit.SIGN_IN, "", {"provider": claims.get("provider", "")})
    st.session_state[_ACTOR_KEY] = user
    return user


def _show_only(draw) -> None:
    """Draw one page in place of the dashboard and stop the run. Through st.navigation with no menu:
    without it, Streamlit would list the files of pages/ in the sidebar (its legacy mode)."""
    st.navigation([st.Page(draw, title="懸け橋 Kakehashi", url_path="signin")], position="hidden").run()
    st.stop()


def _refused_user_page(user: access.Actor) -> None:
    st.title("懸け橋 Kakehashi")
    st.error(f"{user.user_id} には懸け橋を使う役割が割り当てられていません。"
             "管理者に役割（経営・相談室長・分析担当・管理者）の追加を依頼してください。", icon=":material/block:")
    st.button("サインアウト", key="kk_logout_refused", on_click=st.logout, icon=":material/logout:")


def _idle_page() -> None:
    st.title("懸け橋 Kakehashi")
    st.warning(f"{idle_limit_ja(idle_timeout_seconds())}操作がなかったため、サインアウトしました。"
               "続けるには、もう一度サインインしてください。", icon=":material/timer_off:")
    provider = _providers()[0]
    st.button("もう一度サインイン", key="kk_login_again", type="primary", on_click=st.login,
              args=() if provider is None else (provider,), icon=":material/login:")


def idle_watch() -> None:
    """Turn an unattended screen into the idle notice by itself: a fragment that checks every little
    while (without counting as activity) and reruns the app once the limit has passed."""
    current = actor()
    if current is None or current.local:
        return
    limit = idle_timeout_seconds()

    @st.fragment(run_every=max(1.0, min(60.0, limit / 4)))
    def _watch() -> None:
        if _idle_expired(current.login_id, None, time.time(), touch=False):
            st.rerun(scope="app")

    _watch()


def sign_out() -> None:
    """The sidebar's sign-out button: recorded, then Streamlit's own sign-out (and the provider's)."""
    current = actor()
    if current is not None and not current.local:
        audit.record(_store(), current, audit.SIGN_OUT)
        with _sessions().lock:
            _sessions().last_seen.pop(current.login_id, None)
    st.logout()


def navigation_pages(user: access.Actor, pages: dict[str, list]) -> dict[str, list]:
    """app.py's pages as this user's menu: the pages they may open, and in place of each other one a
    hidden entry: its address still opens it, and its ui.frame() refuses in Japanese (so a shared
    link or a drill-down link explains itself instead of landing elsewhere). The first page they
    may open is the default."""
    allowed = [page for section in pages.values() for page in section if user.may_open(page.url_path or "home")]
    default = allowed[0] if allowed and not any(page._default for page in allowed) else None
    menu: dict[str, list] = {}
    for section, entries in pages.items():
        for page in entries:
            url_path = page.url_path or "home"
            if page is default:
                page = st.Page(page._page, title=page.title, icon=page.icon, url_path=url_path, default=True)
            elif not user.may_open(url_path):
                page = st.Page(page._page, title=page.title, icon=page.icon, url_path=url_path,
                               visibility="hidden")
            st.session_state.setdefault("_kk_page_paths", {})[page._script_hash] = url_path
            menu.setdefault(section, []).append(page)
    return menu


def set_current_page(page) -> None:
    """Remember the url_path of the page this run shows (app.py, after st.navigation)."""
    st.session_state[_PAGE_KEY] = st.session_state.get("_kk_page_paths", {}).get(page._script_hash, page.url_path)


def current_page() -> str:
    """url_path of the page this run shows ("home" for the default page of the full menu)."""
    return st.session_state.get(_PAGE_KEY) or "home"


def check_page() -> None:
    """Stop the page with a Japanese refusal unless the acting user may open it (ui.frame())."""
    try:
        access.require_page(actor(), st.session_state.get(_PAGE_KEY) or "home")
    except access.AccessDenied as error:
        current = actor()
        if current is not None:
            audit.record(_store(), current, audit.REFUSED, st.session_state.get(_PAGE_KEY) or "home")
        st.error(error.message_ja(), icon=":material/block:")
        st.stop()


def record_download(what: str, detail: dict | None = None) -> None:
    """on_click of every download button: the download into the audit trail."""
    current = actor()
    if current is not None:
        audit.record(_store(), current, audit.EXPORT, what, {"page": st.session_state.get(_PAGE_KEY), **(detail or {})})


def report_error(error: BaseException) -> str:
    """Log an unexpected error with an id the user can quote, show that id in Japanese; returns it."""
    error_id = uuid.uuid4().hex[:8]
    log.error("error id %s on page %s: %r", error_id, st.session_state.get(_PAGE_KEY), error, exc_info=error)
    st.error(f"予期しないエラーが起きました。管理者にエラー番号 {error_id} をお伝えください"
             "（詳しい内容はサーバーのログに記録しました）。", icon=":material/error:")
    return error_id
