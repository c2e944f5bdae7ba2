"""AppTest of トレンド (pages/trends.py): the sample's chart controls and breakdown, the planted
spike listed with links to its cases, an empty store, filters that leave nothing, and a short
export without analysis (what alerts need)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from streamlit.testing.v1 import AppTest

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_page_renders_on_the_sample_and_follows_controls(sample_store, open_page):
    at = open_page(sample_store, "trends")
    assert at.title[0].value == "トレンド"
    assert "ケース×テーマ" in captions(at) and "網掛けが選択期間" in captions(at)
    breakdown = at.dataframe[0].value
    assert "容器・包装" in set(breakdown["テーマ"])
    at.segmented_control(key="tr_granularity").set_value("month").run()
    assert not at.exception
    at.segmented_control(key="tr_dimension").set_value("cause").run()
    assert not at.exception and "原因未特定" in captions(at)
    assert "梱包不良" in set(at.dataframe[0].value["原因"])
    at.segmented_control(key="tr_measure").set_value("share").run()
    assert not at.exception and "構成比は" in captions(at)
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception
    assert at.segmented_control(key="tr_dimension").value == "cause"


def test_page_lists_the_planted_spike_with_links_to_its_cases(sample_store, open_page):
    at = open_page(sample_store, "trends")
    at.sidebar.selectbox(key="f_period").set_value("custom").run()
    at.sidebar.date_input(key="f_range").set_value((date(2025, 7, 1), date(2025, 7, 31))).run()
    assert not at.exception
    listed = at.dataframe[1].value
    assert {"種類", "対象", "開始日", "検知日", "観測", "通常", "増えた語"} <= set(listed.columns)
    assert listed["対象"].str.contains("梱包不良").any()
    links = [link for link in at.get("page_link") if "梱包不良" in link.label]
    query = links[0].proto.query_string if links else ""
    assert "cause=" in query and "period=custom" in query and "from=2025-07" in query


def test_page_on_an_empty_store_points_to_upload(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "trends")
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)


def test_page_says_when_the_filters_leave_nothing(sample_store, open_page):
    at = open_page(sample_store, "trends")
    at.sidebar.selectbox(key="f_period").set_value("custom").run()
    at.sidebar.date_input(key="f_range").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not at.exception
    assert any("当てはまるケースがありません" in i.value for i in at.info)


def test_page_on_a_short_unanalysed_export_says_what_alerts_need(tmp_path, open_page):
    from pipelines.ingest.load import LoadOptions, load_file

    store = tmp_path / "short.duckdb"
    load_file(EXPORTS / "salesforce_ja_cp932.csv", store, LoadOptions(workers=1))
    at = open_page(store, "trends")
    assert not at.exception
    assert "未分類" in set(at.dataframe[0].value["テーマ"])          # loaded, not analysed yet: no themes
    assert any("29日分以上のデータが必要" in i.value for i in at.info)
