"""Departmental flow: how cases move between departments, how long each department holds them,
where they stall, bounce back and forth, or miss an escalation.

Everything is measured on "stints" (pipelines/sql/flow_stints.sql): one row per department that
held a case, from the receipt or the hand-off that brought it there until the next hand-off or, for
the last holder, the case's closed_at. Hops read from a route column have no timestamps: they feed
the flow and the counts, never the holding times or the stalls. "Now" is the filters' as_of or the
latest received_at (filters.resolve), never the wall clock.

The definition of an escalation lives in pipelines.store.definitions: `escalation_sql()` for one
event, `escalated_cases_sql()` for the cases (the executive summary's エスカレーション率 uses it too).

    >>> from pipelines.store.filters import Filters
    >>> stalls(Filters(preset="all"), stall_days=7).ranking.head(1)   # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.store import db, summaries
from pipelines.store import filters as flt
from pipelines.store.definitions import (
    ESCALATION_CUES,
    ESCALATION_WITHIN_HOURS,
    HIGH_PRIORITIES,
    RECEIVING_DESKS,
    SEVERE_ESCALATION_LEVEL,
    STALL_DAYS,
    escalated_cases_sql,
    status_done_sql,
    words_pattern,
)
from pipelines.store.errors import KakehashiError

# A hand-off back to the sender with one of these in its action is a return (差戻し), not an answer
# (defined with the summaries, which store every case's stints).
RETURN_ACTIONS = summaries.RETURN_ACTIONS
# What makes a case severe and how soon it should leave the desk: one definition with the
# escalation-gap detector (store.definitions); the page's controls start from these.
DEFAULT_MIN_LEVEL = SEVERE_ESCALATION_LEVEL
DEFAULT_WITHIN_HOURS = ESCALATION_WITHIN_HOURS
DEFAULT_MAX_HOPS = 3
OUTCOME_CLOSED, OUTCOME_OPEN = "完了", "未完了"
MORE_HOPS = "…"
LISTED_VERDICTS = ("waiting", "closed_without", "late")   # see sql/flow_escalation.sql
VERDICT_LABELS = {"waiting": "未エスカレーション（未完了）", "closed_without": "期限を過ぎ、エスカレーションなしで完了",
                  "late": "期限後にエスカレーション"}


# ---------------------------------------------------------------- scope

@dataclass(frozen=True)
class _Scope:
    period: flt.Period
    now: datetime          # the measure's "now": ages and waits count up to here
    seen_until: datetime   # events and closures later than this are not seen (only with as_of)


def _option_error(ja: str, en: str) -> KakehashiError:
    return KakehashiError("flow_option", ja, en, "値を変えて、もう一度表示してください。", "Change the value and retry.")


def _prepare(con: duckdb.DuckDBPyConnection, filters: flt.Filters, cause: str | None,
             with_period: bool = True) -> _Scope:
    """Fill the temp tables flow_scope (the filtered cases) and flow_stints for this connection.

    The period applies to received_at; `with_period=False` keeps every case received by "now" (the
    current-state views: stalls, open cases by age) and marks those of the period in `in_period`.
    Without as_of, "now" is the latest receipt and every stored event counts; with as_of, what
    happened after it is not seen yet. Without the period, only the cases of the period and the
    cases open at "now" are kept: nothing reads the closed ones outside the period.

    The stints come from the summary sum_stints; with as_of, the cases that moved or closed after
    it are measured again as of then (flow_stints.sql on them alone).
    """

    period = flt.resolve(con, filters)
    now = period.now
    seen_until = now if filters.as_of else summaries.ALL_SEEN
    condition, params = flt.where(filters, "c", with_period=with_period, span=(period.start, period.end))
    if cause:
        condition += " AND EXISTS (SELECT 1 FROM case_causes cc WHERE cc.case_id = c.case_id AND cc.cause = ?)"
        params.append(cause)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE flow_scope AS
        SELECT * FROM (
            SELECT c.case_id, c.received_at, c.channel, c.product, c.department, c.status, c.priority,
                   c.received_at >= ? AND c.received_at < ? AS in_period,
                   CASE WHEN c.updated_at <= ? THEN c.updated_at END AS updated_at,
                   CASE WHEN c.closed_at <= ? THEN c.closed_at END AS closed_at,
                   coalesce(c.closed_at <= ?, {status_done_sql("c")}) AS closed
            FROM cases c
            WHERE c.received_at <= ? AND {condition})
        WHERE {"TRUE" if with_period else "in_period OR NOT closed"}""",
                [period.start, period.end, seen_until, seen_until, seen_until, seen_until, *params])
    _stints(con, seen_until, bool(filters.as_of))
    return _Scope(period, now, seen_until)


def _stints(con: duckdb.DuckDBPyConnection, seen_until: datetime, as_of: bool) -> None:
    """flow_stints of the cases in flow_scope: read from sum_stints, measured again only for the
    cases an as-of view sees differently (an event or the closure after seen_until)."""
    stints_params = {"now": seen_until, "return_pattern": words_pattern(RETURN_ACTIONS)}
    if not summaries.ready(con):   # a store of an earlier release, not written since: scan
        con.execute(db.sql("flow_stints"), stints_params)
        return
    con.execute("""
        CREATE OR REPLACE TEMP TABLE flow_dirty AS
        SELECT f.case_id FROM sum_case_flow f SEMI JOIN flow_scope s ON s.case_id = f.case_id
        WHERE $as_of AND (f.last_event_at > $seen OR f.closed_at > $seen)""", {"as_of": as_of, "seen": seen_until})
    if con.execute("SELECT count(*) FROM flow_dirty").fetchone()[0]:
        con.execute("CREATE OR REPLACE TEMP TABLE flow_scope_all AS FROM flow_scope")
        con.execute("CREATE OR REPLACE TEMP TABLE flow_scope AS FROM flow_scope_all SEMI JOIN flow_dirty USING (case_id)")
        con.execute(db.sql("flow_stints"), stints_params)
        con.execute("CREATE OR REPLACE TEMP TABLE flow_scope AS FROM flow_scope_all")
        con.execute("DROP TABLE flow_scope_all")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE flow_stints AS SELECT {summaries.STINT_COLUMNS} FROM sum_stints LIMIT 0")
    # The receipt range first, as values: sum_stints is in order of receipt, so only those row groups are read.
    first, last = con.execute("SELECT min(received_at), max(received_at) FROM flow_scope").fetchone()
    con.execute(f"""
        INSERT INTO flow_stints
        SELECT {summaries.STINT_COLUMNS} FROM sum_stints s
        WHERE s.received_at BETWEEN ? AND ?
          AND s.case_id IN (SELECT case_id FROM flow_scope) AND s.case_id NOT IN (SELECT case_id FROM flow_dirty)""",
                [first, last])


def _events_known(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store has time-stamped hand-off records at all (an events export was loaded)."""
    return con.execute("SELECT EXISTS (SELECT 1 FROM case_events WHERE source = 'events' AND \"at\" IS NOT NULL)"
                       ).fetchone()[0]


def _desk_known(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any department in the store is one of definitions.RECEIVING_DESKS."""
    return con.execute("""
        SELECT EXISTS (SELECT 1 FROM case_events
                       WHERE list_contains($d, from_department) OR list_contains($d, to_department))
            OR EXISTS (SELECT 1 FROM cases WHERE list_contains($d, department))""",
                       {"d": list(RECEIVING_DESKS)}).fetchone()[0]


# ---------------------------------------------------------------- coverage

@dataclass(frozen=True)
class Coverage:
    """What the data can tell: which cases have timed events, route hops only, or neither."""

    now: datetime
    cases: int
    timed_cases: int                       # with time-stamped events (an events export)
    route_cases: int                       # with hops from a route column only: no times
    no_event_cases: int                    # neither: current department and status only
    untimed_departments: tuple[str, ...]   # held cases, but never with a time-stamped event
    events_known: bool                     # the store has time-stamped events at all
    desk_known: bool                       # a department of the store is one of definitions.RECEIVING_DESKS
    scored: bool                           # emotion levels were analysed (case_scores has rows)


def coverage(filters: flt.Filters, cause: str | None = None, store: Path | str | None = None) -> Coverage:
    """How much of the flow the data covers, for the page to say what is missing."""
    with db.reader(store) as con:
        scope = _prepare(con, filters, cause)
        counts = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE source = 'events'), count(*) FILTER (WHERE source = 'route'),
                   count(*) FILTER (WHERE source = 'case')
            FROM flow_stints WHERE n = 0""").fetchone()
        untimed = [r[0] for r in con.execute(
            "SELECT department FROM flow_stints GROUP BY department HAVING NOT bool_or(source = 'events') "
            "ORDER BY count(*) DESC, department").fetchall()]
        scored = con.execute("SELECT EXISTS (SELECT 1 FROM case_scores)").fetchone()[0]
        return Coverage(scope.now, *counts, tuple(untimed), _events_known(con), _desk_known(con), scored)


def cause_options(store: Path | str | None = None) -> list[str]:
    """Causes present in the store, most frequent first (for the page's cause filter)."""
    with db.reader(store) as con:
        if summaries.ready(con):   # a case is received on one day: the daily counts add up to its cases
            return [r[0] for r in con.execute(
                "SELECT key FROM sum_daily WHERE dimension = 'cause' AND key IS NOT NULL GROUP BY key "
                "ORDER BY sum(cases) DESC, key").fetchall()]
        return [r[0] for r in con.execute(
            "SELECT cause FROM case_causes GROUP BY cause ORDER BY count(DISTINCT case_id) DESC, cause").fetchall()]


# ---------------------------------------------------------------- the Sankey

def sankey_stages(max_hops: int = DEFAULT_MAX_HOPS) -> list[str]:
    """Column titles of the Sankey, left to right."""
    return (["受付チャネル", "受付部署"] + [f"{i}回目の移管先" for i in range(1, max_hops + 1)]
            + ["それ以降", "結果"])


def sankey_links(filters: flt.Filters, cause: str | None = None, max_hops: int = DEFAULT_MAX_HOPS,
                 store: Path | str | None = None) -> pd.DataFrame:
    """Links of the flow channel → receiving department → up to `max_hops` hand-offs → 「…」 → 完了/未完了.

    Columns: source_stage, source, target_stage, target, cases (stage = index in sankey_stages()).
    Every case contributes one path; a department met twice on a path sits in two columns.
    """
    if not 1 <= max_hops <= 10:
        raise _option_error("表示する移管の回数は 1〜10 で指定してください。", "max_hops must be 1..10")
    with db.reader(store) as con:
        _prepare(con, filters, cause)
        paths = con.execute("""
            WITH paths AS (
                SELECT sc.case_id, coalesce(nullif(trim(sc.channel), ''), '（不明）') AS channel, sc.closed,
                       list(st.department ORDER BY st.n) AS holders
                FROM flow_scope sc JOIN flow_stints st USING (case_id)
                GROUP BY sc.case_id, sc.channel, sc.closed)
            SELECT channel, holders[1:$shown] AS shown, len(holders) > $shown AS more, closed, count(*) AS cases
            FROM paths GROUP BY ALL""", {"shown": max_hops + 1}).fetchall()
    links: dict[tuple[int, str, int, str], int] = {}
    more_stage, outcome_stage = max_hops + 2, max_hops + 3
    for channel, shown, more, closed, cases in paths:
        nodes = [(0, channel)] + [(1 + i, holder) for i, holder in enumerate(shown)]
        if more:
            nodes.append((more_stage, MORE_HOPS))
        nodes.append((outcome_stage, OUTCOME_CLOSED if closed else OUTCOME_OPEN))
        for (s_stage, s_name), (t_stage, t_name) in zip(nodes, nodes[1:]):
            key = (s_stage, s_name, t_stage, t_name)
            links[key] = links.get(key, 0) + cases
    frame = pd.DataFrame([(*k, v) for k, v in links.items()],
                         columns=["source_stage", "source", "target_stage", "target", "cases"])
    return frame.sort_values(["source_stage", "cases"], ascending=[True, False], ignore_index=True)


# ---------------------------------------------------------------- per department

def department_stats(filters: flt.Filters, cause: str | None = None, store: Path | str | None = None) -> pd.DataFrame:
    """Per department: cases held in the period, median and 90th-percentile holding hours, the share of
    hand-offs received that were given back (差し戻し率), and its open cases now by age since receipt.

    Open cases are counted as of "now" whatever the period (an old case still open matters most).
    """
    with db.reader(store) as con:
        scope = _prepare(con, filters, cause, with_period=False)
        held = con.execute(db.sql("flow_departments")).df()
        ages = con.execute(db.sql("flow_open_ages"), {"now": scope.now}).df()
    frame = held.merge(ages, on="部署", how="outer")
    for column in ages.columns[1:]:
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("担当件数", "時刻のある保持", "時刻のない保持", "受け取った移管", "差し戻し"):
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame.sort_values(["担当件数", "未完了計"], ascending=False, ignore_index=True)


# ---------------------------------------------------------------- stalls

@dataclass(frozen=True)
class Stalls:
    cases: pd.DataFrame     # one row per stalled case, longest without movement first
    ranking: pd.DataFrame   # departments by stalled cases, then by median stall age
    open_cases: int         # open cases looked at
    unknown: int            # open cases whose last movement is unknown (no timed events, no 更新日時)
    now: datetime
    stall_days: int


def stalls(filters: flt.Filters, cause: str | None = None, stall_days: int = STALL_DAYS,
           store: Path | str | None = None) -> Stalls:
    """Open cases with no movement for `stall_days` days or more as of "now", with who holds them and
    since when, and the departments ranked by stalled cases. The period filter does not apply: a case
    received long ago and still stuck is exactly what this is for; the other filters do."""
    if not 1 <= int(stall_days) <= 3650:
        raise _option_error("滞留とみなす日数は 1〜3650 日で指定してください。", "stall_days must be 1..3650")
    with db.reader(store) as con:
        scope = _prepare(con, filters, cause, with_period=False)
        con.execute(db.sql("flow_stalls"), {"events_known": _events_known(con)})
        params = {"now": scope.now, "days": int(stall_days)}
        con.execute("""
            CREATE OR REPLACE TEMP TABLE flow_stalled AS
            SELECT *, greatest(date_diff('second', last_move, $now), 0) / 86400.0 AS stall_days
            FROM flow_open WHERE last_move <= $now - to_days(CAST($days AS INTEGER))""", params)
        cases = con.execute("""
            SELECT case_id AS ケース番号, received_at AS 受付日時, holder AS 現在の担当,
                   round(date_diff('second', held_since, $now) / 86400.0, 1) AS "担当になってから（日）",
                   round(stall_days, 1) AS "最後の動きから（日）", last_move AS 最後の動き,
                   status AS 対応状況, channel AS チャネル, product AS 商品
            FROM flow_stalled ORDER BY last_move, case_id""", {"now": scope.now}).df()
        ranking = con.execute("""
            SELECT o.holder AS 部署, count(s.case_id) AS 滞留件数,
                   round(median(s.stall_days), 1) AS "滞留日数の中央値", round(max(s.stall_days), 1) AS "最長（日）",
                   count(*) AS 未完了件数
            FROM flow_open o LEFT JOIN flow_stalled s USING (case_id)
            GROUP BY o.holder HAVING count(s.case_id) > 0
            ORDER BY 滞留件数 DESC, "滞留日数の中央値" DESC, 部署""").df()
        open_cases, unknown = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE last_move IS NULL) FROM flow_open").fetchone()
    return Stalls(cases, ranking, open_cases, unknown, scope.now, int(stall_days))


# ---------------------------------------------------------------- ping-pong

@dataclass(frozen=True)
class PingPong:
    cases: pd.DataFrame   # one row per bounced case, most bounces first
    pairs: pd.DataFrame   # department pairs by bounced cases


def ping_pong(filters: flt.Filters, cause: str | None = None, store: Path | str | None = None) -> PingPong:
    """Cases bounced back and forth between two departments (A→B→A, possibly repeated): how many
    bounces, and how long the loop took from the first A→B until the case finally left it."""
    with db.reader(store) as con:
        scope = _prepare(con, filters, cause)
        con.execute(db.sql("flow_pingpong"), {"now": scope.now})
        cases = con.execute("""
            SELECT case_id AS ケース番号, received_at AS 受付日時, sender || ' ⇄ ' || receiver AS 往復した部署,
                   bounces AS 差し戻し回数, round(loop_hours, 1) AS "往復にかかった時間（時間）",
                   ongoing AS 往復中, route AS 経路, holder AS 現在の担当, status AS 対応状況, channel AS チャネル
            FROM flow_pingpong ORDER BY bounces DESC, loop_hours DESC NULLS LAST, case_id""").df()
        pairs = con.execute("""
            SELECT sender || ' ⇄ ' || receiver AS 往復した部署, count(*) AS ケース数, sum(bounces) AS 差し戻し回数,
                   round(median(loop_hours), 1) AS "往復にかかった時間の中央値（時間）",
                   round(sum(loop_hours), 1) AS "往復にかかった時間の合計（時間）"
            FROM flow_pingpong GROUP BY sender, receiver ORDER BY ケース数 DESC, 差し戻し回数 DESC, 往復した部署""").df()
    return PingPong(cases, pairs)


# ---------------------------------------------------------------- escalation check

@dataclass(frozen=True)
class EscalationCheck:
    cases: pd.DataFrame      # severe cases not escalated within the limit, longest wait first
    by_theme: pd.DataFrame   # per theme: cases, escalated cases and rate, severe cases, missed ones
    severe: int              # severe cases in scope (emotion level, high priority or an escalation cue)
    in_time: int             # escalated within the limit
    resolved: int            # closed at the desk within the limit, without escalation
    not_due: int             # open, not escalated yet, deadline still ahead
    untimed: int             # escalated, but only a route column shows it (no time)
    not_desk: int            # never held by a receiving desk
    min_level: int
    within_hours: float


def escalation_check(filters: flt.Filters, cause: str | None = None, min_level: int = DEFAULT_MIN_LEVEL,
                     within_hours: float = DEFAULT_WITHIN_HOURS, include_signals: bool = True,
                     store: Path | str | None = None) -> EscalationCheck:
    """Severe cases received in the period that sat past `within_hours` after receipt without an
    escalation (see escalation_sql), with their wait; and escalations per theme.

    Severe = case_scores.emotion_level >= min_level; with `include_signals` also a case the desk
    marked high priority (HIGH_PRIORITIES) or whose customer demanded a superior or announced a
    public post (ESCALATION_CUES), whatever its level."""
    if int(min_level) not in (1, 2, 3):
        raise _option_error("感情レベルは 1〜3 で指定してください。", "min_level must be 1, 2 or 3")
    if not 0 < float(within_hours) <= 24 * 365:
        raise _option_error("エスカレーションの期限は 365 日（8760 時間）以内の正の時間で指定してください。",
                            "within_hours must be in (0, 8760]")
    with db.reader(store) as con:
        scope = _prepare(con, filters, cause)
        escalated, params = (summaries.escalated_cases_sql(until=scope.seen_until) if summaries.ready(con)
                             else escalated_cases_sql(until=scope.seen_until))
        con.execute(f"CREATE OR REPLACE TEMP TABLE flow_escalated AS SELECT * FROM ({escalated}) "
                    "WHERE case_id IN (SELECT case_id FROM flow_scope)", params)
        con.execute(db.sql("flow_escalation"), {
            "now": scope.now, "min_level": int(min_level), "within_hours": float(within_hours),
            "high_priorities": [p.lower() for p in HIGH_PRIORITIES] if include_signals else [],
            "cues": list(ESCALATION_CUES) if include_signals else [],
            "desks": list(RECEIVING_DESKS), "desk_known": _desk_known(con)})
        cases = con.execute("""
            SELECT case_id AS ケース番号, received_at AS 受付日時, emotion_level AS 感情レベル, priority AS 優先度,
                   CASE verdict WHEN 'waiting' THEN $waiting WHEN 'closed_without' THEN $closed ELSE $late END AS 状態,
                   round(wait_hours, 1) AS "待ち時間（時間）", escalated_at AS エスカレーション日時,
                   holder AS 現在の担当, status AS 対応状況, channel AS チャネル,
                   array_to_string(reasons, ' ／ ') AS 理由
            FROM flow_severe WHERE list_contains($listed, verdict)
            ORDER BY wait_hours DESC NULLS FIRST, case_id""",
                             {"waiting": VERDICT_LABELS["waiting"], "closed": VERDICT_LABELS["closed_without"],
                              "late": VERDICT_LABELS["late"], "listed": list(LISTED_VERDICTS)}).df()
        counts = dict(con.execute("SELECT verdict, count(*) FROM flow_severe GROUP BY verdict").fetchall())
        by_theme = con.execute(db.sql("flow_themes")).df()
    tallies = (counts.get(v, 0) for v in ("in_time", "resolved", "not_due", "untimed", "not_desk"))
    return EscalationCheck(cases, by_theme, sum(counts.values()), *tallies, int(min_level), float(within_hours))


# ---------------------------------------------------------------- theme × department

def theme_department_matrix(filters: flt.Filters, cause: str | None = None,
                            store: Path | str | None = None) -> pd.DataFrame:
    """Who handles what, how fast: per theme and department, cases held and the median holding hours.

    Long format (テーマ, 部署, 件数, 保持時間の中央値（時間）), themes in rules-file order, 未分類 last.
    """
    with db.reader(store) as con:
        _prepare(con, filters, cause)
        return con.execute(db.sql("flow_matrix")).df()
