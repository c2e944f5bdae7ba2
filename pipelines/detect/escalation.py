"""Escalation gaps: severe cases received in the last WINDOW_DAYS days that did not leave the
receiving desk in time, and the pattern when one channel, store, product or theme stands out.

"Severe" and "in time" are 部門フロー's escalation check (flow_escalation.sql, with the definitions
of pipelines.store.definitions): emotion level ≥ SEVERE_ESCALATION_LEVEL, a high 優先度 or a
customer demanding a superior or announcing a public post; escalated within ESCALATION_WITHIN_HOURS.
A gap is a case escalated late, closed without escalation after the deadline, or still waiting.

A group stands out when it holds at least MIN_PATTERN gaps, at least half of all gaps, and its gap
rate among its severe cases is at least PATTERN_RATIO × the rate of the other severe cases.

Score (this kind's part, 0–100): POINTS_BASE + POINTS_PER_CASE per never-escalated case and half
that per late one (together at most POINTS_CASES), + POINTS_PATTERN when a group stands out.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import duckdb

from pipelines.detect import flowscope
from pipelines.detect.insight import MAX_CASE_IDS, Insight, as_of, window_start
from pipelines.store import db
from pipelines.store import filters as flt
from pipelines.store.definitions import (
    ESCALATION_CUES,
    ESCALATION_WITHIN_HOURS,
    HIGH_PRIORITIES,
    RECEIVING_DESKS,
    SEVERE_ESCALATION_LEVEL,
    escalated_cases_sql,
)

GAP_VERDICTS = ("waiting", "closed_without", "late")       # flow_escalation.sql's listed verdicts
NEVER = ("waiting", "closed_without")
MIN_PATTERN = 3
PATTERN_RATIO = 2.0
POINTS_BASE, POINTS_PER_CASE, POINTS_CASES, POINTS_PATTERN = 30.0, 5.0, 40.0, 15.0
# Columns of a case a pattern can be read from, with their Japanese name; a store (店舗) is read from
# the export's extra columns when it has one of these headers.
STORE_HEADERS = ("店舗", "店舗名", "店名", "販売店")
GROUPS = {"channel": "チャネル", "store": "店舗", "product": "商品", "theme": "テーマ"}


@dataclass(frozen=True)
class Gap:
    case_id: str
    verdict: str
    holder: str | None
    channel: str | None
    store: str | None
    product: str | None
    themes: tuple[str, ...]


def severe_cases(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> tuple[list[Gap], list[Gap]]:
    """(every severe case of the window with its verdict, the gaps among them) as of the 基準日."""
    now = as_of(con, filters)
    if now is None:
        return [], []
    flowscope.build(con, filters, window_start(now), now, open_too=False)
    escalated, params = escalated_cases_sql(until=now)
    con.execute(f"CREATE OR REPLACE TEMP TABLE flow_escalated AS SELECT * FROM ({escalated}) "
                "WHERE case_id IN (SELECT case_id FROM flow_scope)", params)
    con.execute(db.sql("flow_escalation"), {
        "now": now, "min_level": SEVERE_ESCALATION_LEVEL, "within_hours": ESCALATION_WITHIN_HOURS,
        "high_priorities": [p.lower() for p in HIGH_PRIORITIES], "cues": list(ESCALATION_CUES),
        "desks": list(RECEIVING_DESKS), "desk_known": flowscope.desk_known(con)})
    rows = con.execute("""
        SELECT v.case_id, v.verdict, v.holder, nullif(trim(v.channel), ''), nullif(trim(v.product), ''),
               coalesce(list(t.name ORDER BY t.position) FILTER (WHERE t.name IS NOT NULL), []) AS themes,
               c.extra
        FROM flow_severe v JOIN cases c USING (case_id)
        LEFT JOIN case_themes ct ON ct.case_id = v.case_id LEFT JOIN themes t ON t.theme_id = ct.theme_id
        WHERE v.verdict NOT IN ('not_desk', 'not_due', 'untimed')
        GROUP BY v.case_id, v.verdict, v.holder, v.channel, v.product, c.extra, v.received_at
        ORDER BY v.received_at, v.case_id""").fetchall()
    cases = [Gap(cid, verdict, holder, channel, _store(extra), product, tuple(themes))
             for cid, verdict, holder, channel, product, themes, extra in rows]
    return cases, [c for c in cases if c.verdict in GAP_VERDICTS]


def _store(extra: str | None) -> str | None:
    """The store named in the export's extra columns (STORE_HEADERS), if any."""
    if not extra:
        return None
    try:
        values = json.loads(extra)
    except ValueError:
        return None
    for header in STORE_HEADERS:
        value = values.get(header) if isinstance(values, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _values(case: Gap, group: str) -> tuple[str, ...]:
    if group == "theme":
        return case.themes
    value = getattr(case, group)
    return (value,) if value else ()


def pattern(severe: list[Gap], gaps: list[Gap]) -> tuple[str, str, int, int] | None:
    """The group that stands out among the gaps: (group, value, its gaps, its severe cases)."""
    best, best_strength = None, 0.0
    for group in GROUPS:
        in_gaps = Counter(v for case in gaps for v in _values(case, group))
        in_severe = Counter(v for case in severe for v in _values(case, group))
        for value, n in in_gaps.items():
            total = in_severe[value]
            rest_gaps, rest_total = len(gaps) - n, len(severe) - total
            rate = n / total
            rest_rate = (rest_gaps + 0.5) / (rest_total + 1)
            if n >= MIN_PATTERN and 2 * n >= len(gaps) and rate >= PATTERN_RATIO * rest_rate:
                strength = n * rate / rest_rate
                if strength > best_strength:
                    best, best_strength = (group, value, n, total), strength
    return best


def detect(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> list[Insight]:
    """The escalation gap of the window as one signal (none when every severe case went up in time)."""
    severe, gaps = severe_cases(con, filters)
    if not gaps:
        return []
    now = as_of(con, filters)
    never = [g for g in gaps if g.verdict in NEVER]
    late = len(gaps) - len(never)
    found = pattern(severe, gaps)
    if found:
        group, value, n, total = found
        members = [g for g in gaps if value in _values(g, group)]
        # 「…止まり」 only when most of them never left the one desk that holds them.
        holders = Counter(g.holder for g in members if g.verdict in NEVER and g.holder)
        holder, held = holders.most_common(1)[0] if holders else (None, 0)
        stop = f"が{holder}止まり" if holder and held >= 0.6 * len(members) else "が期限内に上がっていません"
        head = f"{value}の高重度ケース {n}件{stop}（{GROUPS[group]}「{value}」の高重度 {total}件中）"
        subject = value
    else:
        members, head, subject = gaps, f"高重度ケース {len(gaps)}件が期限内にエスカレーションされていません", "全体"
    detail = (f"直近4週の高重度 {len(severe)}件のうち、{ESCALATION_WITHIN_HOURS:.0f}時間以内に上がらなかったもの "
              f"{len(gaps)}件（未エスカレーション {len(never)}件・遅れて上がった {late}件）")
    score = POINTS_BASE + min(POINTS_PER_CASE * (len(never) + 0.5 * late), POINTS_CASES)
    score += POINTS_PATTERN if found else 0.0
    ordered = members + [g for g in gaps if g not in members]
    figures = (("gaps", len(gaps)), ("never", len(never)), ("late", late), ("severe", len(severe)),
               ("pattern_cases", found[2] if found else 0))
    return [Insight("escalation", subject, f"{head}。{detail}", round(score, 1), len(gaps),
                    tuple(g.case_id for g in ordered)[:MAX_CASE_IDS], figures, now.date())]
