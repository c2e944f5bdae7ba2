"""トレンド: counts and shares over time (pipelines/reports/trends.py); the page is tested in test_page_trends.py."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.reports import trends
from pipelines.store.filters import Filters

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

