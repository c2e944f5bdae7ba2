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


# ------------------------------------------------------------------ received dates that cannot be (issue 13, item 3)

IMPOSSIBLE = [
    # (received as typed, words of the reason)
    ("2052/04/01 10:00", ["2052-04-01", "取り込み日の翌日より後", "年の誤り"]),
    ("2099/12/31", ["2099-12-31", "翌日より後"]),
    ("2100/01/01", ["2100-01-01", "翌日より後"]),
    ("1989/12/31 23:59", ["1989-12-31", "1990-01-01 より前"]),
]


def _export(tmp_path, received: list[str]):
    from pathlib import Path

    lines = ["受付番号,受付日時,受付チャネル,商品名,問い合わせ内容,対応状況"]
    lines += [f"U-{i:03d},{day},電話,加湿器,電源が入りません（{i}件目）,新規" for i, day in enumerate(received, start=1)]
    path = Path(tmp_path) / "dates.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _load(path, store):
    from pipelines.ingest.load import LoadOptions, load_file

    return load_file(path, store, LoadOptions(workers=1, morphology=False))


def test_impossible_received_dates_are_rejected_with_their_reason(tmp_path, store):
    from helpers import query

    from pipelines.store.filters import latest_received

    path = _export(tmp_path, ["2025/04/01 09:00", *(typed for typed, _ in IMPOSSIBLE), "2025/04/03 15:30"])
    result = _load(path, store)
    assert (result.rows_read, result.inserted, result.rejected) == (6, 2, 4)
    reasons = dict(query(store, "SELECT line, reason FROM rejected_rows ORDER BY line"))
    assert sorted(reasons) == [3, 4, 5, 6]       # kept, with their lines, like any rejected row
    for line, (_, words) in zip([3, 4, 5, 6], IMPOSSIBLE):
        for word in words:
            assert word in reasons[line], (line, reasons[line])
    assert query(store, "SELECT min(received_at), max(received_at) FROM cases") == [
        (datetime(2025, 4, 1, 9), datetime(2025, 4, 3, 15, 30))]
    # "now" — what the default period and 基準日 count back from — is the last real case, not 2052.
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert latest_received(con) == datetime(2025, 4, 3, 15, 30)
    finally:
        con.close()


def test_the_day_after_the_load_day_is_allowed_and_the_bounds_are_settings(tmp_path, store, monkeypatch):
    from datetime import timedelta

    from pipelines.ingest.limits import JAPAN

    today = datetime.now(JAPAN).date()
    tomorrow, later = today + timedelta(days=1), today + timedelta(days=2)
    result = _load(_export(tmp_path, [f"{tomorrow:%Y/%m/%d} 23:59", f"{later:%Y/%m/%d} 00:00"]), store)
    assert (result.inserted, result.rejected) == (1, 1)

    monkeypatch.setenv("KAKEHASHI_RECEIVED_EARLIEST", "2025-04-02")
    monkeypatch.setenv("KAKEHASHI_RECEIVED_FUTURE_DAYS", "3")
    result = _load(_export(tmp_path, ["2025/04/01 09:00", "2025/04/02 00:00", f"{later:%Y/%m/%d} 00:00"]), store)
    assert (result.rejected, result.inserted) == (1, 2)   # before the earliest day; the day after next is allowed now
