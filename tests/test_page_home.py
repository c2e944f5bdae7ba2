"""AppTest of 経営サマリー (pages/home.py, the default page): the counts of real exports, the
planted spike of two generated data sets, a filter change, a period without cases, an empty store."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "data" / "sample" / "manifest.json").read_text(encoding="utf-8"))
KPI_LABELS = {"ケース数", "未完了件数", "高重度件数", "再発件数", "平均解決日数", "解決日数（中央値）", "エスカレーション率"}


def _in_spike(manifest: dict) -> str:
    spike = manifest["spike"]
    as_of = min(date.fromisoformat(spike["start"]) + timedelta(days=7), date.fromisoformat(spike["end"]))
    return as_of.isoformat()


def _links(at: AppTest) -> list[tuple[str, dict]]:
    return [(link.proto.label, parse_qs(link.proto.query_string)) for link in at.get("page_link")]


def test_home_shows_counts(exports_store, open_page, navigation):
    at = open_page(exports_store)
    assert "ケース数" in {m.label for m in at.metric}  # the default page (直近4週)
    at.sidebar.selectbox(key="f_period").set_value("all").run()   # 全期間: every loaded case
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["ケース数"] == "35 件"
    at.switch_page(navigation["home"]).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["ケース数"] == "35 件"


@pytest.mark.parametrize("data_set", ["sample", "second"])
def test_home_shows_the_planted_spike(data_set, sample_store, second_sample, open_page):
    store, manifest = (sample_store, MANIFEST) if data_set == "sample" else second_sample
    spike = manifest["spike"]
    spike_names = {spike["theme"], spike["cause"], spike["product"]}
    at = open_page(store, as_of=_in_spike(manifest))
    assert not at.exception
    metrics = {m.label: m for m in at.metric}
    assert set(metrics) == KPI_LABELS
    assert all(m.help for m in metrics.values())                 # every KPI carries its definition
    texts = [t.value for t in at.text]
    alerts = [t for t in texts if "（テーマ）" in t or "（原因）" in t or "（商品）" in t]
    assert any(name in a for a in alerts for name in spike_names), alerts
    # The five items shown before 「6 位以下」: on the second data set the new taxonomy's sustained rises
    # (説明不足, 表示・説明) now rank beside the planted spike, so it is within the five, not always the three.
    ranking = [t for t in texts if t[:3] in ("1. ", "2. ", "3. ", "4. ", "5. ")]
    assert len(ranking) == 5 and any(name in r for r in ranking for name in spike_names), ranking
    # Each ranked item links to its cases in ケース一覧, with the filters in the URL.
    item_links = [(label, query) for label, query in _links(at) if label.endswith("件を見る")]
    assert item_links and all(query["as_of"] == [_in_spike(manifest)] for _, query in item_links)
    assert any(set(query.get("cause", []) + query.get("product", [])) & spike_names for _, query in item_links[:5])


def test_home_numbers_follow_a_filter_change(sample_store, open_page):
    at = open_page(sample_store, as_of="2025-07-23")
    before = int({m.label: m.value for m in at.metric}["ケース数"].split()[0].replace(",", ""))
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception
    after = int({m.label: m.value for m in at.metric}["ケース数"].split()[0].replace(",", ""))
    assert 0 < after < before
    assert all(query.get("channel") == ["電話"] for _, query in _links(at))


def test_home_period_without_cases(sample_store, open_page):
    at = open_page(sample_store, as_of="2020-01-31")
    assert not at.exception
    assert any("当てはまるケースはありません" in i.value for i in at.info)
    assert not at.metric


def test_home_empty_store_points_to_upload(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb")
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)
    assert [link.proto.page for link in at.get("page_link")] == ["upload"]
