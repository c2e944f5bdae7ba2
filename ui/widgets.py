"""Pieces several pages draw: drill-down links, plain-text tables, empty states, background jobs."""
from __future__ import annotations

import streamlit as st

from pipelines.jobs import runner
from pipelines.reports import shared
from pipelines.store import filters as flt
from ui.data import busy_notice, query
from ui.sidebar import filters as current_filters

# Page files as app.py's navigation names them (st.page_link takes the file).
CASES_PAGE = "pages/cases.py"
UPLOAD_PAGE = "pages/upload.py"


def case_link(label: str, *, filters: flt.Filters | None = None, icon: str = ":material/list_alt:", **keys) -> None:
    """A drill-down link to ケース一覧 showing the cases behind a number. `filters` (default: the
    current ones) travel in the URL; `keys` are the case list's own keys: cause, term, q,
    min_level, customer, case (values are strings)."""
    params = flt.to_query(filters if filters is not None else current_filters())
    params.update({k: str(v) for k, v in keys.items() if v is not None and v != ""})
    st.page_link(CASES_PAGE, label=label, icon=icon, query_params=params)


def upload_link() -> None:
    """The way to データ取り込み from a page that has nothing to show yet."""
    st.page_link(UPLOAD_PAGE, label="データ取り込みへ", icon=":material/upload_file:")


def store_overview(empty_message: str) -> shared.Overview:
    """The store's overview, or stop the page: 「更新中」 while another process writes, and an
    empty state pointing to the upload page when there are no cases yet. `empty_message` says
    what this page will show once data is in."""
    overview = query(shared.overview)
    if overview is None:
        busy_notice()
        st.stop()
    if overview.cases == 0:
        st.info(f"まだケースがありません。お客様相談室の CRM や表計算ソフトから書き出したファイルを取り込むと、{empty_message}",
                icon=":material/inbox:")
        upload_link()
        st.stop()
    return overview


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
        doing = "分析中" if spec.get("analyze_only") else "登録中" if spec.get("countermeasure") else "取り込み中"
        st.progress(fraction, text=f"{doing}: {names} — {state.get('phase', '')}"
                                   + (f"（{done:,} / {total:,}）" if total else ""))
        return
    if status == "interrupted":
        st.warning(f"取り込みが中断されました: {names}（データは変更されていません）", icon=":material/warning:")
    for error in state.get("errors", []):
        st.error(f"{error['file']}: {error['message']}", icon=":material/block:")
    for result in state.get("results", []):
        if result.get("kind") == "countermeasure":
            st.success(f"{result['file']}: {'登録しました' if result['inserted'] else 'すでに登録されています'}",
                       icon=":material/check_circle:")
            continue
        st.success(
            f"{result['file']}: 読込 {result['rows_read']:,} 行 → 追加 {result['inserted']:,}・更新 {result['updated']:,}・"
            f"変更なし {result['unchanged']:,}・ファイル内重複 {result['duplicate']:,}・除外 {result['rejected']:,}",
            icon=":material/check_circle:")


def wait_for_running_jobs() -> None:
    """While a load runs (the sample's first load included), show its progress, refresh every
    second, and re-render the whole page when it is done; the rest of the page waits."""
    if not any(s.get("status") in ("queued", "running") for s in runner.recent(limit=3)):
        return

    @st.fragment(run_every=1.0)
    def progress() -> None:
        running = [s for s in runner.recent(limit=3) if s.get("status") in ("queued", "running")]
        if not running:
            st.rerun()
        for state in running:
            job_progress(state)

    progress()
    st.stop()
