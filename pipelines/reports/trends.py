"""Time series for the トレンド page: counts and shares per day / week / month by theme, cause,
product, channel or department, under the shared filters.

Counting rules (the page says them in words):
- theme: case–theme pairs. A case with two themes counts once under each, so the theme counts of a
  bucket can add up to more than its cases; a case without a theme counts under 未分類.
- cause: case–cause pairs the same way (the export's cause when present, else the extracted ones);
  a case without a cause counts under 原因未特定.
- product / channel / department: one value per case; an empty cell counts under （未記入）.
A share is a count divided by the cases of the same bucket.

The chart covers the selected period, extended back so it holds at least `MIN_BUCKETS` buckets
(28 days, 12 weeks, 12 months) when the data goes back that far: a four-week period at week
granularity is four points, too few to tell a change from noise. The page shades the selected
period. Buckets are whole calendar weeks (Monday first) and months; the last one is flagged
`partial` when the period ends inside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.store import db, summaries
from pipelines.store import filters as flt
from pipelines.store.definitions import DIMENSION_LABELS, UNCLASSIFIED_NAME

DIMENSIONS = DIMENSION_LABELS   # what a trend can be cut by: every dimension
GRANULARITIES = {"day": "日", "week": "週", "month": "月"}
MIN_BUCKETS = {"day": 28, "week": 12, "month": 12}
UNCLASSIFIED = UNCLASSIFIED_NAME
NO_CAUSE = "原因未特定"
NOT_ENTERED = "（未記入）"
OTHERS = "その他"

# One row per (bucket, value) of a dimension, read from the `sel` CTE of trends_series.sql. Fixed
# text only: the dimension picks one of these, it is never spliced from user input.
_MEMBERS = {
    "theme": (f"""SELECT s.bucket, coalesce(ct.theme_id, '') AS series_key,
                     CASE WHEN ct.theme_id IS NULL THEN '{UNCLASSIFIED}' ELSE coalesce(t.name, ct.theme_id) END AS name
              FROM sel s LEFT JOIN (SELECT DISTINCT case_id, theme_id FROM case_themes) ct USING (case_id)
                   LEFT JOIN themes t USING (theme_id)
              WHERE len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], ct.theme_id)"""),
    "cause": (f"""SELECT s.bucket, coalesce(cc.cause, '') AS series_key, coalesce(cc.cause, '{NO_CAUSE}') AS name
              FROM sel s LEFT JOIN (SELECT DISTINCT case_id, cause FROM case_causes) cc USING (case_id)"""),
    **{column: (f"""SELECT bucket, coalesce(nullif(trim({column}), ''), '') AS series_key,
                           coalesce(nullif(trim({column}), ''), '{NOT_ENTERED}') AS name FROM sel""")
       for column in ("product", "channel", "department")},
}


@dataclass(frozen=True)
class Trend:
    """What the trend chart draws. `frame`: bucket (date), key, name, count, cases (the bucket's
    cases), share (count / cases), partial (the bucket is not over yet), in_period (the bucket
    starts inside the selected period); one row per bucket and shown value, zeros included."""

    frame: pd.DataFrame
    dimension: str
    granularity: str
    chart_start: date          # first bucket
    period_start: date         # the selected period, [period_start, period_end)
    period_end: date
    extended: bool             # the chart starts before the selected period
    period_cases: int          # cases in the selected period
    others: int                # values folded into その他


def check_choice(dimension: str, granularity: str | None = None) -> None:
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension={dimension!r}: use one of {', '.join(DIMENSIONS)}")
    if granularity is not None and granularity not in GRANULARITIES:
        raise ValueError(f"granularity={granularity!r}: use one of {', '.join(GRANULARITIES)}")


def bucket_start(day: date, granularity: str) -> date:
    """The first day of the bucket holding `day` (weeks start on Monday)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, granularity: str) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    if granularity == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def buckets(first: date, end: date, granularity: str) -> list[date]:
    """Bucket starts from the bucket holding `first` up to (not including) the day `end`."""
    out, current = [], bucket_start(first, granularity)
    while current < end:
        out.append(current)
        current = next_bucket(current, granularity)
    return out


def chart_range(period_start: date, period_end: date, data_start: date | None, granularity: str) -> date:
    """First day of the chart: the period's first bucket, or earlier so at least MIN_BUCKETS fit
    (never before the first bucket that holds data)."""
    first_bucket = bucket_start(period_start, granularity)
    wanted = bucket_start(period_end - timedelta(days=1), granularity)
    for _ in range(MIN_BUCKETS[granularity] - 1):
        wanted = bucket_start(wanted - timedelta(days=1), granularity)
    start = min(first_bucket, wanted)
    if data_start is not None:
        start = max(start, min(bucket_start(data_start, granularity), first_bucket))
    return start


def series(filters: flt.Filters, dimension: str = "theme", granularity: str = "week", top: int = 10,
           store: Path | str | None = None) -> Trend:
    """Counts and shares per bucket for the `top` values of a dimension (the rest as その他)."""
    check_choice(dimension, granularity)
    with db.reader(store, wait_seconds=2.0) as con:
        return series_on(con, filters, dimension, granularity, top)


def series_on(con: duckdb.DuckDBPyConnection, filters: flt.Filters, dimension: str, granularity: str,
              top: int = 10) -> Trend:
    """`series` on an open connection."""
    check_choice(dimension, granularity)
    period = flt.resolve(con, filters)
    first = con.execute("SELECT min(received_at) FROM cases").fetchall()[0][0]
    period_start, period_end = period.start.date(), period.end.date()
    chart_start = chart_range(period_start, period_end, first.date() if first else None, granularity)
    starts = buckets(chart_start, period_end, granularity)
    raw = _counts(con, filters, dimension, granularity, chart_start, period_end)
    frame, others = _shape(raw, starts, bucket_start(period_start, granularity), period_end, granularity, top)
    if _from_summary(con, filters):
        period_cases = con.execute("SELECT coalesce(sum(cases), 0) FROM sum_daily WHERE dimension = 'all' "
                                   "AND day >= ? AND day < ?", [period_start, period_end]).fetchall()[0][0]
    else:
        condition, params = flt.where(filters, "c", span=(period.start, period.end))
        period_cases = con.execute(f"SELECT count(*) FROM cases c WHERE {condition}", params).fetchall()[0][0]
    return Trend(frame, dimension, granularity, chart_start, period_start, period_end,
                 chart_start < bucket_start(period_start, granularity), int(period_cases), others)


def _from_summary(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> bool:
    """Whether the daily summary answers for these filters: only a period (any, with any 基準日)."""
    return not (filters.products or filters.channels or filters.departments or filters.themes) \
        and summaries.ready(con)


def _counts(con: duckdb.DuckDBPyConnection, filters: flt.Filters, dimension: str, granularity: str,
            start: date, end: date) -> pd.DataFrame:
    """Rows of trends_series.sql: bucket, is_total, key, name, count — from sum_daily when it answers."""
    if _from_summary(con, filters):
        return con.execute(db.sql("trends_series_summary"), {
            "grain": granularity, "dimension": dimension, "start": start, "end": end,
            "unclassified": UNCLASSIFIED, "no_cause": NO_CAUSE, "not_entered": NOT_ENTERED}).df()
    condition, params = flt.where(filters, "c", with_period=False)
    member_params = [list(filters.themes)] * 2 if dimension == "theme" else []
    query = db.sql("trends_series").replace("/*where*/", condition).replace("/*members*/", _MEMBERS[dimension])
    return con.execute(query, [granularity, *params, start, end, *member_params]).df()


def _shape(raw: pd.DataFrame, starts: list[date], period_first_bucket: date, period_end: date,
           granularity: str, top: int) -> tuple[pd.DataFrame, int]:
    """Zero-filled rows for the `top` values by count inside the period, the rest summed as その他."""
    columns = ["bucket", "key", "name", "count", "cases", "share", "partial", "in_period"]
    if not starts:
        return pd.DataFrame(columns=columns), 0
    raw = raw.assign(bucket=pd.to_datetime(raw["bucket"]).dt.date)
    totals = raw[raw["is_total"]].set_index("bucket")["count"]
    members = raw[~raw["is_total"]]
    ranking = (members[members["bucket"] >= period_first_bucket].groupby(["key", "name"], as_index=False)["count"].sum()
               .sort_values(["count", "name"], ascending=[False, True], kind="stable"))
    kept = ranking.head(max(top, 1))
    folded = members[~members["key"].isin(kept["key"])]
    others = int(folded["key"].nunique())
    shown = members[members["key"].isin(kept["key"])][["bucket", "key", "name", "count"]]
    if others:
        rest = folded.groupby("bucket", as_index=False)["count"].sum().assign(key="\x00others", name=OTHERS)
        shown = pd.concat([shown, rest[["bucket", "key", "name", "count"]]], ignore_index=True)
        kept = pd.concat([kept, pd.DataFrame({"key": ["\x00others"], "name": [OTHERS], "count": [0]})])
    grid = pd.MultiIndex.from_product([starts, kept["key"].tolist()], names=["bucket", "key"])
    frame = shown.set_index(["bucket", "key"])["count"].reindex(grid, fill_value=0).reset_index()
    frame["name"] = frame["key"].map(dict(zip(kept["key"], kept["name"])))
    frame["cases"] = frame["bucket"].map(totals).fillna(0).astype("int64")
    frame["count"] = frame["count"].astype("int64")
    frame["share"] = (frame["count"] / frame["cases"].where(frame["cases"] > 0)).fillna(0.0)
    last_end = next_bucket(starts[-1], granularity)
    frame["partial"] = (frame["bucket"] == starts[-1]) & (last_end > period_end)
    frame["in_period"] = frame["bucket"] >= period_first_bucket
    return frame[columns], others


def breakdown(filters: flt.Filters, dimension: str = "theme", store: Path | str | None = None) -> pd.DataFrame:
    """Per value of a dimension: cases in the period, share, the previous period and the change.
    Columns: key, name, count, share, previous, change (None when the previous period had none)."""
    check_choice(dimension)
    with db.reader(store, wait_seconds=2.0) as con:
        period = flt.resolve(con, filters)
        # Daily rows of each range, summed per value below.
        current = _counts(con, filters, dimension, "day", period.start.date(), period.end.date())
        previous = _counts(con, filters, dimension, "day", period.previous_start.date(), period.previous_end.date())
    def per_value(raw: pd.DataFrame) -> pd.DataFrame:
        return raw[~raw["is_total"]].groupby(["key", "name"], as_index=False)["count"].sum()

    now, before = per_value(current), per_value(previous).rename(columns={"count": "previous"})
    total = int(current.loc[current["is_total"], "count"].sum())
    table = now.merge(before[["key", "previous"]], on="key", how="outer")
    table["name"] = table["name"].fillna(table["key"].map(dict(zip(before["key"], before["name"]))))
    table = table.fillna({"count": 0, "previous": 0}).astype({"count": "int64", "previous": "int64"})
    table["share"] = table["count"] / total if total else 0.0
    table["change"] = [(c - p) / p if p else None for c, p in zip(table["count"], table["previous"])]
    table = table.sort_values(["count", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return table[["key", "name", "count", "share", "previous", "change"]]
