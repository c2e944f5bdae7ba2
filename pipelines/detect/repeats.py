"""Repeat contacts: one customer contacting the desk again and again about one matter, as of the
基準日 — by the customer's ID as the export gives it (cases.customer_key).

A chain is a run of a customer's contacts on one cause (or theme), each within
definitions.REPEAT_WINDOW_DAYS of the previous one (the summary sum_chains, or insight_repeats.sql
on a store without it); it is a signal when it has
at least MIN_CONTACTS contacts and its latest one falls in the last WINDOW_DAYS days, however long
before the chain began. The 再発 page's 繰り返しの問い合わせ lists the same chains for a period.

Score (this kind's part, 0–100): POINTS_BASE + POINTS_PER_CONTACT per contact beyond MIN_CONTACTS
(at most POINTS_CONTACTS) + POINTS_ANGRY when one of the contacts was angry or urgent (level ≥ 2).
"""
from __future__ import annotations

import duckdb

from pipelines.detect.insight import MAX_CASE_IDS, Insight, as_of, filtered_condition, window_start
from pipelines.store import db, summaries
from pipelines.store import filters as flt
from pipelines.store.definitions import DIMENSION_LABELS, REPEAT_WINDOW_DAYS

MIN_CONTACTS = 3
SHOWN = 3            # the longest chains become signals; the rest are counted in the last one's sentence
# One customer weighs less than a rise across many: a 6-contact angry chain scores 50, below a clear spike.
POINTS_BASE, POINTS_PER_CONTACT, POINTS_CONTACTS, POINTS_ANGRY = 25.0, 5.0, 25.0, 10.0


def chains(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> list[tuple]:
    """Every qualifying chain as of the 基準日: (customer_key, dimension, key, name, contacts,
    contacts in the window, first_at, last_at, case_ids, max emotion level), longest first."""
    now = as_of(con, filters)
    if now is None:
        return []
    params = {"now": now, "since": window_start(now), "min_contacts": MIN_CONTACTS}
    if summaries.ready(con):
        query = db.sql("insight_repeats_summary").replace("/*where*/", filtered_condition(con, filters, "m"))
    else:   # a store of an earlier release, not written since: scan
        query = db.sql("insight_repeats").replace("/*where*/", filtered_condition(con, filters))
        params["window_days"] = REPEAT_WINDOW_DAYS
    return con.execute(query, params).fetchall()


def detect(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> list[Insight]:
    """The customers contacting again and again, longest chains first (at most SHOWN signals)."""
    found = chains(con, filters)
    now = as_of(con, filters)
    insights = []
    for customer, dimension, _key, name, contacts, in_window, first_at, last_at, case_ids, level in found[:SHOWN]:
        span = (last_at.date() - first_at.date()).days
        began = "" if in_window == contacts else f"、最初は {first_at:%Y年%-m月%-d日}"
        angry = "怒り・緊急の表現あり。" if (level or 0) >= 2 else ""
        message = (f"同じお客様（顧客ID {customer}）から{DIMENSION_LABELS[dimension]}「{name}」について "
                   f"{contacts}回の問い合わせ（{span}日間{began}、直近4週に {in_window}回）。{angry}")
        score = POINTS_BASE + min(POINTS_PER_CONTACT * (contacts - MIN_CONTACTS), POINTS_CONTACTS)
        score += POINTS_ANGRY if (level or 0) >= 2 else 0.0
        ids = tuple(sorted(case_ids))[:MAX_CASE_IDS]
        insights.append(Insight("repeat", customer, message, round(score, 1), contacts, ids,
                                (("contacts", contacts), ("in_window", in_window), ("span_days", span)),
                                now.date()))
    if len(found) > SHOWN and insights:
        last = insights[-1]
        insights[-1] = Insight(last.kind, last.subject, last.message + f"（ほかに {len(found) - SHOWN}人）",
                               last.score, last.cases, last.case_ids, last.figures, last.detected_on)
    return insights
