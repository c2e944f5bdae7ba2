"""Streamlit-side helpers: cached wrappers around pipelines.reports.shared, keyed on the store version."""
from __future__ import annotations

import streamlit as st

from pipelines.reports import shared
from pipelines.store import db
from pipelines.store.errors import StoreBusy
from pipelines.store.settings import db_path


def frame() -> None:
    """Call first on every page. Streamlit treats a folder named pages/ as an old-style multipage
    app until app.py has called st.navigation in this process (and AppTest resets that flag on
    every run), so a page can be run on its own: without the app frame, the shared filters and the
    sample auto-load. Switch to the st.navigation mode and rerun through app.py."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def store_path() -> str:
    return str(db_path())


def begin_run() -> None:
    """Read the store version once per script run (app.py calls this first): every query of the
    run is keyed on it, instead of each opening a connection just to read it."""
    st.session_state["_kk_store_version"] = (store_path(), db.store_version(store_path()))


def version() -> str:
    """Bumped by every write; cached results are keyed on it, so a load refreshes every page."""
    path, ver = st.session_state.get("_kk_store_version", (None, None))
    return ver if path == store_path() else db.store_version(store_path())


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, store: str, store_version: str, *args, **kwargs):
    import importlib

    module_name, _, function = name.rpartition(".")
    packages = {"alerts": "detect", "returns": "detect"}
    module = importlib.import_module(f"pipelines.{packages.get(module_name, 'reports')}.{module_name}") \
        if module_name else shared
    return getattr(module, function)(*args, store=store, **kwargs)


def query(name: str, *args, **kwargs):
    """Call a read function in pipelines — "overview" means pipelines.reports.shared.overview,
    "trends.series" pipelines.reports.trends.series — with `store=` added, cached on the store version
    (so every write refreshes every page); None while another process is writing the store."""
    ver = version()
    if ver == "busy":
        return None
    try:
        return _cached(name, store_path(), ver, *args, **kwargs)
    except StoreBusy:
        return None


def fetch(name: str, *args, **kwargs):
    """query(), or stop the page: 「更新中」 while another process writes the store, and the
    Japanese message of a KakehashiError (e.g. a bad option in a shared link)."""
    from pipelines.store.errors import KakehashiError

    try:
        result = query(name, *args, **kwargs)
    except KakehashiError as error:
        st.error(error.message_ja(), icon=":material/error:")
        st.stop()
    if result is None:
        busy_notice()
        st.stop()
    return result


def theme_colors() -> dict[str, str]:
    """Theme name → colour from the rules file, the same on every chart (plus 未分類)."""
    palette = query("theme_palette")
    return palette or {}


def case_link(label: str, *, filters=None, icon: str = ":material/list_alt:", **keys) -> None:
    """A drill-down link to ケース一覧 showing the cases behind a number. `filters` (default: the
    current ones) travel in the URL; `keys` are the case list's own keys: cause, term, q,
    min_level, customer, case (values are strings)."""
    from pipelines.store import filters as flt

    params = flt.to_query(filters if filters is not None else filters_current())
    params.update({k: str(v) for k, v in keys.items() if v is not None and v != ""})
    st.page_link("pages/cases.py", label=label, icon=icon, query_params=params)


def store_overview(empty_message: str):
    """The store's overview, or stop the page: 「更新中」 while another process writes, and an
    empty state pointing to the upload page when there are no cases yet. `empty_message` says
    what this page will show once data is in."""
    overview = query("overview")
    if overview is None:
        busy_notice()
        st.stop()
    if overview.cases == 0:
        st.info(f"まだケースがありません。お客様相談室の CRM や表計算ソフトから書き出したファイルを取り込むと、{empty_message}",
                icon=":material/inbox:")
        st.page_link("pages/upload.py", label="データ取り込みへ", icon=":material/upload_file:")
        st.stop()
    return overview


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
    from pipelines.jobs import runner

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


# -- shared sidebar filters ------------------------------------------------------------------
# Rendered by app.py on the analysis pages. The selection lives in st.session_state["filters"]
# (a pipelines.store.filters.Filters), which outlives the widgets when a page without filters is shown,
# and is written to the URL query string on every rerun (Streamlit clears it on page switches).

FILTER_PAGES = ("home", "trends", "themes", "cases", "recurrence", "flow")
_WIDGETS = {"products": "f_products", "channels": "f_channels", "departments": "f_departments", "themes": "f_themes"}


def filters_current():
    """The current filter selection (the default one before the sidebar has run)."""
    from pipelines.store.filters import Filters

    return st.session_state.get("filters", Filters())


filters = filters_current


def sidebar_filters(page) -> None:
    """Render the filters on analysis pages and mirror them into the URL query string.

    A URL that carries filter keys (a shared link, or a drill-down link from another page) wins
    over the session's selection; a URL without them (Streamlit clears it on page switches) keeps
    it. Other query keys (a page's own drill-down keys) are left alone."""
    from pipelines.store import filters as flt

    state = st.session_state
    from_url = {key: st.query_params.get_all(key) for key in flt.QUERY_KEYS if key in st.query_params}
    if "filters" not in state or (from_url and flt.from_query(from_url) != state["filters"]):
        state["filters"] = flt.from_query(from_url)
        for key in ("f_period", "f_range", "f_as_of", *_WIDGETS.values()):
            state.pop(key, None)   # re-created from the new selection below
    if page.url_path in FILTER_PAGES or (page.url_path == "" and "home" in FILTER_PAGES):
        state["filters"] = _render_filters(state["filters"])
    for key in flt.QUERY_KEYS:
        if key in st.query_params:
            del st.query_params[key]
    st.query_params.update(flt.to_query(state["filters"]))


def _render_filters(current):
    from datetime import date

    from pipelines.store import filters as flt

    options = query("filter_options")
    if options is None:
        return current
    theme_names = dict(options["themes"])
    state = st.session_state
    # Widgets re-created after a page without filters start from the kept selection.
    if "f_period" not in state:
        state["f_period"] = current.preset
        state["f_range"] = (current.start, current.end) if current.start and current.end else ()
        state["f_as_of"] = current.as_of
        for name, key in _WIDGETS.items():
            allowed = set(theme_names) if name == "themes" else set(options[name])
            state[key] = [v for v in getattr(current, name) if v in allowed]

    side = st.sidebar
    side.subheader("絞り込み")
    preset = side.selectbox("期間", list(flt.PRESETS), format_func=flt.PRESETS.get, key="f_period",
                            help="「直近」「今月」などは、データ内の最新の受付日（または下の基準日）から数えます。")
    start = end = None
    if preset == "custom":
        if "f_range" not in state:
            state["f_range"] = (current.start, current.end) if current.start and current.end else ()
        chosen = side.date_input("期間（開始〜終了）", key="f_range", format="YYYY/MM/DD")
        if isinstance(chosen, (tuple, list)) and len(chosen) == 2:
            start, end = chosen
        elif isinstance(chosen, date):
            start = end = chosen
    products = side.multiselect("商品", options["products"], key="f_products", placeholder="すべて")
    channels = side.multiselect("チャネル", options["channels"], key="f_channels", placeholder="すべて")
    departments = side.multiselect("部署", options["departments"], key="f_departments", placeholder="すべて")
    themes = side.multiselect("テーマ", list(theme_names), key="f_themes", placeholder="すべて",
                              format_func=lambda theme_id: theme_names.get(theme_id, theme_id))
    with side.expander("基準日"):
        as_of = st.date_input("基準日（空欄ならデータ内の最新の受付日）", key="f_as_of", format="YYYY/MM/DD")
    return flt.Filters(preset=preset, start=start, end=end, products=tuple(products), channels=tuple(channels),
                       departments=tuple(departments), themes=tuple(themes), as_of=as_of)
