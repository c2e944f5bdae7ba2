"""ケース一覧: the drill-down keys, paging, the Excel CSV export and one case's details, on a small
store loaded by the real pipeline (ingest + analyze)."""
from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from pipelines.reports import caselist
from pipelines.reports.caselist import CaseQuery, parse_keys
from pipelines.rules.themes.packs import SAMPLE_PACK
from pipelines.store.filters import Filters

CASES_CSV = """受付番号,受付日時,問い合わせ内容,チャネル,商品名,担当部署,対応状況,完了日時,顧客ID,原因
K-1,2025/03/02 09:00,届いた箱が潰れていました。至急交換してください！,電話,緑茶,お客様相談室,完了,2025/03/03 09:00,C1,
K-2,2025/03/05 10:00,箱がつぶれていて中身が漏れていました,メール,緑茶,品質保証部,対応中,,C1,
K-3,2025/03/10 11:00,"=HYPERLINK(""http://example.com"",""x"") 味が変わった気がします",Webフォーム,餃子,お客様相談室,完了,2025/03/11 11:00,C2,
K-4,2025/03/12 12:00,以前と味が違います。弁護士に相談します,電話,-限定品-,お客様相談室,完了,2025/03/14 12:00,C3,味の変化
K-5,2025/01/10 09:00,注文番号 ABC-123 の配送が遅れています,メール,緑茶,お客様相談室,完了,2025/01/11 09:00,C1,
K-6,2025/03/20 15:00,@担当者 さまへ。請求金額が違います,チャット,餃子,お客様相談室,完了,2025/03/21 15:00,C4,
"""
EVENTS_CSV = """受付番号,日時,移管元,移管先,アクション,メモ
K-2,2025/03/05 11:00,お客様相談室,品質保証部,移管,現品確認を依頼
K-1,2025/03/03 09:00,お客様相談室,お客様相談室,完了,
"""
MARCH = Filters(as_of=date(2025, 3, 28))   # 直近4週 = 3/1–3/28: every case but K-5 (January)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file

    folder = tmp_path_factory.mktemp("caselist")
    (folder / "cases.csv").write_text(CASES_CSV, encoding="utf-8")
    (folder / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    store = folder / "store.duckdb"
    load_file(folder / "cases.csv", store, LoadOptions(workers=1))
    load_file(folder / "events.csv", store, LoadOptions(kind="events", workers=1))
    analyze(store, workers=1, theme_pack=SAMPLE_PACK)   # a food and beverage maker's cases, like the sample
    return store


def ids(query: CaseQuery, store: Path, **kwargs) -> list[str]:
    return list(caselist.search(query, store=store, **kwargs).rows["ケース番号"])


@pytest.mark.parametrize("params, field, expected", [
    ({"min_level": "2"}, "min_level", 2),
    ({"min_level": "２"}, "min_level", 2),                 # full-width digit
    ({"case": " K-1 "}, "case_id", "K-1"),
    ({"q": "ＡＢＣ"}, "q", "ABC"),                          # NFKC, as the stored text
    ({"term": "つぶれる"}, "term", "つぶれる"),
    ({"cause": ""}, "cause", None),                        # empty keys are not used
])
def test_parse_keys(params, field, expected):
    query, problems = parse_keys(params)
    assert getattr(query, field) == expected and problems == []


@pytest.mark.parametrize("params, words", [
    ({"min_level": "9"}, ["感情レベル「9」", "0〜3"]),
    ({"min_level": "abc"}, ["感情レベル「abc」", "外して"]),
    ({"q": "箱" * 300}, ["本文検索", "200 文字"]),
])
def test_parse_keys_explains_bad_values_in_japanese(params, words):
    query, problems = parse_keys(params)
    assert len(problems) == 1 and all(w in problems[0] for w in words)
    assert query.min_level is None
    if "q" in params:
        assert query.q == "箱" * caselist.MAX_TEXT_KEY


def test_shared_filters_alone(small_store):
    assert ids(CaseQuery(MARCH), small_store) == ["K-6", "K-4", "K-3", "K-2", "K-1"]   # newest first
    assert ids(CaseQuery(replace(MARCH, channels=("電話",))), small_store) == ["K-4", "K-1"]
    assert ids(CaseQuery(replace(MARCH, themes=("packaging",))), small_store) == ["K-2", "K-1"]


@pytest.mark.parametrize("keys, expected", [
    ({"cause": "梱包不良"}, ["K-2", "K-1"]),
    ({"cause": "味の変化"}, ["K-4", "K-3"]),                 # K-4: the desk's own cause column
    ({"term": "潰れる"}, ["K-2", "K-1"]),                     # lemma: つぶれ and 潰れ are one word
    ({"term": "請求金額"}, ["K-6"]),                          # compound, stored as pieces: found in the text
    ({"q": "漏れ"}, ["K-2"]),
    ({"q": "hyperlink"}, ["K-3"]),                           # case-insensitive
    ({"min_level": "2"}, ["K-4", "K-1"]),
    ({"min_level": "3"}, ["K-4"]),
    ({"customer": "C1"}, ["K-2", "K-1", "K-5"]),              # all contacts: the period does not apply
    ({"case": "K-5"}, ["K-5"]),                               # a named case is found outside the period
    ({"case": "K-404"}, []),
    ({"cause": "梱包不良", "q": "中身"}, ["K-2"]),             # keys combine
    ({"ids": "K-5, K-1,K-404"}, ["K-1", "K-5"]),              # a signal's cases: outside the period too
])
def test_drill_down_keys(small_store, keys, expected):
    query, problems = parse_keys(keys, MARCH)
    assert problems == []
    assert ids(query, small_store) == expected


def test_too_many_ids_are_cut_and_said():
    query, problems = parse_keys({"ids": ",".join(f"K-{i}" for i in range(caselist.MAX_IDS + 5))})
    assert len(query.case_ids) == caselist.MAX_IDS and query.pinned
    assert len(problems) == 1 and f"先頭の {caselist.MAX_IDS} 件" in problems[0]
    assert query.keys()["ids"].split(",")[:2] == ["K-0", "K-1"]


def test_keys_round_trip_to_the_url():
    query, _ = parse_keys({"cause": "梱包不良", "min_level": "2", "customer": "C1"})
    assert query.keys() == {"cause": "梱包不良", "min_level": "2", "customer": "C1"}
    assert query.pinned and not parse_keys({"cause": "梱包不良"})[0].pinned


def test_paging_is_server_side_and_clamped(small_store):
    first = caselist.search(CaseQuery(MARCH), page=1, page_size=2, store=small_store)
    assert (first.total, first.pages, list(first.rows["ケース番号"])) == (5, 3, ["K-6", "K-4"])
    second = caselist.search(CaseQuery(MARCH), page=2, page_size=2, store=small_store)
    assert list(second.rows["ケース番号"]) == ["K-3", "K-2"]
    beyond = caselist.search(CaseQuery(MARCH), page=99, page_size=2, store=small_store)
    assert beyond.page == 3 and list(beyond.rows["ケース番号"]) == ["K-1"]


def test_rows_show_tags_evidence_and_levels(small_store):
    rows = caselist.search(CaseQuery(MARCH), store=small_store).rows.set_index("ケース番号")
    k1 = rows.loc["K-1"]
    assert k1["テーマ"] == "容器・包装、配送" and k1["原因"] == "梱包不良"
    assert "箱が潰れ" in k1["根拠"] and "容器・包装〔" in k1["根拠"]
    assert k1["感情レベル"] == 2 and "至急" in k1["感情の根拠"]
    assert rows.loc["K-4", "原因"] == "味の変化"


def test_csv_export_opens_in_excel_and_neutralises_formulas(small_store):
    data = caselist.export_csv(CaseQuery(MARCH), store=small_store)
    assert data.startswith(b"\xef\xbb\xbf")                        # UTF-8 BOM: Excel reads Japanese
    assert b"\r\n" in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [r["ケース番号"] for r in rows] == ["K-6", "K-4", "K-3", "K-2", "K-1"]
    by_id = {r["ケース番号"]: r for r in rows}
    assert by_id["K-3"]["本文"].startswith("'=HYPERLINK(")           # a formula stays text
    assert by_id["K-6"]["本文"].startswith("'@担当者")
    assert by_id["K-4"]["商品"] == "'-限定品-"
    assert by_id["K-1"]["本文"] == "届いた箱が潰れていました。至急交換してください!"
    assert list(rows[0])[:3] == ["受付日時", "ケース番号", "チャネル"]


def test_csv_export_is_capped(small_store):
    rows = caselist.export_rows(CaseQuery(MARCH), limit=2, store=small_store)
    assert list(rows["ケース番号"]) == ["K-6", "K-4"]


def test_detail_shows_hand_offs_and_sources(small_store):
    k2 = caselist.detail("K-2", store=small_store)
    assert k2.escalated and k2.customer_key == "C1"
    assert list(k2.events["移管先"]) == ["品質保証部"] and k2.events.loc[0, "メモ"] == "現品確認を依頼"
    assert k2.fields["状態"] == "対応中" and "完了日時" not in k2.fields
    assert list(k2.causes["出所"]) == ["本文から抽出"]
    k4 = caselist.detail("K-4", store=small_store)
    assert list(k4.causes["出所"]) == ["窓口の記録"] and k4.emotion_level == 3 and not k4.escalated
    assert caselist.detail("K-404", store=small_store) is None


def test_empty_store(tmp_path):
    page = caselist.search(CaseQuery(), store=tmp_path / "empty.duckdb")
    assert page.total == 0 and page.rows.empty and page.pages == 1
