"""Shared filters: what each period preset covers, the SQL condition, and the URL round trip."""
from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from pipelines.store import db
from pipelines.store.filters import PRESETS, Filters, from_query, period, to_query, where

NOW = datetime(2025, 7, 23, 15, 30)   # a Wednesday


@pytest.mark.parametrize("preset, start, end, previous_start, previous_end", [
    ("4w", datetime(2025, 6, 26), datetime(2025, 7, 24), datetime(2025, 5, 29), datetime(2025, 6, 26)),
    ("month", datetime(2025, 7, 1), datetime(2025, 7, 24), datetime(2025, 6, 1), datetime(2025, 6, 24)),
    ("prev_month", datetime(2025, 6, 1), datetime(2025, 7, 1), datetime(2025, 5, 1), datetime(2025, 6, 1)),
    ("quarter", datetime(2025, 7, 1), datetime(2025, 7, 24), datetime(2025, 4, 1), datetime(2025, 4, 24)),
])
def test_presets_cover_whole_days_up_to_now(preset, start, end, previous_start, previous_end):
    got = period(Filters(preset=preset), NOW)
    assert (got.start, got.end, got.previous_start, got.previous_end) == (start, end, previous_start, previous_end)
    assert got.now == NOW


def test_month_to_date_in_a_short_previous_month_stops_at_its_end():
    got = period(Filters(preset="month"), datetime(2025, 3, 31, 9))
    assert (got.previous_start, got.previous_end) == (datetime(2025, 2, 1), datetime(2025, 3, 1))


def test_custom_range_is_inclusive_and_order_free():
    got = period(Filters(preset="custom", start=date(2025, 7, 28), end=date(2025, 7, 16)), NOW)
    assert (got.start, got.end) == (datetime(2025, 7, 16), datetime(2025, 7, 29))
    assert (got.previous_start, got.previous_end) == (datetime(2025, 7, 3), datetime(2025, 7, 16))


def test_custom_without_dates_falls_back_to_four_weeks():
    assert period(Filters(preset="custom"), NOW).label == "直近4週"


def test_all_starts_at_the_first_case_and_as_of_overrides_now():
    got = period(Filters(preset="all"), NOW, first=datetime(2024, 6, 1, 10))
    assert (got.start, got.end) == (datetime(2024, 6, 1), datetime(2025, 7, 24))
    moved = period(Filters(as_of=date(2025, 1, 10)), NOW)
    assert moved.end == datetime(2025, 1, 11) and moved.now.date() == date(2025, 1, 10)


def test_url_round_trip_keeps_every_field():
    chosen = Filters(preset="custom", start=date(2025, 7, 1), end=date(2025, 7, 31), products=("緑茶 500ml", "A&B"),
                     channels=("電話",), departments=("品質保証部",), themes=("T01", "T05"), as_of=date(2025, 8, 1))
    query = to_query(chosen)
    assert from_query({k: v if isinstance(v, list) else [v] for k, v in query.items()}) == chosen


def test_defaults_make_an_empty_query_and_bad_values_fall_back():
    assert to_query(Filters()) == {}
    got = from_query({"period": ["next_year"], "from": ["2025-13-01"], "product": ["", "X", "X"]})
    assert got == Filters(products=("X",))
    assert set(PRESETS) >= {"4w", "month", "prev_month", "quarter", "custom"}


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    db.init_store(connection)
    connection.execute("""
        INSERT INTO cases (case_id, received_at, channel, product, department, text) VALUES
        ('a', '2025-07-20 10:00', '電話', '緑茶', '品質保証部', 'x'),
        ('b', '2025-07-23 15:30', 'メール', '緑茶', 'お客様相談室', 'x'),
        ('c', '2025-06-01 09:00', '電話', '餃子', '製造部', 'x'),
        ('d', '2025-07-22 09:00', '電話', '餃子''; DROP TABLE cases; --', '製造部', 'x')""")
    connection.execute("INSERT INTO case_themes VALUES ('a', 'T01', ['潰れ']), ('c', 'T01', ['潰れ'])")
    yield connection
    connection.close()


def _ids(con, filters: Filters) -> list[str]:
    condition, params = where(filters, con=con)
    return [r[0] for r in con.execute(f"SELECT case_id FROM cases c WHERE {condition} ORDER BY 1", params).fetchall()]


def test_where_binds_every_value(con):
    assert _ids(con, Filters()) == ["a", "b", "d"]                      # 直近4週 of the latest case
    assert _ids(con, Filters(channels=("電話",))) == ["a", "d"]
    assert _ids(con, Filters(products=("餃子'; DROP TABLE cases; --",))) == ["d"]
    assert _ids(con, Filters(preset="all", themes=("T01",))) == ["a", "c"]
    assert _ids(con, Filters(preset="all", departments=("製造部",), channels=("電話",))) == ["c", "d"]


def test_where_refuses_a_spliced_alias(con):
    with pytest.raises(ValueError):
        where(Filters(), alias="c; DROP TABLE cases", con=con)

