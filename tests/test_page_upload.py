"""AppTest of データ取り込み (pages/upload.py): checking a file before loading it — the rows it
would load and reject, the automatic column mapping, a refused file in Japanese, an events file.
(AppTest cannot drive a file uploader: the tests hand the page a saved file, as the page allows;
tests/test_browser.py uploads through the real file input.)"""
from __future__ import annotations

from pathlib import Path

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"


def test_upload_page_validates_and_reports_rejects(exports_store, open_page):
    at = open_page(exports_store, "upload")
    at.session_state["upload_staged"] = (str(EXPORTS / "mixed_bad_rows.csv"), "mixed_bad_rows.csv")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"データ行": "14", "取り込める行": "8", "ファイル内の重複": "0", "除外される行": "6"}
    assert at.selectbox(key="map_cases_received_at_自動判定").value == "受付日"


def test_upload_page_refuses_bad_file_in_japanese(exports_store, open_page):
    at = open_page(exports_store, "upload")
    at.session_state["upload_staged"] = (str(EXPORTS / "no_text_column.csv"), "no_text_column.csv")
    at.run()
    assert not at.exception
    assert any("問い合わせ内容" in e.value and "見つかりません" in e.value for e in at.error)


def test_upload_page_kind_switch_to_events(exports_store, open_page):
    at = open_page(exports_store, "upload")
    at.radio(key="upload_kind").set_value("events").run()
    at.session_state["upload_staged"] = (str(EXPORTS / "events_ja.csv"), "events_ja.csv")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["データ行"] == "12" and metrics["除外される行"] == "0"
