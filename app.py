"""Kakehashi dashboard: page config, sign-in, navigation, shared sidebar filters and the sample auto-load."""
from __future__ import annotations

import streamlit as st

import ui
from pipelines.jobs import runner
from pipelines.store.settings import should_autoload_sample

st.set_page_config(page_title="懸け橋 Kakehashi", page_icon=ui.FAVICON, layout="wide")
# The signed-in user and their roles (ui/auth.py); stops with the sign-in page until there is one.
actor = ui.sign_in()

if should_autoload_sample():
    # First start on the default store: load the bundled sample in a child process (pipelines/jobs/runner.py).
    runner.start_sample_autoload()

# The pages live in pages/ (the product's agreed layout). Streamlit also treats that folder as a legacy
# multipage app until st.navigation has run once in the process: every page calls ui.frame() first.
PAGES = {
    "概要": [
        st.Page("pages/home.py", title="経営サマリー", icon=":material/home:", url_path="home", default=True),
    ],
    "分析": [
        st.Page("pages/trends.py", title="トレンド", icon=":material/trending_up:", url_path="trends"),
        st.Page("pages/themes.py", title="テーマ探索", icon=":material/category:", url_path="themes"),
        st.Page("pages/cases.py", title="ケース一覧", icon=":material/list_alt:", url_path="cases"),
        st.Page("pages/recurrence.py", title="再発", icon=":material/autorenew:", url_path="recurrence"),
        st.Page("pages/flow.py", title="部門フロー", icon=":material/account_tree:", url_path="flow"),
    ],
    "データ": [
        st.Page("pages/upload.py", title="データ取り込み", icon=":material/upload_file:", url_path="upload"),
        st.Page("pages/history.py", title="取り込み履歴", icon=":material/history:", url_path="history"),
    ],
    "管理": [
        st.Page("pages/admin.py", title="役割と監査ログ", icon=":material/admin_panel_settings:", url_path="admin"),
    ],
}

# Each user's menu holds the pages their roles open; ui.frame() checks again on the page itself.
navigation = st.navigation(ui.navigation_pages(actor, PAGES))
ui.set_current_page(navigation)
st.sidebar.caption("懸け橋 — 最前線の声を経営へ")
ui.account(actor)
ui.begin_run()
ui.sidebar_filters(navigation)
try:
    navigation.run()
except Exception as error:   # st.stop and st.rerun are not Exceptions: they pass
    ui.report_error(error)   # logged with an id the user can quote (client.showErrorDetails is off)
    raise
