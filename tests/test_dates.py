"""kk_ts: every date form desks type or export becomes a naive Asia/Tokyo timestamp, or NULL.

A wrong date files a case on the wrong day of every chart; NULL makes the loader reject the row
with a reason, which the user can see and fix.
"""
from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from pipelines.store import db


@pytest.fixture(scope="module")
def sql():
    con = duckdb.connect(":memory:")
    db.install_macros(con)
    yield con
    con.close()


T = datetime

# (text as found in an export, timestamp in Japan time)
READABLE = [
    # ISO 8601, with and without time and offset
    ("2025-04-01", T(2025, 4, 1)),
    ("2025-04-01 09:05", T(2025, 4, 1, 9, 5)),
    ("2025-04-01T09:05:00", T(2025, 4, 1, 9, 5)),
    ("2025-04-01T09:05:00+09:00", T(2025, 4, 1, 9, 5)),
    ("2025-04-01T09:05:00.123+09:00", T(2025, 4, 1, 9, 5)),
    ("2025-04-01T02:30:00Z", T(2025, 4, 1, 11, 30)),
    ("2025-04-03T16:20:00Z", T(2025, 4, 4, 1, 20)),         # already the next day in Tokyo
    ("2025-03-31T20:00:00-05:00", T(2025, 4, 1, 10, 0)),
    ("2025-04-01T09:05:00+0900", T(2025, 4, 1, 9, 5)),
    # slashes, as Salesforce / Excel / Google Forms write them
    ("2025/4/1 9:05", T(2025, 4, 1, 9, 5)),
    ("2025/04/01 12:34:56", T(2025, 4, 1, 12, 34, 56)),
    ("2025/4/1", T(2025, 4, 1)),
    ("20250401", T(2025, 4, 1)),
    # kanji
    ("2025年4月1日", T(2025, 4, 1)),
    ("2025年4月1日 9時5分", T(2025, 4, 1, 9, 5)),
    ("2025年4月5日 14時05分", T(2025, 4, 5, 14, 5)),
    # 和暦
    ("令和7年4月1日", T(2025, 4, 1)),
    ("令和元年5月1日", T(2019, 5, 1)),                       # first day of Reiwa
    ("平成31年4月30日", T(2019, 4, 30)),                     # last day of Heisei
    ("R7.4.1", T(2025, 4, 1)),
    ("R07.04.05", T(2025, 4, 5)),
    ("H30.3.31", T(2018, 3, 31)),
    # full-width digits
    ("２０２５年４月３日", T(2025, 4, 3)),
    ("令和７年４月４日", T(2025, 4, 4)),
    ("２０２５／０４／０１　０９：０５", T(2025, 4, 1, 9, 5)),
    # Excel serial numbers (a date cell saved as General)
    ("45748", T(2025, 4, 1)),
    ("45748.5", T(2025, 4, 1, 12, 0)),
    # weekday marks and 午前/午後
    ("2025年4月1日(火)", T(2025, 4, 1)),
    ("2025/4/1（火） 15:05", T(2025, 4, 1, 15, 5)),
    ("2025/4/1 午後3:05", T(2025, 4, 1, 15, 5)),
    ("2025/4/1 午前9:05", T(2025, 4, 1, 9, 5)),
    ("2025年4月1日 午後3時5分", T(2025, 4, 1, 15, 5)),
    ("2024/02/29", T(2024, 2, 29)),                          # a leap day that exists
]

# Text that is not a date a case could have been received on: the row is rejected.
UNREADABLE = [
    "不明",
    "2025/13/45",
    "2025/02/29",   # 2025 is not a leap year
    "2025/4/31",
    "令和7年2月29日",
    "",
    "   ",
    "12345",        # a number, but no plausible case date (1933)
]


@pytest.mark.parametrize(("text", "expected"), READABLE)
def test_date_text_becomes_japan_time(sql, text, expected):
    assert sql.execute("SELECT kk_ts(?)", [text]).fetchone()[0] == expected


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable_date_is_null(sql, text):
    assert sql.execute("SELECT kk_ts(?)", [text]).fetchone()[0] is None


def test_null_date_is_null(sql):
    assert sql.execute("SELECT kk_ts(NULL)").fetchone()[0] is None
