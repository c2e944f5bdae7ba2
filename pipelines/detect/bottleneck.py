"""Bottleneck departments: a department that holds cases far longer than the others, or whose stock
of stalled cases grows, as of the 基準日.

- Hold time: the median days a department held a case, over its stints that ended in the last
  WINDOW_DAYS days or are still running (counted until now); it fires when that median is at least
  HOLD_RATIO × the other departments' typical median (the median of their medians), at least
  HOLD_OVER_MAX × the longest of theirs, and at least MIN_HOLD_DAYS days.
- Stalled stock: open cases without movement for definitions.STALL_DAYS days (部門フロー's 滞留);
  it fires when a department holds at least MIN_STALLED of them now, twice as many as WINDOW_DAYS
  days earlier and at least MIN_STALLED_GROWTH more.

Score (this kind's part of the priority list, 0–100): POINTS_BASE, plus up to POINTS_GAP by how
far the hold time stands out (full at 8× the others), plus POINTS_GROWTH when the stalled stock grows.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines.detect import flowscope
from pipelines.detect.insight import MAX_CASE_IDS, WINDOW_DAYS, Insight, as_of, filtered_condition, window_start
from pipelines.store import db, summaries
from pipelines.store import filters as flt
from pipelines.store.definitions import STALL_DAYS

MIN_STINTS = 10        # a department needs this many stints in the window to be compared
MIN_HOLD_DAYS = 2.0
HOLD_RATIO = 2.5       # × the others' typical median
HOLD_OVER_MAX = 1.5    # × the longest median of the others
MIN_STALLED = 10
MIN_STALLED_GROWTH = 10
POINTS_BASE, POINTS_GAP, POINTS_GROWTH = 35.0, 35.0, 15.0
HISTORY_DAYS = 180     # closed cases received this long before the window still have stints in it


@dataclass(frozen=True)
class Hold:
    department: str
    stints: int
    median_days: float


def holds(con: duckdb.DuckDBPyConnection, filters: flt.Filters, now: datetime) -> list[Hold]:
    """Per department, its stints in the window and their median holding days (timed stints only):
    read from the summary sum_stints, or measured on the cases of the window on a store without it."""
    start = window_start(now)
    if summaries.ready(con):
        query = (db.sql("insight_holds").replace("/*stints*/", "sum_stints")
                 .replace("/*where*/", filtered_condition(con, filters, "s")))
    else:
        flowscope.build(con, filters, start - timedelta(days=HISTORY_DAYS), now, open_too=True)
        query = db.sql("insight_holds").replace("/*stints*/", "flow_stints").replace("/*where*/", "TRUE")
    rows = con.execute(query, {"start": start, "now": now}).fetchall()
    return [Hold(d, n, float(m)) for d, n, _, m in rows if m is not None]


def stalled(con: duckdb.DuckDBPyConnection, filters: flt.Filters, now: datetime) -> dict[str, list[str]]:
    """Open cases without movement for STALL_DAYS days at `now`, by who holds them."""
    flowscope.build(con, filters, now, now, open_too=True)
    con.execute(db.sql("flow_stalls"), {"events_known": flowscope.events_known(con)})
    rows = con.execute("""
        SELECT holder, list(case_id ORDER BY last_move, case_id) FROM flow_open
        WHERE last_move <= $now - to_days(CAST($days AS INTEGER)) GROUP BY holder""",
                       {"now": now, "days": STALL_DAYS}).fetchall()
    return {holder: list(ids) for holder, ids in rows}


def detect(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> list[Insight]:
    """Bottleneck departments as of the filters' 基準日 (or the latest case), strongest first."""
    now = as_of(con, filters)
    if now is None:
        return []
    table = [h for h in holds(con, filters, now) if h.stints >= MIN_STINTS]
    stalled_now = stalled(con, filters, now)
    stalled_before = stalled(con, filters, now - timedelta(days=WINDOW_DAYS))
    found: dict[str, Insight] = {}
    for hold in table:
        others = [h.median_days for h in table if h.department != hold.department]
        if not others:
            continue
        typical, longest = statistics.median(others), max(others)
        if (hold.median_days >= MIN_HOLD_DAYS and hold.median_days >= HOLD_RATIO * typical
                and hold.median_days >= HOLD_OVER_MAX * longest):
            found[hold.department] = _insight(hold.department, now, hold, typical, longest,
                                              stalled_now.get(hold.department, []),
                                              len(stalled_before.get(hold.department, [])))
    for department, ids in stalled_now.items():
        before = len(stalled_before.get(department, []))
        if department not in found and _growing(len(ids), before):
            found[department] = _insight(department, now, None, None, None, ids, before)
    return sorted(found.values(), key=lambda i: -i.score)


def _growing(now: int, before: int) -> bool:
    return now >= MIN_STALLED and now >= 2 * before and now - before >= MIN_STALLED_GROWTH


def _insight(department: str, now: datetime, hold: Hold | None, typical: float | None, longest: float | None,
             stalled_ids: list[str], stalled_before: int) -> Insight:
    growing = _growing(len(stalled_ids), stalled_before)
    parts, score, figures = [], POINTS_BASE, [("stalled", float(len(stalled_ids))),
                                              ("stalled_before", float(stalled_before))]
    if hold is not None and typical:
        ratio = hold.median_days / typical
        score += POINTS_GAP * min(max(math.log2(ratio) / 3.0, 0.0), 1.0)
        parts.append(f"担当した案件を手放すまでの日数が中央値 {round(hold.median_days, 1):.1f}日"
                     f"（他部署は {round(typical, 1):.1f}日前後、長い部署でも {round(longest, 1):.1f}日。"
                     f"約{round(ratio, 1):.1f}倍）")
        # The figures as the sentence shows them (days to one decimal).
        figures += [("median_days", round(hold.median_days, 1)), ("others_median_days", round(typical, 1)),
                    ("others_max_days", round(longest, 1)), ("ratio", round(ratio, 1)), ("stints", hold.stints)]
    if stalled_ids:
        trend = f"4週前は {stalled_before:,}件" + ("で、増えています" if growing else "")
        parts.append(f"{STALL_DAYS}日以上動きのない未完了 {len(stalled_ids):,}件（{trend}）")
    if growing:
        score += POINTS_GROWTH
    return Insight("bottleneck", department, f"{department}で案件が滞っています：" + "、".join(parts),
                   round(score, 1), len(stalled_ids) if hold is None else hold.stints,
                   tuple(stalled_ids[:MAX_CASE_IDS]), tuple(figures), now.date())
