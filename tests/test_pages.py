"""AppTest for every page, on one session-wide fixture store and on an empty store."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pipelines.ingest.load import LoadOptions, load_file

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "data" / "exports"
TIMEOUT = 60


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("pages") / "store.duckdb"
    for name in ("salesforce_ja_cp932.csv", "generic_ja.xlsx", "mixed_bad_rows.csv"):
        load_file(EXPORTS / name, store, LoadOptions(workers=1))
    load_file(EXPORTS / "events_ja.csv", store, LoadOptions(kind="events", workers=1))
    return store


@pytest.fixture(autouse=True)
def _clear_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def _app(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("KAKEHASHI_DB", str(store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    return at


def navigation_pages() -> list[str]:
    """Page files named in app.py's st.navigation."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"]


def test_every_navigation_page_has_an_apptest():
    tested = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for page in navigation_pages():
        assert f'"{page}"' in tested, f"{page} is in the navigation but has no AppTest"


def test_every_page_starts_inside_the_app_frame():
    for page in navigation_pages():
        assert "ui.frame()" in (ROOT / page).read_text(encoding="utf-8"), f"{page} does not call ui.frame()"


def test_home_shows_counts(fixture_store, monkeypatch):
    at = _app(fixture_store, monkeypatch)
    assert not at.exception
    assert "ケース数" in {m.label for m in at.metric}  # the default page (直近4週)
    at.sidebar.selectbox(key="f_period").set_value("all").run()   # 全期間: every loaded case
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["ケース数"] == "35 件"
    at.switch_page("pages/home.py").run()
    assert {m.label: m.value for m in at.metric}["ケース数"] == "35 件"


def test_home_empty_store_points_to_upload(tmp_path, monkeypatch):
    at = _app(tmp_path / "empty.duckdb", monkeypatch)
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)


def test_history_lists_imports_and_rejected_rows(fixture_store, monkeypatch):
    at = _app(fixture_store, monkeypatch)
    at.switch_page("pages/history.py").run()
    assert not at.exception
    history = at.dataframe[0].value
    assert set(history["状態"]) == {"完了"}
    assert history["除外"].max() == 6
    rejected = at.dataframe[1].value
    assert len(rejected) == 6 and rejected["理由"].str.contains("受付日時|問い合わせ内容").all()


def test_history_empty_store(tmp_path, monkeypatch):
    at = _app(tmp_path / "empty.duckdb", monkeypatch)
    at.switch_page("pages/history.py").run()
    assert not at.exception
    assert any("取り込みの記録がありません" in i.value for i in at.info)


def test_upload_page_validates_and_reports_rejects(fixture_store, monkeypatch):
    at = _app(fixture_store, monkeypatch)
    at.switch_page("pages/upload.py").run()
    assert not at.exception
    at.session_state["upload_staged"] = (str(EXPORTS / "mixed_bad_rows.csv"), "mixed_bad_rows.csv")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"データ行": "14", "取り込める行": "8", "ファイル内の重複": "0", "除外される行": "6"}
    assert at.selectbox(key="map_cases_received_at_自動判定").value == "受付日"


def test_upload_page_refuses_bad_file_in_japanese(fixture_store, monkeypatch):
    at = _app(fixture_store, monkeypatch)
    at.switch_page("pages/upload.py").run()
    at.session_state["upload_staged"] = (str(EXPORTS / "no_text_column.csv"), "no_text_column.csv")
    at.run()
    assert not at.exception
    assert any("問い合わせ内容" in e.value and "見つかりません" in e.value for e in at.error)


def test_upload_page_kind_switch_to_events(fixture_store, monkeypatch):
    at = _app(fixture_store, monkeypatch)
    at.switch_page("pages/upload.py").run()
    at.radio(key="upload_kind").set_value("events").run()
    at.session_state["upload_staged"] = (str(EXPORTS / "events_ja.csv"), "events_ja.csv")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["データ行"] == "12" and metrics["除外される行"] == "0"
