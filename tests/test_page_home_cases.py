"""AppTest for "pages/home.py" (経営サマリー) and "pages/cases.py" (ケース一覧): the sample store, the
planted spike of two data sets, an empty store, a filter change, and the case list's URL keys."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "data" / "sample" / "manifest.json").read_text(encoding="utf-8"))
KPI_LABELS = {"ケース数", "未完了件数", "高重度件数", "再発件数", "平均解決日数", "解決日数（中央値）", "エスカレーション率"}


@pytest.fixture(autouse=True)
def _clear_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def _app(store: Path, monkeypatch, page: str | None = None, **params: str) -> AppTest:
    monkeypatch.setenv("KAKEHASHI_DB", str(store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if page:
        at.switch_page(page)                # the first run opens this page instead of the default one
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return at


def _in_spike(manifest: dict) -> str:
    spike = manifest["spike"]
    as_of = min(date.fromisoformat(spike["start"]) + timedelta(days=7), date.fromisoformat(spike["end"]))
    return as_of.isoformat()


def _links(at: AppTest) -> list[tuple[str, dict]]:
    return [(link.proto.label, parse_qs(link.proto.query_string)) for link in at.get("page_link")]


# -- 経営サマリー ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data_set", ["sample", "second"])
def test_home_shows_the_planted_spike(data_set, sample_store, second_sample, monkeypatch):
    store, manifest = (sample_store, MANIFEST) if data_set == "sample" else second_sample
    spike = manifest["spike"]
    spike_names = {spike["theme"], spike["cause"], spike["product"]}
    at = _app(store, monkeypatch, as_of=_in_spike(manifest))
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) == KPI_LABELS
    assert all(m.help for m in metrics.values())                 # every KPI carries its definition
    texts = [t.value for t in at.text]
    alerts = [t for t in texts if "（テーマ）" in t or "（原因）" in t or "（商品）" in t]
    assert any(name in a for a in alerts for name in spike_names), alerts
    ranking = [t for t in texts if t[:3] in ("1. ", "2. ", "3. ")]
    assert len(ranking) == 3 and any(name in r for r in ranking for name in spike_names), ranking
    # Each ranked item links to its cases in ケース一覧, with the filters in the URL.
    item_links = [(label, query) for label, query in _links(at) if label.endswith("件を見る")]
    assert item_links and all(query["as_of"] == [_in_spike(manifest)] for _, query in item_links)
    assert any(set(query.get("cause", []) + query.get("product", [])) & spike_names for _, query in item_links[:3])


def test_home_numbers_follow_a_filter_change(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, as_of="2025-07-23")
    before = int({m.label: m.value for m in at.metric}["ケース数"].split()[0].replace(",", ""))
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception
    after = int({m.label: m.value for m in at.metric}["ケース数"].split()[0].replace(",", ""))
    assert 0 < after < before
    assert all(query.get("channel") == ["電話"] for _, query in _links(at))


def test_home_period_without_cases(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, as_of="2020-01-31")
    assert any("当てはまるケースはありません" in i.value for i in at.info)
    assert not at.metric


def test_home_empty_store_points_to_upload(tmp_path, monkeypatch):
    at = _app(tmp_path / "empty.duckdb", monkeypatch)
    assert any("まだケースがありません" in i.value for i in at.info)
    assert [link.proto.page for link in at.get("page_link")] == ["upload"]


# -- ケース一覧 ------------------------------------------------------------------------------------

def _total(at: AppTest) -> int:
    line = next(m.value for m in at.markdown if m.value.startswith("**該当"))
    return int(line.split()[1].replace(",", ""))


def test_case_list_on_the_sample(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23")
    table = at.dataframe[0].value
    assert len(table) == 50 and _total(at) > 50
    assert table["受付日時"].is_monotonic_decreasing
    buttons = at.get("download_button")
    assert len(buttons) == 1 and "CSV" in buttons[0].label
    # The picked case's details, its words as plain text (never Markdown).
    picked = at.selectbox(key="cases_pick").value
    assert picked == table.iloc[0]["ケース番号"]
    text = table.iloc[0]["本文"]
    assert text in [t.value for t in at.text]
    assert all(text not in m.value for m in at.markdown)
    # Page 2 is the next 50 cases.
    at.number_input(key="cases_page").set_value(2).run()
    assert not at.exception
    assert set(at.dataframe[0].value["ケース番号"]).isdisjoint(table["ケース番号"])


@pytest.mark.parametrize("params, check", [
    ({"cause": "梱包不良"}, lambda t: t["原因"].str.contains("梱包不良").all()),
    ({"min_level": "3"}, lambda t: (t["感情レベル"] == 3).all()),
    ({"q": "段ボール"}, lambda t: t["本文"].str.contains("段ボール").all()),
    ({"term": "潰れる"}, lambda t: t["本文"].str.contains("潰れ|つぶれ|ツブレ").all()),
])
def test_case_list_url_keys(sample_store, monkeypatch, params, check):
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23", **params)
    table = at.dataframe[0].value
    assert len(table) > 0 and check(table)


def test_case_list_customer_and_case_ignore_the_period(sample_store, monkeypatch):
    repeat = MANIFEST["repeat_customer"]
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23", customer=repeat["customer_id"])
    assert sorted(at.dataframe[0].value["ケース番号"]) == sorted(repeat["case_ids"])
    assert any("期間・絞り込みは適用していません" in c.value for c in at.caption)
    case_id = MANIFEST["spike"]["case_ids"][0]
    at = _app(sample_store, monkeypatch, "pages/cases.py", case=case_id)
    assert list(at.dataframe[0].value["ケース番号"]) == [case_id]
    assert at.selectbox(key="cases_pick").value == case_id
    assert any(not frame.value.empty and "移管先" in frame.value.columns for frame in at.dataframe)


def test_case_list_bad_and_unknown_keys_are_explained(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23", min_level="9")
    assert any("感情レベル「9」" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 50                         # the bad key is dropped, not fatal
    at = _app(sample_store, monkeypatch, "pages/cases.py", case="NO-SUCH-CASE")
    assert any("NO\\-SUCH\\-CASE" in w.value and "見つかりません" in w.value for w in at.warning)


def test_case_list_keys_can_be_cleared_and_searched(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23", cause="梱包不良")
    narrowed = _total(at)
    at.button(key="cases_clear_cause").click().run()
    assert not at.exception and "cause" not in at.query_params
    assert _total(at) > narrowed
    at.text_input(key="cases_q").input("段ボール").run()
    assert not at.exception and at.query_params["q"] == "段ボール"
    assert at.dataframe[0].value["本文"].str.contains("段ボール").all()
    at.selectbox(key="cases_level").set_value("2").run()
    assert at.query_params["min_level"] == "2"
    assert (at.dataframe[0].value["感情レベル"] >= 2).all()


def test_case_list_follows_a_filter_change(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, "pages/cases.py", as_of="2025-07-23")
    before = _total(at)
    at.sidebar.multiselect(key="f_channels").set_value(["メール"]).run()
    assert not at.exception
    assert 0 < _total(at) < before
    assert set(at.dataframe[0].value["チャネル"]) == {"メール"}


def test_case_list_empty_store(tmp_path, monkeypatch):
    at = _app(tmp_path / "empty.duckdb", monkeypatch, "pages/cases.py")
    assert any("まだケースがありません" in i.value for i in at.info)


def test_case_list_nothing_found(sample_store, monkeypatch):
    at = _app(sample_store, monkeypatch, "pages/cases.py", q="この文字列はどのケースにもない")
    assert any("当てはまるケースはありません" in i.value for i in at.info)
