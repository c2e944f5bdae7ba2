"""Streamlit-side helpers shared by app.py and the pages in pages/ (pipelines/ never imports this).

    data      reading the store from a page: query functions called by reference, cached on the
              store version; 「更新中」 while another process writes
    sidebar   the shared filters in the sidebar, kept in the session and mirrored in the URL
    widgets   drill-down links, plain-text tables, empty states and the progress of background jobs
    japanese  Streamlit's fixed English words in Japanese: the file uploader, select boxes
    auth      sign-in (Streamlit's OIDC), the acting user and the pages they may open
    escape    user-supplied values shown as typed inside Markdown-rendering elements (md)

Pages use the names re-exported here: `ui.fetch(summary.kpis, ui.filters())`.
"""
from __future__ import annotations

from pathlib import Path

from ui import data as _data
from ui.auth import actor, check_page, navigation_pages, record_download, report_error, set_current_page, sign_in
from ui.data import begin_run, busy_notice, fetch, query, store_path, theme_colors, version
from ui.escape import md
from ui.japanese import PLACEHOLDER, file_uploader
from ui.sidebar import account, filters, sidebar_filters
from ui.widgets import (
    case_link,
    job_progress,
    rejected_rows,
    store_overview,
    text_table,
    upload_link,
    wait_for_running_jobs,
)

# The browser tab's icon, shipped (a Material Symbols icon name would make every page fetch it from
# a font host on the internet): the "diversity_3" glyph of the Material Symbols font in the
# streamlit wheel (Apache-2.0), drawn to a PNG; README "Serving it to a company".
FAVICON = str(Path(__file__).with_name("static") / "favicon.png")


def frame() -> None:
    """Call first on every page: the shared frame (ui.data.frame), then the page-level role check,
    which stops the page with a Japanese refusal when the signed-in user may not open it."""
    _data.frame()   # first: on a deep link it reruns through app.py, which signs the user in
    check_page()


__all__ = [
    "frame", "FAVICON", "account", "actor", "md", "navigation_pages", "record_download", "report_error", "set_current_page",
    "sign_in",
    "PLACEHOLDER", "begin_run", "busy_notice", "case_link", "fetch", "file_uploader", "filters", "job_progress", "query",
    "rejected_rows", "sidebar_filters", "store_overview", "store_path", "text_table", "theme_colors", "upload_link",
    "version", "wait_for_running_jobs",
]
