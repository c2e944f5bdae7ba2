"""Streamlit's few fixed English words, in Japanese: the file uploader and a select box with no match.

Streamlit writes "Upload", "200MB per file", "Drag and drop a file here" and "No results" in its
frontend, with no Python option for them. ui/japanese.css hides each English text by the
data-testid around it and draws the words below with ::after; this module hands it the words as
CSS custom properties, so the size limit follows the server's setting. Select boxes get their
placeholder in Python (PLACEHOLDER) instead of "Choose an option".

tests/test_browser.py checks in a real browser that the English is hidden and the Japanese shown.
"""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

CSS = Path(__file__).with_name("japanese.css")
UPLOAD_BUTTON = "ファイルを選ぶ"
UPLOAD_DROP = "ここにファイルをドロップしてください"
NO_RESULTS = "一致する選択肢がありません"
PLACEHOLDER = "選択してください"


def upload_instructions(max_megabytes: int) -> str:
    """The line under the upload button, e.g. for the default limit of 200 MB:
    「ここにドラッグ＆ドロップするか「ファイルを選ぶ」から選択 ・ CSV・TSV・Excel (.xlsx)、1 ファイル 200MB まで」"""
    return (f"ここにドラッグ＆ドロップするか「{UPLOAD_BUTTON}」から選択 ・ "
            f"CSV・TSV・Excel (.xlsx)、1 ファイル {max_megabytes:,}MB まで")


def upload_error(max_megabytes: int) -> str:
    """The tooltip of a file the uploader itself could not take."""
    return f"このファイルを受け取れませんでした（1 ファイル {max_megabytes:,}MB まで）。"


def words_css(max_megabytes: int) -> str:
    """The CSS of ui/japanese.css with its words for an upload limit of `max_megabytes`."""
    words = {
        "--kk-upload-button": UPLOAD_BUTTON,
        "--kk-upload-instructions": upload_instructions(max_megabytes),
        "--kk-upload-drop": UPLOAD_DROP,
        "--kk-upload-error": upload_error(max_megabytes),
        "--kk-no-results": NO_RESULTS,
    }
    # json.dumps quotes and escapes like a CSS string (the words hold no "</").
    properties = "".join(f"{name}: {json.dumps(text, ensure_ascii=False)};" for name, text in words.items())
    return f":root {{{properties}}}\n{CSS.read_text(encoding='utf-8')}"


def japanese_widgets() -> None:
    """Put the CSS on the page (ui.frame() does, on every page; a style-only st.html takes no space)."""
    st.html(f"<style>{words_css(int(st.get_option('server.maxUploadSize')))}</style>")


def file_uploader(label: str, key: str, help: str | None = None):
    """st.file_uploader for one export, its words in Japanese through ui.frame()'s CSS.

    Every file type is let through: a file of the wrong kind is then refused by the page in
    Japanese, with its reason, and recorded in 取り込み履歴 — where Streamlit's own type check
    would answer in English and record nothing."""
    return st.file_uploader(label, key=key, help=help)
