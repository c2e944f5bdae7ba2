"""Reading the store from a page: a page passes the query function itself, never its name.

    kpis = ui.fetch(summary.kpis, filters)            # stops the page with 「更新中」 while busy
    page = ui.query(explore.kwic, filters, theme, term, text, 1, 20)   # None while busy

The function is called as fn(*args, store=<the store>, **kwargs) and its result is cached until the
next write to the store: every write bumps the store version, which is part of the cache key, so
one load refreshes every page of every session.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from pipelines.reports import shared
from pipelines.store import db
from pipelines.store.errors import KakehashiError, StoreBusy, StoreFault
from pipelines.store.settings import db_path
from ui.japanese import japanese_widgets

Result = TypeVar("Result")
_VERSION_KEY = "_kk_store_version"
_STAMP_KEY = "_kk_store_stamp"
_BUSY_SINCE_KEY = "_kk_busy_since"
WATCH_SECONDS = 5.0      # how often a page looks (by a stat, no connection) whether a write ended
BUSY_POLL_SECONDS = 2.0  # how often a page showing 「更新中」 tries the store again


def frame() -> None:
    """Call first on every page: the frame every page shares.

    It draws Streamlit's fixed English words in Japanese (ui.japanese). And Streamlit treats a
    folder named pages/ next to app.py as an old-style multipage app until app.py has called
    st.navigation in this process (and AppTest resets that flag before every run), so a deep link
    would run a page on its own: without the app frame, the shared filters and the sample
    auto-load. This switches to the st.navigation mode and reruns through app.py.

    A patch of Streamlit's PagesManager flag, kept deliberately: no public option stops the
    discovery (client.showSidebarNavigation only hides the menu), and pages/ is the product's
    agreed folder name. tests/test_pages.py fails if a page stops calling it, and its deep-link
    test fails if a Streamlit upgrade changes the flag.
    """
    from streamlit.runtime.pages_manager import PagesManager  # internal: see the docstring

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    japanese_widgets()   # Streamlit's fixed English words (uploader, "No results"), on every page
    _watch_store()


@st.fragment(run_every=WATCH_SECONDS)
def _watch_store() -> None:
    """Rerun the page when the store changed since this run read it and the write is over — a load
    from the CLI or another session ended — so no page keeps showing what was there before. While
    the write goes on the page keeps what it shows (and keeps away from the file)."""
    now = db.change_stamp(store_path())
    seen = st.session_state.setdefault(_STAMP_KEY, (store_path(), now))
    if seen != (store_path(), now) and not db.store_busy(store_path()):
        st.session_state[_STAMP_KEY] = (store_path(), now)
        st.rerun()


def store_path() -> str:
    """The store every page reads and writes ($KAKEHASHI_DB, or data/kakehashi.duckdb)."""
    return str(db_path())


def begin_run() -> None:
    """Read the store version once per script run (app.py calls this first): every query of the
    run is keyed on it, instead of each opening a connection just to read it."""
    st.session_state[_STAMP_KEY] = (store_path(), db.change_stamp(store_path()))
    st.session_state[_VERSION_KEY] = (store_path(), db.store_version(store_path()))


def version() -> str:
    """The store version this run reads ("busy" while another process writes the store)."""
    path, read = st.session_state.get(_VERSION_KEY, (None, None))
    return read if path == store_path() else db.store_version(store_path())


def function_name(fn: Callable[..., Any]) -> str:
    """What stands for `fn` in the cache key, e.g. "pipelines.reports.summary.kpis". Only a
    module-level function has a name that identifies it: a lambda or a nested function is refused,
    or two of them could share a cached result."""
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not qualname or "<" in qualname:
        raise TypeError(f"ui.query needs a module-level function, not {fn!r}: its module and name are its cache key")
    return f"{fn.__module__}.{qualname}"


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(_fn: Callable[..., Any], name: str, store: str, store_version: str, viewer: str | None,
            args: tuple, kwargs: dict) -> Any:
    # The leading underscore keeps _fn out of the hash (Streamlit would hash its code and globals);
    # `name` stands for it, next to the store, its version, the viewer and the arguments.
    return _fn(*args, store=store, **kwargs)


def query(fn: Callable[..., Result], *args: Any, viewer: str | None = None, stop_on_fault: bool = True,
          **kwargs: Any) -> Result | None:
    """fn(*args, store=<the store>, **kwargs), cached until the next write to the store; None while
    another process is writing it. A KakehashiError from fn (a bad option in a shared link) is raised;
    a fault of the store itself (damaged, its folder missing) stops the page with its Japanese message.

    `viewer` is part of the cache key and is not passed to fn: a place for the signed-in user or
    role (a later issue), so two viewers never share a result. None until then. `stop_on_fault=False`
    raises the StoreFault instead, for a page that can show something without the store."""
    name = function_name(fn)
    store_version = version()
    if store_version == "busy":
        return None
    try:
        return _cached(fn, name, store_path(), store_version, viewer, args, kwargs)
    except StoreBusy:
        return None
    except StoreFault as fault:
        if not stop_on_fault:
            raise
        store_fault_notice(fault)
        st.stop()


def fetch(fn: Callable[..., Result], *args: Any, viewer: str | None = None, **kwargs: Any) -> Result:
    """query(), or stop the page: 「更新中」 while another process writes the store, and the
    Japanese message of a KakehashiError. For functions that never return None themselves."""
    try:
        result = query(fn, *args, viewer=viewer, **kwargs)
    except KakehashiError as error:
        st.error(error.message_ja(), icon=":material/error:")
        st.stop()
    if result is None:
        busy_notice()
        st.stop()
    return result


def busy_notice() -> None:
    """What a page shows instead of its data while another process writes the store; the page
    reruns by itself once the write is over (a load from the CLI too)."""
    st.info("更新中です。データの取り込み・分析が終わると自動で表示されます。", icon=":material/hourglass_top:")
    st.session_state[_BUSY_SINCE_KEY] = time.monotonic()
    _rerun_when_free()


@st.fragment(run_every=BUSY_POLL_SECONDS)
def _rerun_when_free() -> None:
    # Only on the fragment's own timed runs (the page's run has just found the store busy), and one
    # try without waiting: the page keeps away from the file while the writer has it.
    if time.monotonic() - st.session_state.get(_BUSY_SINCE_KEY, 0.0) < BUSY_POLL_SECONDS / 2:
        return
    if not db.store_busy(store_path()):
        st.rerun()


def store_fault_notice(fault: KakehashiError) -> None:
    """A fault of the store itself, in Japanese: what happened and what to do."""
    st.error(fault.message_ja(), icon=":material/error:")


def theme_colors() -> dict[str, str]:
    """Theme name → colour from the rules file, the same on every chart (plus 未分類)."""
    return query(shared.theme_palette) or {}
