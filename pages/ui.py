"""Streamlit-side helpers: cached wrappers around pipelines.queries, keyed on the store version."""
from __future__ import annotations

import streamlit as st

from pipelines import db, queries
from pipelines.errors import StoreBusy
from pipelines.settings import db_path


def _ensure_navigation_frame() -> None:
    """Streamlit treats a folder named pages/ as an old-style multipage app until app.py has called
    st.navigation once in this process; a first visit straight to /home would then run the page
    without the app frame (no Japanese navigation, no sample auto-load). Switch to the
    st.navigation mode and rerun through app.py. Runs once per process, on first import."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_ensure_navigation_frame()


def store_path() -> str:
    return str(db_path())


def version() -> str:
    """Bumped by every write; cached results are keyed on it, so a load refreshes every page."""
    return db.store_version(store_path())


@st.cache_data(show_spinner=False)
def _cached(name: str, store: str, store_version: str, *args):
    return getattr(queries, name)(*args, store=store)


def query(name: str, *args):
    """Call pipelines.queries.<name>, cached; None while another process is writing the store."""
    ver = version()
    if ver == "busy":
        return None
    try:
        return _cached(name, store_path(), ver, *args)
    except StoreBusy:
        return None


def busy_notice() -> None:
    st.info("更新中です。データの取り込み・分析が終わると自動で表示されます。", icon=":material/hourglass_top:")


def text_table(frame, **kwargs) -> None:
    """Customer-written text is shown as plain cells, never rendered as Markdown or HTML."""
    st.dataframe(frame, hide_index=True, width="stretch", **kwargs)


def job_progress(state: dict) -> None:
    """One background load: a progress bar while it runs, a summary when it is done."""
    spec = state.get("spec", {})
    names = "、".join(spec.get("display_names", []))
    status = state.get("status")
    if status in ("queued", "running"):
        total, done = state.get("total") or 0, state.get("done") or 0
        fraction = min(done / total, 1.0) if total else 0.0
        st.progress(fraction, text=f"取り込み中: {names} — {state.get('phase', '')}"
                                   + (f"（{done:,} / {total:,}）" if total else ""))
        return
    if status == "interrupted":
        st.warning(f"取り込みが中断されました: {names}（データは変更されていません）", icon=":material/warning:")
    for error in state.get("errors", []):
        st.error(f"{error['file']}: {error['message']}", icon=":material/block:")
    for result in state.get("results", []):
        st.success(
            f"{result['file']}: 読込 {result['rows_read']:,} 行 → 追加 {result['inserted']:,}・更新 {result['updated']:,}・"
            f"変更なし {result['unchanged']:,}・ファイル内重複 {result['duplicate']:,}・除外 {result['rejected']:,}",
            icon=":material/check_circle:")


def wait_for_running_jobs() -> None:
    """While a load runs (the sample's first load included), show its progress, refresh every
    second, and re-render the whole page when it is done; the rest of the page waits."""
    from pipelines import jobs

    if not any(s.get("status") in ("queued", "running") for s in jobs.recent(limit=3)):
        return

    @st.fragment(run_every=1.0)
    def progress() -> None:
        running = [s for s in jobs.recent(limit=3) if s.get("status") in ("queued", "running")]
        if not running:
            st.rerun()
        for state in running:
            job_progress(state)

    progress()
    st.stop()
