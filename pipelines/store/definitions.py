"""Business definitions every page and detector shares, each stated once.

What counts as done, as escalated, as a case's cause, as a repeat contact; the names of emotion
levels and of the dimensions a chart can be cut by; what the 未分類 bucket is called. A page or a
read model that needs one of these imports it from here, so two pages can never disagree.
"""
from __future__ import annotations

import re
from datetime import datetime

import duckdb

# Desks that receive cases first; a hand-off away from them is an escalation.
RECEIVING_DESKS = ("お客様相談室", "カスタマーセンター", "お客様センター", "コールセンター")
# Hand-off actions that count as an escalation wherever they happen (the definition: escalation_sql below).
ESCALATION_ACTIONS = ("エスカレーション", "上申", "エスカレ", "転送")
# An open case with no movement for this many days is stalled (部門フロー; changeable on the page).
STALL_DAYS = 7

# A severe case (emotion level at least SEVERE_ESCALATION_LEVEL, a high 優先度 of the export, or a
# customer demanding a superior / announcing a public post) should leave the receiving desk within
# ESCALATION_WITHIN_HOURS of receipt (部門フロー's escalation check and the escalation-gap detector).
SEVERE_ESCALATION_LEVEL = 3
ESCALATION_WITHIN_HOURS = 24.0
HIGH_PRIORITIES = ("高", "高い", "最高", "緊急", "至急", "特急", "重大", "high", "highest", "urgent", "critical")
ESCALATION_CUES = ("責任者の要求", "公開の予告")   # labels of data/rules/severity.txt

# A customer's contact counts as a repeat when the same customer contacted the desk within this
# many days before (the emotion level and the 再発 page's repeat contacts both use it).
REPEAT_WINDOW_DAYS = 30

# Status words that mean done, for exports without a completion time (compared lower-cased).
CLOSED_STATUSES = ("完了", "対応完了", "完了済", "完了済み", "解決", "解決済", "解決済み", "クローズ", "クローズ済み",
                   "終了", "対応済", "対応済み", "処理済", "処理済み", "closed", "solved", "resolved", "done",
                   "complete", "completed")

# Emotion levels (rules/severity.py decides them): the name of each, and how a table shows one.
LEVEL_NAMES = {0: "平静", 1: "不満", 2: "怒り・緊急", 3: "重大"}
LEVEL_LABELS = {level: f"{level} {name}" for level, name in LEVEL_NAMES.items()}

# What a count can be cut by, in the order pages list them, with its Japanese name.
DIMENSION_LABELS = {"theme": "テーマ", "cause": "原因", "product": "商品", "channel": "チャネル", "department": "部署"}

# Cases without a theme: the ID the theme explorer uses for them, and the name every page shows.
UNCLASSIFIED_ID = "__unclassified__"
UNCLASSIFIED_NAME = "未分類"


def status_done_sql(alias: str = "c") -> str:
    """SQL condition: the case's status says it is done (CLOSED_STATUSES, any case, trimmed)."""
    if not alias.isidentifier():
        raise ValueError(f"bad table alias: {alias!r}")
    words = ", ".join("'" + w.replace("'", "''") + "'" for w in CLOSED_STATUSES)
    return f"list_contains([{words}], lower(trim(coalesce({alias}.status, ''))))"


# The effective causes of a case: the desk's own (source 'export') when the export gave one, else
# the extracted ones. analysis.tagging.store_results already stores them so; the view states the rule where it is read.
EFFECTIVE_CAUSES_VIEW = """
    CREATE OR REPLACE TEMP VIEW kk_causes AS
    SELECT cc.case_id, cc.cause, cc.source, cc.evidence
    FROM case_causes cc
    WHERE cc.source = 'export'
       OR NOT EXISTS (SELECT 1 FROM case_causes x WHERE x.case_id = cc.case_id AND x.source = 'export')"""


def create_effective_causes_view(con: duckdb.DuckDBPyConnection) -> None:
    """Define the temp view kk_causes(case_id, cause, source, evidence) on this connection."""
    con.execute(EFFECTIVE_CAUSES_VIEW)


def words_pattern(words: tuple[str, ...]) -> str:
    """A case-insensitive RE2 alternation matching any of the words anywhere in a value."""
    return "(?i)" + "|".join(re.escape(w) for w in words if w)


def escalation_sql(alias: str = "e") -> tuple[str, list]:
    """The one definition of an escalation event, as a SQL condition on a `case_events` row and its
    parameters: a hand-off from a receiving desk (RECEIVING_DESKS) to another department,
    or an event whose action contains one of ESCALATION_ACTIONS.

        cond, params = escalation_sql("e")
        con.execute(f"SELECT count(DISTINCT e.case_id) FROM case_events e WHERE {cond}", params)
    """
    if not alias.isidentifier():
        raise ValueError(f"bad table alias: {alias!r}")
    condition = (f"((list_contains(?::VARCHAR[], {alias}.from_department) "
                 f"AND NOT list_contains(?::VARCHAR[], coalesce({alias}.to_department, {alias}.from_department))) "
                 f"OR regexp_matches(coalesce({alias}.action, ''), ?))")
    return condition, [list(RECEIVING_DESKS), list(RECEIVING_DESKS), words_pattern(ESCALATION_ACTIONS)]


def escalated_cases_sql(until: datetime | None = None) -> tuple[str, list]:
    """A subquery over `case_events`: one row per escalated case — `case_id`, `escalated_at` (its first
    time-stamped escalation; NULL when only a route column, which has no times, shows one).
    `until` ignores events recorded after that moment (an as-of view).

        sql, params = escalated_cases_sql()
        con.execute(f"SELECT count(*) FROM cases c WHERE c.case_id IN (SELECT case_id FROM ({sql}))", params)
    """
    condition, params = escalation_sql("e")
    if until is not None:
        condition += ' AND (e."at" IS NULL OR e."at" <= ?)'
        params.append(until)
    return (f'SELECT e.case_id, min(e."at") AS escalated_at FROM case_events e WHERE {condition} '
            "GROUP BY e.case_id"), params
