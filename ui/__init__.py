"""Streamlit-side helpers shared by app.py and the pages in pages/ (pipelines/ never imports this).

    data      reading the store from a page: query functions called by reference, cached on the
              store version; 「更新中」 while another process writes
    sidebar   the shared filters in the sidebar, kept in the session and mirrored in the URL
    widgets   drill-down links, plain-text tables, empty states and the progress of background jobs
    japanese  Streamlit's fixed English words in Japanese: the file uploader, select boxes

Pages use the names re-exported here: `ui.fetch(summary.kpis, ui.filters())`.
"""
from __future__ import annotations

from ui.data import begin_run, busy_notice, fetch, frame, query, store_path, theme_colors, version
from ui.japanese import PLACEHOLDER, file_uploader
from ui.sidebar import filters, sidebar_filters
from ui.widgets import (
    case_link,
    job_progress,
    rejected_rows,
    store_overview,
    text_table,
    upload_link,
    wait_for_running_jobs,
)

__all__ = [
    "frame",
    "PLACEHOLDER", "begin_run", "busy_notice", "case_link", "fetch", "file_uploader", "filters", "job_progress", "query",
    "rejected_rows", "sidebar_filters", "store_overview", "store_path", "text_table", "theme_colors", "upload_link",
    "version", "wait_for_running_jobs",
]
