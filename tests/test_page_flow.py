"""AppTest of 部門フロー (pages/flow.py): the sample, an empty store, exports without events, filter changes."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.store.settings import SAMPLE_DIR

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "tests" / "data" / "flow"


def table_with(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has these columns."""
    return next(frame.value for frame in at.dataframe if set(columns) <= set(frame.value.columns))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_flow_page_on_the_sample(sample_store, open_page):
    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))
    at = open_page(sample_store, "flow")
    assert at.title[0].value == "部門フロー"
    assert len(at.get("plotly_chart")) >= 5                      # flow, holding times, stalls, themes, matrix
    assert table_with(at, "滞留件数").iloc[0]["部署"] == manifest["slow_department"]
    assert {"保持日数の中央値", "差し戻し率", "未完了 31日〜"} <= set(table_with(at, "差し戻し率").columns)

    at.sidebar.selectbox(key="f_period").set_value("all").run()   # the planted cases span months
    assert not at.exception
    listed = table_with(at, "状態", "ケース番号")
    assert set(manifest["unescalated_severe"]["case_ids"]) <= set(listed["ケース番号"])
    assert set(manifest["ping_pong"]["case_ids"]) <= set(table_with(at, "往復した部署", "ケース番号")["ケース番号"])

    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception
    assert set(table_with(at, "最後の動きから（日）")["チャネル"]) == {"電話"}

    before = int(metrics(at)["滞留ケース"].split()[0])
    at.number_input(key="flow_stall_days").set_value(30).run()
    assert not at.exception
    assert int(metrics(at)["滞留ケース"].split()[0]) < before


def test_flow_page_cause_filter(sample_store, open_page):
    at = open_page(sample_store, "flow")
    cause = at.selectbox(key="flow_cause").options[1]           # the most frequent cause
    at.selectbox(key="flow_cause").set_value(cause).run()
    assert not at.exception
    assert any(f"原因: {cause}" in c.value for c in at.caption)
    assert at.query_params["cause"] in (cause, [cause])         # shareable by link


def test_flow_page_unknown_cause_in_the_link(sample_store, open_page):
    at = open_page(sample_store, "flow", cause="存在しない原因")
    assert not at.exception
    assert any("存在しない原因" in w.value and "ありません" in w.value for w in at.warning)
    assert at.selectbox(key="flow_cause").value == "（すべての原因）"


def test_flow_page_empty_store(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "flow")
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)


@pytest.fixture(scope="module")
def cases_only_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("flow-page-cases") / "store.duckdb"
    load_file(FLOW / "cases.csv", store, LoadOptions(workers=1))
    return store


@pytest.fixture(scope="module")
def route_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("flow-page-route") / "store.duckdb"
    load_file(FLOW / "route_cases.csv", store, LoadOptions(workers=1))
    return store


def test_flow_page_without_events_says_what_is_missing(cases_only_store, open_page):
    at = open_page(cases_only_store, "flow")
    assert any("対応履歴" in w.value and "取り込まれていません" in w.value for w in at.warning)
    assert metrics(at)["最後の動きが分からないケース"] == "4 件"
    open_by_age = table_with(at, "未完了計").set_index("部署")
    assert open_by_age.loc["お客様相談室", "未完了計"] == 3
    at.sidebar.selectbox(key="f_period").set_value("all").run()
    assert not at.exception
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception


def test_flow_page_route_column_without_times(route_store, open_page):
    at = open_page(route_store, "flow")
    at.sidebar.selectbox(key="f_period").set_value("all").run()
    assert not at.exception
    assert any("対応経路" in i.value and "日時がない" in i.value for i in at.info)
    assert any("日時のある移管記録がない部署" in i.value for i in at.info)
    assert table_with(at, "往復した部署", "ケース番号")["ケース番号"].tolist() == ["R-002"]
    at.selectbox(key="flow_open_pingpong").set_value("R-002").run()      # drill down to the case
    assert not at.exception
    assert any("R-002 をケース一覧で開く" in link.proto.label for link in at.get("page_link"))
    at.sidebar.multiselect(key="f_channels").set_value(["メール"]).run()
    assert not at.exception
