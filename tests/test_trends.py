"""トレンド: counts and shares over time (pipelines/reports/trends.py) and the page (pages/trends.py)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pipelines.reports import trends
from pipelines.store.filters import Filters

ROOT = Path(__file__).resolve().parent.parent
JULY = Filters(preset="custom", start=date(2025, 7, 1), end=date(2025, 7, 31))


def sql(store: Path, query: str, params: list | None = None):
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(query, params or []).fetchall()


# ---------------------------------------------------------------- buckets and the chart's range

@pytest.mark.parametrize("day, granularity, start, following", [
    (date(2025, 7, 16), "day", date(2025, 7, 16), date(2025, 7, 17)),
    (date(2025, 7, 16), "week", date(2025, 7, 14), date(2025, 7, 21)),     # a Wednesday: Monday's week
    (date(2025, 7, 13), "week", date(2025, 7, 7), date(2025, 7, 14)),      # a Sunday ends its week
    (date(2025, 12, 31), "month", date(2025, 12, 1), date(2026, 1, 1)),
])
def test_buckets_are_calendar_days_weeks_and_months(day, granularity, start, following):
    assert trends.bucket_start(day, granularity) == start
    assert trends.next_bucket(start, granularity) == following


@pytest.mark.parametrize("period, granularity, data_start, chart_start", [
    # Four weeks at week granularity: extended back to 12 weeks.
    ((date(2025, 12, 4), date(2026, 1, 1)), "week", date(2024, 6, 1), date(2025, 10, 13)),
    # …but never before the data.
    ((date(2025, 12, 4), date(2026, 1, 1)), "week", date(2025, 11, 20), date(2025, 11, 17)),
    # Long enough already: the period's own first bucket.
    ((date(2025, 1, 1), date(2026, 1, 1)), "month", date(2024, 6, 1), date(2025, 1, 1)),
    ((date(2025, 7, 16), date(2025, 7, 29)), "day", date(2024, 6, 1), date(2025, 7, 1)),
])
def test_short_periods_are_extended_to_enough_buckets(period, granularity, data_start, chart_start):
    assert trends.chart_range(*period, data_start, granularity) == chart_start


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="dimension"):
        trends.check_choice("colour")
    with pytest.raises(ValueError, match="granularity"):
        trends.check_choice("theme", "hour")


# ---------------------------------------------------------------- counts on the sample

def test_theme_counts_are_case_theme_pairs_plus_unclassified(sample_store):
    trend = trends.series(JULY, "theme", "month", top=30, store=sample_store)
    july = trend.frame[trend.frame["bucket"] == date(2025, 7, 1)]
    pairs, unclassified, cases = sql(sample_store, """
        SELECT (SELECT count(*) FROM (SELECT DISTINCT ct.case_id, ct.theme_id FROM case_themes ct JOIN cases c
                  USING (case_id) WHERE c.received_at >= '2025-07-01' AND c.received_at < '2025-08-01')),
               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM case_themes t WHERE t.case_id = c.case_id)),
               count(*)
        FROM cases c WHERE c.received_at >= '2025-07-01' AND c.received_at < '2025-08-01'""")[0]
    assert int(july["count"].sum()) == pairs + unclassified > cases         # pairs outnumber cases
    assert int(july.loc[july["name"] == trends.UNCLASSIFIED, "count"].iloc[0]) == unclassified
    assert (july["cases"] == cases).all()
    assert july["share"].sum() > 1.0                                          # shares of pairs exceed 100 %
    assert trend.period_cases == cases
    assert trend.extended and trend.chart_start == date(2024, 8, 1)   # one month alone: a year is shown


def test_single_valued_dimensions_add_up_to_the_cases(sample_store):
    trend = trends.series(JULY, "channel", "week", store=sample_store)
    totals = trend.frame.groupby("bucket").agg(count=("count", "sum"), cases=("cases", "first"))
    assert (totals["count"] == totals["cases"]).all()
    assert all(abs(s - 1.0) < 1e-9 for s in trend.frame.groupby("bucket")["share"].sum())


def test_the_spike_shows_in_the_daily_series(sample_store):
    spike = Filters(preset="custom", start=date(2025, 7, 16), end=date(2025, 7, 28), products=("はるかぜ緑茶 500ml",))
    trend = trends.series(spike, "cause", "day", store=sample_store)
    packing = trend.frame[trend.frame["name"] == "梱包不良"].set_index("bucket")["count"]
    assert packing[date(2025, 7, 16):date(2025, 7, 28)].mean() > 3 * packing[date(2025, 7, 1):date(2025, 7, 15)].mean()
    assert trend.extended and trend.chart_start == date(2025, 7, 1)   # 13 days: extended to 28


def test_top_values_and_the_rest_as_others(sample_store):
    full = trends.series(JULY, "cause", "month", top=100, store=sample_store)
    top = trends.series(JULY, "cause", "month", top=5, store=sample_store)
    assert top.frame["name"].nunique() == 6 and trends.OTHERS in set(top.frame["name"])
    assert top.others == full.frame["name"].nunique() - 5
    assert top.frame.groupby("bucket")["count"].sum().equals(full.frame.groupby("bucket")["count"].sum())


def test_filters_and_the_theme_filter_narrow_the_counts(sample_store):
    every_channel = trends.series(JULY, "product", "month", store=sample_store)
    narrowed = trends.series(replace(JULY, channels=("電話",)), "product", "month", store=sample_store)
    expected = sql(sample_store, "SELECT count(*) FROM cases WHERE channel = '電話' AND received_at >= '2025-07-01' "
                                 "AND received_at < '2025-08-01'")[0][0]
    assert narrowed.period_cases == expected < every_channel.period_cases
    packaging = trends.series(replace(JULY, themes=("packaging",)), "theme", "month", store=sample_store)
    assert set(packaging.frame["name"]) == {"容器・包装"}


def test_last_bucket_is_flagged_partial(sample_store):
    trend = trends.series(Filters(), "theme", "week", store=sample_store)
    last = trend.frame[trend.frame["bucket"] == trend.frame["bucket"].max()]
    assert last["partial"].all()                           # the sample ends on a Wednesday
    assert not trend.frame[trend.frame["bucket"] < trend.frame["bucket"].max()]["partial"].any()


def test_breakdown_compares_with_the_previous_period(sample_store):
    table = trends.breakdown(JULY, "product", store=sample_store)
    july = dict(sql(sample_store, "SELECT product, count(*) FROM cases WHERE received_at >= '2025-07-01' "
                                  "AND received_at < '2025-08-01' GROUP BY 1"))
    june_end = dict(sql(sample_store, "SELECT product, count(*) FROM cases WHERE received_at >= '2025-05-31' "
                                      "AND received_at < '2025-07-01' GROUP BY 1"))
    row = table.set_index("name").loc["はるかぜ緑茶 500ml"]
    assert row["count"] == july["はるかぜ緑茶 500ml"] and row["previous"] == june_end["はるかぜ緑茶 500ml"]
    assert row["change"] == pytest.approx(row["count"] / row["previous"] - 1)
    assert table["share"].sum() == pytest.approx(1.0)


def test_empty_store_has_no_rows(tmp_path):
    trend = trends.series(Filters(), "theme", "week", store=tmp_path / "empty.duckdb")
    assert trend.period_cases == 0 and trend.frame["count"].sum() == 0
    assert trends.breakdown(Filters(), "cause", store=tmp_path / "empty.duckdb").empty


# ---------------------------------------------------------------- the page

@pytest.fixture(autouse=True)
def _clear_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def open_trends(store: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("KAKEHASHI_DB", str(store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/trends.py").run()
    assert not at.exception
    return at


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_page_renders_on_the_sample_and_follows_controls(sample_store, monkeypatch):
    at = open_trends(sample_store, monkeypatch)
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


def test_page_lists_the_planted_spike_with_links_to_its_cases(sample_store, monkeypatch):
    at = open_trends(sample_store, monkeypatch)
    at.sidebar.selectbox(key="f_period").set_value("custom").run()
    at.sidebar.date_input(key="f_range").set_value((date(2025, 7, 1), date(2025, 7, 31))).run()
    assert not at.exception
    listed = at.dataframe[1].value
    assert {"種類", "対象", "開始日", "検知日", "観測", "通常", "q値", "増えた語"} <= set(listed.columns)
    assert listed["対象"].str.contains("梱包不良").any()
    links = [link for link in at.get("page_link") if "梱包不良" in link.label]
    query = links[0].proto.query_string if links else ""
    assert "cause=" in query and "period=custom" in query and "from=2025-07" in query


def test_page_on_an_empty_store_points_to_upload(tmp_path, monkeypatch):
    at = open_trends(tmp_path / "empty.duckdb", monkeypatch)
    assert any("まだケースがありません" in i.value for i in at.info)


def test_page_says_when_the_filters_leave_nothing(sample_store, monkeypatch):
    at = open_trends(sample_store, monkeypatch)
    at.sidebar.selectbox(key="f_period").set_value("custom").run()
    at.sidebar.date_input(key="f_range").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not at.exception
    assert any("当てはまるケースがありません" in i.value for i in at.info)


def test_page_on_a_short_unanalysed_export_says_what_alerts_need(tmp_path, monkeypatch):
    from pipelines.ingest.load import LoadOptions, load_file

    store = tmp_path / "short.duckdb"
    load_file(ROOT / "tests" / "data" / "exports" / "salesforce_ja_cp932.csv", store, LoadOptions(workers=1))
    at = open_trends(store, monkeypatch)
    assert "未分類" in set(at.dataframe[0].value["テーマ"])          # loaded, not analysed yet: no themes
    assert any("29日分以上のデータが必要" in i.value for i in at.info)
