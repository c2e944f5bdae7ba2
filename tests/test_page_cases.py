"""AppTest of ケース一覧 (pages/cases.py): the sample's cases, newest first and paged; the keys
other pages put in the link (cause, min_level, q, term, customer, case), bad or unknown ones
explained, cleared and searched; a filter change; an empty store; a search that finds nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.escape import md

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "data" / "sample" / "manifest.json").read_text(encoding="utf-8"))


def _total(at: AppTest) -> int:
    line = next(m.value for m in at.markdown if m.value.startswith("**該当"))
    return int(line.split()[1].replace(",", ""))


def test_case_list_on_the_sample(sample_store, open_page):
    at = open_page(sample_store, "cases", as_of="2025-07-23")
    table = at.dataframe[0].value
    assert len(table) == 50 and _total(at) > 50
    assert table["受付日時"].is_monotonic_decreasing
    buttons = [b for b in at.get("download_button") if b.proto.label.startswith("CSV をダウンロード")]
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
    ({"min_level": "3"}, lambda t: t["感情レベル"].str.startswith("3 ").all()),   # shown in words: 「3 重大」
    ({"q": "段ボール"}, lambda t: t["本文"].str.contains("段ボール").all()),
    ({"term": "潰れる"}, lambda t: t["本文"].str.contains("潰れ|つぶれ|ツブレ").all()),
])
def test_case_list_url_keys(sample_store, open_page, params, check):
    at = open_page(sample_store, "cases", as_of="2025-07-23", **params)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) > 0 and check(table)


def test_case_list_customer_and_case_ignore_the_period(sample_store, open_page):
    repeat = MANIFEST["repeat_customer"]
    at = open_page(sample_store, "cases", as_of="2025-07-23", customer=repeat["customer_id"])
    assert not at.exception
    assert sorted(at.dataframe[0].value["ケース番号"]) == sorted(repeat["case_ids"])
    assert any("期間・絞り込みは適用していません" in c.value for c in at.caption)
    case_id = MANIFEST["spike"]["case_ids"][0]
    at = open_page(sample_store, "cases", case=case_id)
    assert not at.exception
    assert list(at.dataframe[0].value["ケース番号"]) == [case_id]
    assert at.selectbox(key="cases_pick").value == case_id
    assert any(not frame.value.empty and "移管先" in frame.value.columns for frame in at.dataframe)


def test_case_list_bad_and_unknown_keys_are_explained(sample_store, open_page):
    at = open_page(sample_store, "cases", as_of="2025-07-23", min_level="9")
    assert not at.exception
    assert any("感情レベル「9」" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 50                         # the bad key is dropped, not fatal
    at = open_page(sample_store, "cases", case="NO-SUCH-CASE")
    assert not at.exception
    assert any(md("NO-SUCH-CASE") in w.value and "見つかりません" in w.value for w in at.warning)


def test_case_list_keys_can_be_cleared_and_searched(sample_store, open_page):
    at = open_page(sample_store, "cases", as_of="2025-07-23", cause="梱包不良")
    narrowed = _total(at)
    at.button(key="cases_clear_cause").click().run()
    assert not at.exception and "cause" not in at.query_params
    assert _total(at) > narrowed
    at.text_input(key="cases_q").input("段ボール").run()
    assert not at.exception and at.query_params["q"] == "段ボール"
    assert at.dataframe[0].value["本文"].str.contains("段ボール").all()
    at.selectbox(key="cases_level").set_value("2").run()
    assert not at.exception
    assert at.query_params["min_level"] == "2"
    assert (at.dataframe[0].value["感情レベル"].str[0].astype(int) >= 2).all()   # shown in words: "2 怒り・緊急"


def test_case_list_follows_a_filter_change(sample_store, open_page):
    at = open_page(sample_store, "cases", as_of="2025-07-23")
    before = _total(at)
    at.sidebar.multiselect(key="f_channels").set_value(["メール"]).run()
    assert not at.exception
    assert 0 < _total(at) < before
    assert set(at.dataframe[0].value["チャネル"]) == {"メール"}


def test_case_list_empty_store(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "cases")
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)


def test_case_list_nothing_found(sample_store, open_page):
    at = open_page(sample_store, "cases", q="この文字列はどのケースにもない")
    assert not at.exception
    assert any("当てはまるケースはありません" in i.value for i in at.info)
