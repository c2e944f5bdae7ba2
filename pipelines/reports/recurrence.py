"""Recurrence (再発): what the 再発 page reads — causes that keep coming back, the before/after
table of each countermeasure (evaluated by detect.returns), customers who had to contact the desk
again and again, and near-duplicate contacts that would otherwise count one incident many times.

Counting happens in DuckDB (the SQL is in pipelines/sql/recurrence_*.sql); the statistics run on
the small aggregates: exact Poisson rate tests (a binomial test on counts given the exposure) and
the change point of a cause that returns after its countermeasure.

Definitions used here:
- a case's cause is its `case_causes` row: the export's own cause column when it had one (it
  replaces the extracted causes at analysis), else the causes extracted from the text;
- a countermeasure's target is matched by `match_target` against cause, theme and product names;
- a repeat chain is one customer's run of contacts on one cause or theme, each within the window
  (default 30 days) of the previous one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.detect.returns import (
    DIMENSIONS,
    Evaluation,
    TargetMatch,
    daily_series,
    has_cases,
    match_names,
    rate_test,
    target_names,
)
from pipelines.store import db, summaries
from pipelines.store.definitions import DIMENSION_LABELS, REPEAT_WINDOW_DAYS
from pipelines.store.filters import Filters, resolve, where

PLACEHOLDER_CONTACTS = 50   # a customer key on more cases than this is a placeholder, not a person


def effects_table(evaluations: list[Evaluation]) -> pd.DataFrame:
    """The before/after table the page shows and exports, one row per countermeasure."""
    rows = []
    for e in evaluations:
        t, back = e.test, e.returned
        rows.append({
            "実施日": e.implemented_on, "対象": e.target, "評価した対象": e.match.label if e.match else "（一致なし）",
            "担当部署": e.department, "内容": e.description,
            "対策前 件数": t.before_count if t else None, "対策前 件/日": round(t.before_rate, 2) if t else None,
            "対策後 件数": t.after_count if t else None, "対策後 件/日": round(t.after_rate, 2) if t else None,
            "増減": f"{t.ratio - 1:+.0%}" if t and math.isfinite(t.ratio) else None,
            "p値": t.p_value if t else None, "判定": e.verdict,
            "再発": (f"{back.since:%Y/%m/%d}から（対策前の{back.level:.1f}倍）" if back else ""),
            "備考": e.note,
        })
    # The verdict and any return first: the table is wide, and they are what the desk looks for.
    return pd.DataFrame(rows, columns=["実施日", "対象", "判定", "再発", "増減", "評価した対象", "対策前 件数", "対策前 件/日",
                                       "対策後 件数", "対策後 件/日", "p値", "担当部署", "内容", "備考"])


def subject_series(dimension: str, key: str, filters: Filters = Filters(), granularity: str = "week",
                   store: Path | str | None = None) -> pd.DataFrame:
    """Cases per week (or month) of one target over the whole store, for the before/after chart."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}, not {dimension!r}")
    if granularity not in ("week", "month"):
        raise ValueError("granularity must be week or month")
    with db.reader(store, wait_seconds=2.0) as con:
        span = con.execute("SELECT CAST(min(received_at) AS DATE), CAST(max(received_at) AS DATE) "
                           "FROM cases").fetchall()[0]
        if span[0] is None:
            return pd.DataFrame({"期間": pd.Series(dtype="datetime64[ns]"), "件数": pd.Series(dtype="int64")})
        end = span[1] + timedelta(days=1)
        series = daily_series(con, [(dimension, key)], filters, span[0], end)[(dimension, key)]
    days = pd.Series(series, index=pd.date_range(span[0], periods=len(series), freq="D"))
    rule = "W-MON" if granularity == "week" else "MS"
    binned = days.resample(rule, label="left", closed="left").sum()
    return pd.DataFrame({"期間": binned.index, "件数": binned.to_numpy()})


# -- recurring causes ------------------------------------------------------------------------

@dataclass(frozen=True)
class RecurringOptions:
    months: int = 12            # at least this many calendar months up to the end of the period
    min_cases: int = 3          # a month counts as active with at least this many cases
    recent_months: int = 3      # the trend compares these last months with the months before
    theme_fallback: bool = False    # count a case without any cause under its themes
    alpha: float = 0.05


@dataclass(frozen=True)
class RecurringCauses:
    table: pd.DataFrame         # one row per cause (or theme), most persistent first
    months: tuple[date, ...]    # the calendar months of the 月別件数 lists
    start: datetime
    end: datetime


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def recurring_causes(filters: Filters = Filters(), options: RecurringOptions = RecurringOptions(),
                     store: Path | str | None = None) -> RecurringCauses:
    """Causes ranked by how persistently they recur: months with at least `min_cases` cases, then
    the longest run of such months, then the count; with the trend of the last months."""
    with db.reader(store, wait_seconds=2.0) as con:
        if not has_cases(con):
            return RecurringCauses(_recurring_frame([]), (), datetime.min, datetime.min)
        period = resolve(con, filters)
        last_day = (period.end - timedelta(days=1)).date()
        start = min(period.start, datetime.combine(_month_start(last_day, options.months - 1), datetime.min.time()))
        first = con.execute("SELECT min(received_at) FROM cases").fetchall()[0][0]
        start = max(start, datetime.combine(first.date(), datetime.min.time()))
        if _unfiltered(filters) and summaries.ready(con):
            rows = con.execute(db.sql("recurrence_causes_summary"), {
                "start": start, "end": period.end, "theme_fallback": options.theme_fallback}).fetchall()
        else:
            condition, params = where(filters, "c", span=(start, period.end))
            rows = con.execute(db.sql("recurrence_causes").replace("{where}", condition),
                               [*params, options.theme_fallback]).fetchall()
        names = target_names(con)
    months = []
    month = _month_start(start.date())
    while month <= last_day:
        months.append(month)
        month = _month_start(month + timedelta(days=32))
    recent_start = _month_start(last_day, options.recent_months - 1)
    recent_days = (period.end.date() - max(recent_start, start.date())).days
    earlier_days = (recent_start - start.date()).days
    monthly: dict[tuple[str, str], dict[date, int]] = {}
    for dimension, key, month, cases in rows:
        monthly.setdefault((dimension, key), {})[month] = cases
    records = []
    for (dimension, key), by_month in monthly.items():
        counts = [by_month.get(m, 0) for m in months]
        active = [c >= options.min_cases for c in counts]
        recent = sum(c for m, c in zip(months, counts) if m >= recent_start)
        earlier = sum(counts) - recent
        trend, ratio, p_value = "—", None, None
        if earlier_days >= 28 and recent_days > 0:
            test = rate_test(earlier, earlier_days, recent, recent_days)
            ratio, p_value = test.ratio, test.p_value
            trend = "横ばい" if p_value >= options.alpha else ("増加" if test.after_rate > test.before_rate else "減少")
        records.append({
            "区分": DIMENSION_LABELS[dimension], "原因": names.display(dimension, key), "dimension": dimension, "key": key,
            "発生月数": sum(active), "最長連続月数": _longest_run(active), "件数": sum(counts),
            "直近 件/月": round(recent / recent_days * 30.4, 1) if recent_days > 0 else None,
            "それ以前 件/月": round(earlier / earlier_days * 30.4, 1) if earlier_days > 0 else None,
            "傾向": trend, "傾向比": round(ratio, 2) if ratio is not None and math.isfinite(ratio) else None,
            "p値": p_value, "月別件数": counts,
        })
    return RecurringCauses(_recurring_frame(records), tuple(months), start, period.end)


def _unfiltered(filters: Filters) -> bool:
    """No filter but the period: the summaries answer for the whole store."""
    return not (filters.products or filters.channels or filters.departments or filters.themes)


def _recurring_frame(records: list[dict]) -> pd.DataFrame:
    columns = ["区分", "原因", "dimension", "key", "発生月数", "最長連続月数", "件数", "直近 件/月", "それ以前 件/月",
               "傾向", "傾向比", "p値", "月別件数"]
    frame = pd.DataFrame(records, columns=columns)
    if frame.empty:
        return frame
    return frame.sort_values(["発生月数", "最長連続月数", "件数", "原因"], ascending=[False, False, False, True],
                             ignore_index=True)


def _longest_run(flags: list[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


# -- repeat contacts --------------------------------------------------------------------------

@dataclass(frozen=True)
class RepeatOptions:
    window_days: int = REPEAT_WINDOW_DAYS   # each contact within this many days of the previous one
    min_contacts: int = 3
    limit: int = 200


def repeat_customers(filters: Filters = Filters(), options: RepeatOptions = RepeatOptions(),
                     store: Path | str | None = None) -> pd.DataFrame:
    """Customers who contacted the desk again and again on the same cause or theme, most contacts
    first (then the shorter span, then the higher emotion level). A chain counts when one of its
    contacts falls in the period; its contacts before the period count too."""
    columns = ["顧客", "回数", "内容", "初回", "最終", "期間（日）", "最大感情レベル", "チャネル", "商品", "最新の対応状況",
               "customer_key", "dimension", "key", "case_ids"]
    with db.reader(store, wait_seconds=2.0) as con:
        if not has_cases(con):
            return pd.DataFrame(columns=columns)
        period = resolve(con, filters)
        query = db.sql("recurrence_repeats").replace("{members}", _chain_members(con, filters, options, period.end))
        rows = con.execute(query, {"end": period.end, "min_contacts": options.min_contacts, "start": period.start,
                                   "limit": options.limit}).fetchall()
        names = target_names(con)
    records = []
    for key_, dimension, key, contacts, first_at, last_at, case_ids, _span, emotion, channels, products, status in rows:
        records.append({
            "顧客": key_, "回数": contacts, "内容": f"{DIMENSION_LABELS[dimension]}: {names.display(dimension, key)}",
            "初回": first_at, "最終": last_at, "期間（日）": (last_at - first_at).days,
            "最大感情レベル": emotion, "チャネル": "、".join(channels or []), "商品": "、".join(products or []),
            "最新の対応状況": status, "customer_key": key_, "dimension": dimension, "key": key, "case_ids": list(case_ids),
        })
    return pd.DataFrame(records, columns=columns)


def _chain_members(con: duckdb.DuckDBPyConnection, filters: Filters, options: RepeatOptions, end: datetime) -> str:
    """The chain members repeat_customers reads: the summary sum_chains when it holds the answer (no
    filter but the period, the standard window, chains of two or more), else the chains of the
    filtered cases, computed here (TEMP TABLE kk_chain_members)."""
    if (_unfiltered(filters) and options.window_days == REPEAT_WINDOW_DAYS and options.min_contacts >= 2
            and summaries.ready(con)):
        return "SELECT customer_key, dimension, key, chain, case_id, received_at FROM sum_chains"
    condition, params = where(filters, "c", with_period=False)
    con.execute("CREATE OR REPLACE TEMP TABLE kk_chain_scope AS SELECT c.case_id, c.customer_key, c.received_at "
                f"FROM cases c WHERE {condition} AND c.received_at < ?", [*params, end])
    con.execute("CREATE OR REPLACE TEMP TABLE kk_chain_members AS "
                + summaries.chain_members_sql("SELECT * FROM kk_chain_scope"), {"window": options.window_days})
    return "SELECT * FROM kk_chain_members"


def customer_timeline(customer_key: str, limit: int = 200, store: Path | str | None = None) -> pd.DataFrame:
    """Every contact of one customer, oldest first: date, channel, themes, causes, status, emotion
    level, hand-offs between departments and the (masked) text, to be shown as plain text."""
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute("""
            SELECT c.received_at AS 受付日時, c.channel AS チャネル, c.product AS 商品,
                   coalesce((SELECT string_agg(th.name, '、' ORDER BY th.position) FROM case_themes t
                             JOIN themes th USING (theme_id) WHERE t.case_id = c.case_id), '') AS テーマ,
                   coalesce((SELECT string_agg(x.cause, '、' ORDER BY x.cause) FROM case_causes x
                             WHERE x.case_id = c.case_id), '') AS 原因,
                   c.status AS 対応状況, sc.emotion_level AS 感情レベル,
                   (SELECT count(*) FROM case_events e WHERE e.case_id = c.case_id) AS 移管回数,
                   c.text AS 問い合わせ内容, c.case_id AS ケース番号
            FROM cases c LEFT JOIN case_scores sc USING (case_id)
            WHERE c.customer_key = ?
            ORDER BY c.received_at, c.case_id
            LIMIT ?""", [customer_key, limit]).df()


# -- near-duplicate contacts ------------------------------------------------------------------

@dataclass(frozen=True)
class DuplicateOptions:
    window_days: int = 30               # same customer: contacts this close in time
    similarity: float = 0.6             # same customer: shared terms / the smaller term set
    anonymous_window_days: int = 3      # sender unknown: same product, this close in time
    anonymous_similarity: float = 0.8   # sender unknown: Jaccard of the term sets
    min_shared_terms: int = 3


@dataclass(frozen=True)
class NearDuplicates:
    cases: int                  # cases in scope
    groups: int                 # groups of two or more near-duplicate cases
    grouped_cases: int          # cases that belong to a group
    table: pd.DataFrame         # one row per group, largest first
    members: pd.DataFrame       # one row per grouped case

    @property
    def deduplicated(self) -> int:
        """Cases counted once per incident: each group counts as one case."""
        return self.cases - self.grouped_cases + self.groups


def near_duplicates(filters: Filters = Filters(), options: DuplicateOptions = DuplicateOptions(),
                    store: Path | str | None = None) -> NearDuplicates:
    """Groups of cases in the period that repeat one complaint: the same customer writing again in
    other words (or a reopened case), or an unknown sender posting near-identical text."""
    with db.reader(store, wait_seconds=2.0) as con:
        if not has_cases(con):
            return NearDuplicates(0, 0, 0, _group_frame([]), _member_frame(con, {}, {}))
        period = resolve(con, filters)
        condition, params = where(filters, "c", span=(period.start, period.end))
        total = con.execute(f"SELECT count(*) FROM cases c WHERE {condition}", params).fetchall()[0][0]
        if summaries.ready(con):
            termsets = "SELECT case_id, terms FROM sum_termsets WHERE received_at >= ? AND received_at < ?"
            termset_params = [period.start, period.end]
        else:
            termsets = summaries.termsets_sql(f"SELECT c.case_id, c.received_at FROM cases c WHERE {condition}")
            termset_params = params
        con.execute(db.sql("recurrence_dup_docs").replace("{where}", condition).replace("{termsets}", termsets),
                    [*params, PLACEHOLDER_CONTACTS, *termset_params])
        anonymous = con.execute("SELECT count(*) FROM kk_dup_docs WHERE customer_key IS NULL").fetchall()[0][0]
        if anonymous:
            con.execute(db.sql("recurrence_dup_tokens"), [options.anonymous_similarity])
        else:   # nobody unknown: the prefix join has nothing to find
            con.execute("CREATE OR REPLACE TEMP TABLE kk_dup_tokens (case_id VARCHAR, customer_key VARCHAR, "
                        "product VARCHAR, received_at TIMESTAMP, term VARCHAR, n BIGINT)")
        pairs = con.execute(db.sql("recurrence_dup_pairs"), [
            options.window_days, options.anonymous_window_days, options.anonymous_similarity,
            options.min_shared_terms, options.similarity, options.anonymous_similarity]).fetchall()
        group_of, best = _group_pairs(pairs)
        members = _member_frame(con, group_of, best)
    table = _group_frame(members)
    return NearDuplicates(int(total), int(table.shape[0]), int(members.shape[0]), table, members)


def _group_pairs(pairs: list[tuple]) -> tuple[dict[str, int], dict[str, float]]:
    """Connected components of the near-duplicate pairs: case_id → group number (1 = largest),
    and each case's highest similarity to another member."""
    parent: dict[str, str] = {}

    def root(case_id: str) -> str:
        while parent.setdefault(case_id, case_id) != case_id:
            parent[case_id] = parent[parent[case_id]]
            case_id = parent[case_id]
        return case_id

    best: dict[str, float] = {}
    for a, b, _kind, _shared, similarity in pairs:
        parent[root(a)] = root(b)
        best[a], best[b] = max(best.get(a, 0.0), similarity), max(best.get(b, 0.0), similarity)
    components: dict[str, list[str]] = {}
    for case_id in list(parent):
        components.setdefault(root(case_id), []).append(case_id)
    ordered = sorted(components.values(), key=lambda ids: (-len(ids), min(ids)))
    return {case_id: number for number, ids in enumerate(ordered, 1) for case_id in ids}, best


def _member_frame(con: duckdb.DuckDBPyConnection, group_of: dict[str, int], best: dict[str, float]) -> pd.DataFrame:
    ids = pd.DataFrame({"case_id": list(group_of), "grp": list(group_of.values()),
                        "similarity": [round(best.get(c, 0.0), 2) for c in group_of]})
    con.register("kk_dup_members", ids)
    try:
        return con.execute("""
            SELECT m.grp AS グループ, c.case_id AS ケース番号, c.received_at AS 受付日時, c.channel AS チャネル,
                   c.customer_key AS 顧客, c.product AS 商品, c.status AS 対応状況, m.similarity AS 類似度,
                   c.text AS 問い合わせ内容
            FROM kk_dup_members m JOIN cases c USING (case_id)
            ORDER BY m.grp, c.received_at, c.case_id""").df()
    finally:
        con.unregister("kk_dup_members")


def _group_frame(members) -> pd.DataFrame:
    columns = ["グループ", "件数", "最初の受付", "最後の受付", "顧客", "商品", "チャネル", "最初の問い合わせ内容"]
    if not isinstance(members, pd.DataFrame) or members.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for group, part in members.groupby("グループ", sort=True):
        rows.append({
            "グループ": group, "件数": len(part), "最初の受付": part["受付日時"].min(), "最後の受付": part["受付日時"].max(),
            "顧客": _customers(part["顧客"]), "商品": "、".join(sorted(part["商品"].dropna().unique())),
            "チャネル": "、".join(sorted(part["チャネル"].dropna().unique())),
            "最初の問い合わせ内容": part.iloc[0]["問い合わせ内容"],
        })
    return pd.DataFrame(rows, columns=columns)


def _customers(keys: pd.Series) -> str:
    known = sorted(k for k in keys.dropna().unique() if str(k).strip())
    unknown = len(known) < keys.shape[0] and (keys.isna().any() or (keys.astype(str).str.strip() == "").any())
    return "、".join([*known, *(["不明"] if unknown else [])])


# -- what the page can show -------------------------------------------------------------------

@dataclass(frozen=True)
class DataStatus:
    cases: int
    analysed: int               # cases with analysis results (themes, causes, scores)
    with_cause: int
    with_customer: int
    countermeasures: int
    events: int


def data_status(store: Path | str | None = None) -> DataStatus:
    """What the store holds that this page uses, so it can say what is missing."""
    with db.reader(store, wait_seconds=2.0) as con:
        # Cases with a cause: every case less those without one, from the daily summary when present.
        with_cause = ("(SELECT coalesce(sum(cases), 0) FROM sum_daily WHERE dimension = 'all') - "
                      "(SELECT coalesce(sum(cases), 0) FROM sum_daily WHERE dimension = 'cause' AND key IS NULL)"
                      if summaries.ready(con) else "(SELECT count(DISTINCT case_id) FROM case_causes)")
        row = con.execute(f"""
            SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM analysis_state),
                   {with_cause},
                   (SELECT count(*) FROM cases WHERE customer_key IS NOT NULL AND trim(customer_key) <> ''),
                   (SELECT count(*) FROM countermeasures), (SELECT count(*) FROM case_events)""").fetchall()[0]
    return DataStatus(*row)


def countermeasure_log(store: Path | str | None = None) -> pd.DataFrame:
    """The 再発防止策 log, newest first, with what each target was matched to and where it came from."""
    with db.reader(store, wait_seconds=2.0) as con:
        names = target_names(con)
        frame = con.execute("""
            SELECT m.implemented_on AS 実施日, m.target AS 対象, m.department AS 担当部署, m.description AS 内容,
                   b.file_name AS 登録元
            FROM countermeasures m LEFT JOIN import_batches b USING (batch_id)
            ORDER BY m.implemented_on DESC, m.target""").df()
    matched = []
    for target in frame["対象"]:
        found = match_names(names, target)
        matched.append(TargetMatch(found[0], found[1], names.display(*found)).label if found else "（一致なし）")
    frame.insert(2, "評価した対象", pd.Series(matched, dtype="object"))
    frame["実施日"] = pd.Series([d.date() for d in frame["実施日"]], dtype="object")   # a day, not a midnight
    return frame
