"""経営サマリー: the period's KPIs against the previous period, what rose, and one priority list.

Every number here is for the shared filters (pipelines.store.filters): the cases received in the
period, compared with the equally long period before it. Definitions, once:

- 解決日数: closed_at − received_at in days, over the period's cases that have a completion time.
- 未完了: no completion time and a status that does not say done (definitions.CLOSED_STATUSES).
- 再発: the case's cause — or, for a case without a cause, one of its themes — is on 再発's list of
  recurring causes for the same period and rising there (recurring_list: active in at least half
  the months of the list, trend 増加 by at least RECURRING_MIN_RATIO), or it came back after its
  countermeasure (the return detector) and the case came since. The 再発 page marks the same list.
- 高重度: emotion level ≥ HIGH_SEVERITY_LEVEL (2 = angry or urgent, 3 = severe).
- エスカレーション: at least one hand-off out of a receiving desk to another department, or an
  escalation action — the one definition is definitions.escalation_sql (definitions.RECEIVING_DESKS,
  definitions.ESCALATION_ACTIONS).

The priority ranking puts themes, causes and products on one "act on this first" list with a
transparent 100-point score (see PriorityWeights); each row carries its reason in words. The flow
and customer signals (detect.insights) join it as rows of their own, each scored by its own part.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.detect.alerts import DIMENSIONS, KINDS, Alert
from pipelines.detect.insight import INSIGHT_KINDS, Insight
from pipelines.detect.returns import return_alerts
from pipelines.reports import recurrence
from pipelines.store import db, summaries
from pipelines.store import filters as flt
from pipelines.store.definitions import create_effective_causes_view, escalated_cases_sql, status_done_sql

HIGH_SEVERITY_LEVEL = 2
MIN_CASES = 5            # an item needs this many cases in the period to be ranked at all
MIN_CONCERN_SHARE = 0.2  # ranked items: at least this share of cases dissatisfied (level ≥ 1)
COMPARISON = {"4w": "前4週比", "month": "前月同期比", "prev_month": "前月比", "quarter": "前四半期同期比",
              "all": "前期間比", "custom": "前期間比"}


def comparison_label(filters: flt.Filters) -> str:
    """「前4週比」「前月比」…: what the previous period is, in words."""
    return COMPARISON.get(filters.preset, "前期間比")


def _load_period(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> flt.Period:
    """kk_period: the filtered cases of the period and of the previous one, with the flags the
    summary counts (open, current, severe, concern, repeat)."""
    period = flt.resolve(con, filters)
    condition, params = flt.where(filters, alias="c", with_period=False)
    create_effective_causes_view(con)
    # With a 基準日 (as_of) the summary is what was known then: later closures are not seen.
    seen_until = period.now if filters.as_of else datetime.max
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE kk_period AS
        SELECT c.case_id, c.received_at, CASE WHEN c.closed_at <= ? THEN c.closed_at END AS closed_at,
               CASE WHEN c.closed_at IS NOT NULL THEN c.closed_at > ?
                    ELSE NOT {status_done_sql('c')} END AS open,
               c.product,
               (c.received_at >= ? AND c.received_at < ?) AS current,
               coalesce(s.emotion_level, 0) >= ? AS severe,
               coalesce(s.emotion_level, 0) >= 1 AS concern,
               coalesce(s.repeat_contacts, 0) > 0 AS repeat
        FROM cases c LEFT JOIN case_scores s USING (case_id)
        WHERE ((c.received_at >= ? AND c.received_at < ?) OR (c.received_at >= ? AND c.received_at < ?))
          AND {condition}""",
                [seen_until, seen_until, period.start, period.end, HIGH_SEVERITY_LEVEL, period.start, period.end,
                 period.previous_start, period.previous_end, *params])
    return period


def _previous_coverage(con: duckdb.DuckDBPyConnection, period: flt.Period) -> float:
    """Share of the previous period the store has data for (1.0 unless the data starts inside it),
    so growth is not read into a previous period that simply was not loaded."""
    first = con.execute("SELECT min(received_at) FROM cases").fetchone()[0]
    length = (period.previous_end - period.previous_start).total_seconds()
    if first is None or length <= 0:
        return 0.0
    first_day = datetime(first.year, first.month, first.day)
    covered = (period.previous_end - max(period.previous_start, first_day)).total_seconds()
    return min(max(covered / length, 0.0), 1.0)


# -- KPIs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KpiValues:
    """The KPIs of one period (cases received in it)."""

    cases: int = 0
    closed: int = 0                    # cases with a completion time (the resolution-day base)
    mean_days: float | None = None
    median_days: float | None = None
    open_cases: int = 0
    recurring: int = 0
    severe: int = 0
    escalated: int = 0

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.cases if self.cases else None


@dataclass(frozen=True)
class Kpis:
    period: flt.Period
    current: KpiValues
    previous: KpiValues
    previous_coverage: float = 1.0     # < 1: the data starts inside the previous period
    comparison: str = "前期間比"

    @property
    def change(self) -> float | None:
        """Case count change against the previous period (0.25 = +25%); None without a base."""
        if not self.previous.cases or self.previous_coverage < 1.0:
            return None
        return self.current.cases / self.previous.cases - 1.0


# -- 再発件数: what recurs -------------------------------------------------------------------------

RECURRING_MIN_RATIO = 1.3       # 傾向比 (recent months against the months before) a recurring cause needs
RECURRING_MIN_MONTH_SHARE = 0.5  # ... and active in at least this share of the list's months


@dataclass(frozen=True)
class RecurringList:
    """What counts toward 再発件数 for one period: the causes (or themes) of 再発's 繰り返す原因 list
    that persist and rise, and the targets back after their countermeasure (with the day they came back)."""

    keys: tuple[str, ...] = ()                        # 'cause:<cause>' / 'theme:<theme_id>'
    names: tuple[str, ...] = ()                       # the same, in words
    returns: tuple[tuple[str, datetime], ...] = ()    # ('cause:<cause>' / 'theme:…' / 'product:…', since)
    months: int = 0


def is_recurring(active_months: int, trend: str, ratio: float | None, months: int) -> bool:
    """The rule that puts a row of 再発's 繰り返す原因 table on 再発件数's list."""
    return (months > 0 and active_months >= RECURRING_MIN_MONTH_SHARE * months and trend == "増加"
            and ratio is not None and ratio >= RECURRING_MIN_RATIO)


def recurring_list(filters: flt.Filters, store: Path | str | None = None) -> RecurringList:
    """The one definition of what 再発件数 counts for the filters' period (both pages use it)."""
    table = recurrence.recurring_causes(filters, recurrence.RecurringOptions(theme_fallback=True), store=store)
    months = len(table.months)
    rows = [row for row in table.table.itertuples(index=False)
            if is_recurring(row.発生月数, row.傾向, row.傾向比, months)]
    with db.reader(store) as con:
        if flt.latest_received(con) is None:
            return RecurringList()
        period = flt.resolve(con, filters)
        now = min(period.end - timedelta(seconds=1), period.now)
        back = [(f"{a.dimension}:{a.key}", datetime.combine(a.since, time())) for a in return_alerts(con, now)]
    return RecurringList(tuple(f"{row.dimension}:{row.key}" for row in rows), tuple(row.原因 for row in rows),
                         tuple(back), months)


def _previous_filters(filters: flt.Filters, period: flt.Period) -> flt.Filters:
    """The filters of the previous period, as a custom span ending there (its own recurring list)."""
    last = (period.previous_end - timedelta(days=1)).date()
    return replace(filters, preset="custom", start=period.previous_start.date(), end=last, as_of=last)


def kpis(filters: flt.Filters, store: Path | str | None = None) -> Kpis:
    """The KPI cards of the home page, for the period and the previous one."""
    with db.reader(store) as con:
        period = flt.resolve(con, filters)
    lists = (recurring_list(filters, store), recurring_list(_previous_filters(filters, period), store))
    with db.reader(store) as con:
        return _kpis(con, filters, _load_period(con, filters), lists)


def _kpis(con: duckdb.DuckDBPyConnection, filters: flt.Filters, period: flt.Period,
          lists: tuple[RecurringList, RecurringList] = (RecurringList(), RecurringList())) -> Kpis:
    until = period.now if filters.as_of else None
    # The escalated cases from the flow summary when the store has it (the same rows, no event scan).
    escalated_sql, escalated_params = (summaries.escalated_cases_sql(until) if summaries.ready(con)
                                       else escalated_cases_sql(until))
    current, previous = lists
    con.execute(db.sql("summary_recurring"), {
        "current_keys": list(current.keys), "previous_keys": list(previous.keys),
        "return_keys": [k for k, _ in current.returns], "return_since": [s for _, s in current.returns],
        "previous_return_keys": [k for k, _ in previous.returns],
        "previous_return_since": [s for _, s in previous.returns]})
    rows = con.execute(f"""
            SELECT p.current, count(*),
                   count(*) FILTER (WHERE p.closed_at >= p.received_at),
                   avg(epoch(p.closed_at - p.received_at) / 86400.0) FILTER (WHERE p.closed_at >= p.received_at),
                   median(epoch(p.closed_at - p.received_at) / 86400.0) FILTER (WHERE p.closed_at >= p.received_at),
                   count(*) FILTER (WHERE p.open),
                   count(r.case_id), count(*) FILTER (WHERE p.severe), count(e.case_id)
            FROM kk_period p
            LEFT JOIN kk_recurring r USING (case_id)
            LEFT JOIN ({escalated_sql}) e USING (case_id)
            GROUP BY p.current""", escalated_params).fetchall()
    coverage = _previous_coverage(con, period)
    values = {row[0]: KpiValues(*row[1:]) for row in rows}
    return Kpis(period, values.get(True, KpiValues()), values.get(False, KpiValues()), coverage,
                comparison_label(filters))


# -- rising themes, causes and products ---------------------------------------------------------

def _items(con: duckdb.DuckDBPyConnection, period: flt.Period) -> pd.DataFrame:
    """Per theme/cause/product counts (see sql/summary_items.sql) with the growth measures:
    `expected` = previous count scaled to a fully covered previous period, `change` = relative
    change (NaN without a base), `growth_z` = (cases − expected) / √(cases + expected)."""
    items = con.execute(db.sql("summary_items")).df()
    total, total_previous = con.execute(
        "SELECT count(*) FILTER (WHERE current), count(*) FILTER (WHERE NOT current) FROM kk_period").fetchone()
    # An item holding every case of both periods (the one product of the store, or the product the
    # filters select) is the KPI itself, not a part of it.
    items["everything"] = (items["cases"] == total) & (items["previous"] == total_previous)
    coverage = _previous_coverage(con, period)
    items["expected"] = items["previous"] / coverage if coverage >= 0.5 else float("nan")
    base = items["expected"].where(items["expected"] > 0)
    items["change"] = items["cases"] / base - 1.0
    spread = (items["cases"] + items["expected"].fillna(items["cases"])).clip(lower=1) ** 0.5
    items["growth_z"] = ((items["cases"] - items["expected"]) / spread).fillna(0.0)
    return items


def rising(filters: flt.Filters, dimension: str = "theme", limit: int = 5, min_cases: int = MIN_CASES,
           store: Path | str | None = None) -> pd.DataFrame:
    """The themes (or causes, products) that rose most against the previous period.

    Ordered by how clearly they rose — (cases − previous) / √(cases + previous), which neither a
    tiny series doubling nor a big one creeping up tops — among items with ≥ `min_cases` cases.
    Columns: key, name, cases, previous, change (0.5 = +50%; NaN when the previous period had none).
    """
    with db.reader(store) as con:
        items = _items(con, _load_period(con, filters))
    return _rising(items, dimension, limit, min_cases)


def _rising(items: pd.DataFrame, dimension: str, limit: int, min_cases: int) -> pd.DataFrame:
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(DIMENSIONS)}, not {dimension!r}")
    rows = items[(items["dimension"] == dimension) & (items["cases"] >= min_cases) & (items["growth_z"] > 0)]
    rows = rows.sort_values(["growth_z", "cases", "key"], ascending=[False, False, True]).head(limit)
    return rows[["key", "name", "cases", "previous", "change"]].reset_index(drop=True)


# -- priority ranking ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PriorityWeights:
    """Points of the priority score (100 in all). Growth counts fully at `growth_z_full` standard
    deviations above the previous period (or above the baseline of the item's alert stretch, when
    that is clearer); volume, severity and repeat contacts are relative to the largest item of the
    same kind in the period; an active alert on the item adds its points."""

    growth: float = 40.0
    alert: float = 20.0
    volume: float = 15.0
    severity: float = 15.0
    repeat: float = 10.0
    growth_z_full: float = 4.0


def priorities(filters: flt.Filters, alerts: tuple[Alert, ...] | list[Alert] = (), limit: int = 10,
               min_cases: int = MIN_CASES, weights: PriorityWeights = PriorityWeights(),
               store: Path | str | None = None, insights: tuple[Insight, ...] | list[Insight] = ()) -> pd.DataFrame:
    """One ordered "act on this first" list of themes, causes and products with a 0–100 score,
    its parts (growth/alert/volume/severity/repeat points) and the reason in words.

    Items need ≥ `min_cases` cases in the period, and at least MIN_CONCERN_SHARE of them
    dissatisfied (emotion level ≥ 1), which keeps praise and plain questions off the list; an item
    holding every case (the store's only product, the product filtered on) is left out.
    `alerts` are the active alerts (alerts.current); one on an item adds its points. `insights`
    (detect.insights.current: bottleneck departments, repeat contacts, escalation gaps) join the
    list as rows of their own, each scored by its kind's own part.
    """
    with db.reader(store) as con:
        items = _items(con, _load_period(con, filters))
    return _priorities(items, comparison_label(filters), tuple(alerts), limit, min_cases, weights, tuple(insights))


# The score parts of a row: an item's five parts, then each signal kind's own part (the others 0).
ITEM_PARTS = {"growth_points": "増加", "alert_points": "アラート", "volume_points": "件数",
              "severity_points": "高重度", "repeat_points": "再問い合わせ"}
SIGNAL_PARTS = {f"{kind}_points": label for kind, label in INSIGHT_KINDS.items()}
PRIORITY_COLUMNS = ["rank", "dimension", "dimension_label", "key", "name", "score", "reason", "cases", "previous",
                    "change", "severe", "repeat_contacts", "alert_kind", "alert_since", "alert_observed",
                    "alert_expected", "top_product", "top_product_cases", *ITEM_PARTS, *SIGNAL_PARTS, "case_ids"]


def _priorities(items: pd.DataFrame, comparison: str, alerts: tuple[Alert, ...], limit: int, min_cases: int,
                weights: PriorityWeights, insights: tuple[Insight, ...] = ()) -> pd.DataFrame:
    """Items ranked by their score, with each signal (detect.insights) as a row of its own among
    them, scored by its own part (its detector's POINTS)."""
    ranked = _ranked_items(items, comparison, alerts, limit, min_cases, weights)
    signals = pd.DataFrame([_signal_row(insight) for insight in insights], columns=PRIORITY_COLUMNS)
    frames = [frame for frame in (ranked, signals) if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=PRIORITY_COLUMNS)
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    merged = merged.sort_values(["score", "cases", "key"], ascending=[False, False, True], ignore_index=True)
    merged["rank"] = range(1, len(merged) + 1)
    return merged[PRIORITY_COLUMNS]


def _signal_row(insight: Insight) -> dict:
    row = {column: None for column in PRIORITY_COLUMNS}
    row.update({"dimension": insight.kind, "dimension_label": insight.label, "key": insight.subject,
                "name": insight.subject, "score": insight.score, "reason": insight.message, "cases": insight.cases,
                "previous": 0, "severe": 0, "repeat_contacts": 0, "top_product_cases": 0,
                "case_ids": insight.case_ids})
    row.update({part: 0.0 for part in (*ITEM_PARTS, *SIGNAL_PARTS)})
    row[f"{insight.kind}_points"] = insight.score
    return row


def _ranked_items(items: pd.DataFrame, comparison: str, alerts: tuple[Alert, ...], limit: int, min_cases: int,
                  weights: PriorityWeights) -> pd.DataFrame:
    items = items[(items["cases"] >= min_cases) & (items["concern"] >= MIN_CONCERN_SHARE * items["cases"])
                  & ~items["everything"]].copy()
    if items.empty:
        return pd.DataFrame(columns=PRIORITY_COLUMNS)
    matched = [_alert_for(alerts, row.dimension, row.key) for row in items.itertuples()]
    items["alert_kind"] = [a.kind if a else None for a in matched]
    items["alert_since"] = [a.since if a else None for a in matched]
    items["alert_observed"] = [a.observed if a else 0 for a in matched]
    items["alert_expected"] = [a.expected if a else 0.0 for a in matched]
    # An alert's stretch (a few days or weeks) shows a rise the whole period can hide: growth
    # counts whichever of the two is clearer.
    stretch = (items["alert_observed"] + items["alert_expected"]).clip(lower=1) ** 0.5
    items["alert_z"] = (items["alert_observed"] - items["alert_expected"]) / stretch
    items["growth_points"] = weights.growth * (items[["growth_z", "alert_z"]].max(axis=1)
                                               / weights.growth_z_full).clip(0, 1)
    items["alert_points"] = [weights.alert if a else 0.0 for a in matched]
    # Relative to the largest item of the same kind: products are fewer and bigger than causes.
    for column, points, weight in (("cases", "volume_points", weights.volume),
                                   ("severe", "severity_points", weights.severity),
                                   ("repeat_contacts", "repeat_points", weights.repeat)):
        largest = items.groupby("dimension")[column].transform("max")
        items[points] = (weight * items[column] / largest.where(largest > 0)).fillna(0.0)
    parts = ["growth_points", "alert_points", "volume_points", "severity_points", "repeat_points"]
    items["score"] = items[parts].sum(axis=1).round(1)
    items = items.sort_values(["score", "cases", "key"], ascending=[False, False, True]).head(limit)
    items["dimension_label"] = items["dimension"].map(DIMENSIONS)
    items["reason"] = [_reason(row, comparison) for row in items.itertuples()]
    items.insert(0, "rank", range(1, len(items) + 1))
    for part in SIGNAL_PARTS:
        items[part] = 0.0
    items["case_ids"] = [()] * len(items)
    return items[PRIORITY_COLUMNS].reset_index(drop=True)


def _alert_for(alerts: tuple[Alert, ...], dimension: str, key: str) -> Alert | None:
    """The strongest active alert on this item, if any."""
    hits = [a for a in alerts if a.dimension == dimension and a.key == key]
    return max(hits, key=lambda a: a.score) if hits else None


def _reason(row, comparison: str) -> str:
    """「容器・包装：前4週比 +310%（31→127件）、高重度 18件、7月16日から急増」."""
    if math.isnan(row.expected):
        parts = [f"{row.cases:,}件（前期間はデータなし）"]
    elif row.previous == 0:
        parts = [f"新たに {row.cases:,}件（前期間 0件）"]
    elif abs(row.change) < 0.05:
        parts = [f"{row.cases:,}件（{comparison} 横ばい）"]
    else:
        parts = [f"{comparison} {row.change:+.0%}（{row.previous:,}→{row.cases:,}件）"]
    if row.severe:
        parts.append(f"高重度 {row.severe:,}件")
    if row.repeat_contacts:
        parts.append(f"再問い合わせ {row.repeat_contacts:,}件")
    if isinstance(row.top_product, str) and row.dimension != "product" and row.top_product_cases >= 0.5 * row.cases:
        parts.append(f"うち「{row.top_product}」{row.top_product_cases / row.cases:.0%}")
    if isinstance(row.alert_kind, str):   # missing values read back as NaN
        since = row.alert_since
        alert = (f"{since.month}月{since.day}日から{KINDS.get(row.alert_kind, row.alert_kind)}"
                 f"（通常 約{row.alert_expected:,.0f}件→{row.alert_observed:,}件）")
        # The clearer signal leads: a short spike inside a flat period reads first.
        if row.alert_z > row.growth_z:
            parts.insert(0, alert)
        else:
            parts.append(alert)
    return f"{row.name}：" + "、".join(parts)


# -- small volume chart -------------------------------------------------------------------------

def _weekly(con: duckdb.DuckDBPyConnection, filters: flt.Filters, period: flt.Period, weeks: int) -> pd.DataFrame:
    """Filtered cases per week (Monday start) for the `weeks` weeks up to the period's end;
    columns 週 (date), 件数, 期間 (今期 / 前期 / それ以前, by the week's first case), 途中 (the week
    runs past the period's end or the 基準日: its count is partial, not a drop)."""
    condition, params = flt.where(filters, alias="c", with_period=False)
    cut = min(period.end, period.now + timedelta(seconds=1))
    return con.execute(f"""
        SELECT CAST(date_trunc('week', c.received_at) AS DATE) AS 週, count(*) AS 件数,
               CASE WHEN min(c.received_at) >= ? THEN '今期'
                    WHEN min(c.received_at) >= ? THEN '前期' ELSE 'それ以前' END AS 期間,
               date_trunc('week', min(c.received_at)) + INTERVAL 7 DAY > ? AS 途中
        FROM cases c
        WHERE c.received_at >= ? AND c.received_at < ? AND {condition}
        GROUP BY 1 ORDER BY 1""",
                       [period.start, period.previous_start, cut, period.end - timedelta(weeks=weeks), period.end,
                        *params]).df()


# -- the rest of the home page, on one connection -----------------------------------------------

@dataclass(frozen=True)
class HomeSummary:
    rising_themes: pd.DataFrame
    rising_causes: pd.DataFrame
    priorities: pd.DataFrame
    weekly: pd.DataFrame


def home(filters: flt.Filters, alerts: tuple[Alert, ...] | list[Alert] = (), limit: int = 10,
         store: Path | str | None = None, insights: tuple[Insight, ...] | list[Insight] = ()) -> HomeSummary:
    """Rising themes and causes, the priority ranking and the weekly volume in one pass (one
    connection, one period table): what the home page shows below its KPI cards (see kpis)."""
    with db.reader(store) as con:
        period = _load_period(con, filters)
        items = _items(con, period)
        weekly = _weekly(con, filters, period, 26)
    return HomeSummary(_rising(items, "theme", 5, MIN_CASES), _rising(items, "cause", 5, MIN_CASES),
                       _priorities(items, comparison_label(filters), tuple(alerts), limit, MIN_CASES,
                                   PriorityWeights(), tuple(insights)), weekly)
