"""Recurrence (再発): causes that keep coming back, whether each countermeasure (再発防止策) worked
and whether its cause returned later, customers who had to contact the desk again and again, and
near-duplicate contacts that would otherwise count one incident many times.

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
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from pipelines.store import db
from pipelines.store.filters import Filters, resolve, where

if TYPE_CHECKING:   # alerts imports the detectors' statistics; the page's child process needs none of it
    from pipelines.detect.alerts import Alert

DIMENSIONS = ("cause", "theme", "product")
DIMENSION_LABELS = {"cause": "原因", "theme": "テーマ", "product": "商品"}
VERDICTS = ("効果あり", "効果不明", "悪化")
PLACEHOLDER_CONTACTS = 50   # a customer key on more cases than this is a placeholder, not a person


# -- matching a countermeasure's target -------------------------------------------------------

_BRACKETS = re.compile(r"[\s\u3000「」『』【】\[\]()（）〔〕<>＜＞\"'“”‘’]+")


def name_key(text: str | None) -> str:
    """How target names are compared: NFKC, case-folded, without spaces or brackets.

    >>> name_key(" ｷｬｯﾌﾟ 不良 ") == name_key("キャップ不良")
    True
    """
    return _BRACKETS.sub("", unicodedata.normalize("NFKC", text or "")).casefold()


@dataclass(frozen=True)
class TargetNames:
    """The cause, theme and product names present in a store (what a target can match)."""

    causes: tuple[str, ...]
    themes: tuple[tuple[str, str], ...]      # (theme_id, name)
    products: tuple[str, ...]

    def display(self, dimension: str, key: str) -> str:
        if dimension == "theme":
            return dict(self.themes).get(key, key)
        return key


def target_names(con: duckdb.DuckDBPyConnection) -> TargetNames:
    """Names present in the store, most frequent first (themes in rules-file order)."""
    causes = tuple(r[0] for r in con.execute(
        "SELECT cause FROM case_causes GROUP BY 1 ORDER BY count(*) DESC, 1").fetchall())
    themes = tuple((r[0], r[1]) for r in con.execute(
        "SELECT theme_id, name FROM themes ORDER BY position, theme_id").fetchall())
    products = tuple(r[0] for r in con.execute(
        "SELECT product FROM cases WHERE product IS NOT NULL AND trim(product) <> '' "
        "GROUP BY 1 ORDER BY count(*) DESC, 1").fetchall())
    return TargetNames(causes, themes, products)


def match_target(con: duckdb.DuckDBPyConnection, target: str | None) -> tuple[str, str] | None:
    """A countermeasure's target → (dimension, key): ("cause", canonical cause), ("theme",
    theme_id) or ("product", product name); None when it names nothing in the store.

    Exact names first (causes, then themes, then products), compared without NFKC, space or
    bracket differences; then the cause dictionary's aliases (キャップの締め不良 → キャップ不良);
    then a product named by part of its name when exactly one product contains it.
    """
    return _match(target_names(con), target)


def _match(names: TargetNames, target: str | None) -> tuple[str, str] | None:
    key = name_key(target)
    if not key:
        return None
    for cause in names.causes:
        if name_key(cause) == key:
            return "cause", cause
    for theme_id, theme in names.themes:
        if name_key(theme) == key or theme_id.casefold() == key:
            return "theme", theme_id
    for product in names.products:
        if name_key(product) == key:
            return "product", product
    from pipelines.rules.causes import canonical_cause

    canonical = name_key(canonical_cause(target or ""))
    for cause in names.causes:
        if name_key(cause) == canonical:
            return "cause", cause
    if len(key) >= 2:
        partial = [p for p in names.products if key in name_key(p)]
        if len(partial) == 1:
            return "product", partial[0]
    return None


@dataclass(frozen=True)
class TargetMatch:
    dimension: str
    key: str
    name: str          # what the page shows (a theme's name rather than its ID)

    @property
    def label(self) -> str:
        return f"{self.name}（{DIMENSION_LABELS[self.dimension]}）"


def describe_target(target: str, store: Path | str | None = None) -> TargetMatch | None:
    """What a countermeasure target typed on the page would be evaluated against, if anything."""
    with db.reader(store, wait_seconds=2.0) as con:
        names = target_names(con)
    found = _match(names, target)
    return TargetMatch(found[0], found[1], names.display(*found)) if found else None


def target_choices(store: Path | str | None = None) -> list[str]:
    """Names the countermeasure form offers: causes, then themes, then products."""
    with db.reader(store, wait_seconds=2.0) as con:
        names = target_names(con)
    return list(dict.fromkeys([*names.causes, *(name for _, name in names.themes), *names.products]))


# -- exact Poisson rate test ------------------------------------------------------------------

@dataclass(frozen=True)
class RateTest:
    """Two Poisson counts and their exposures (days), compared."""

    before_count: int
    before_days: float
    after_count: int
    after_days: float
    p_value: float

    @property
    def before_rate(self) -> float:
        return self.before_count / self.before_days if self.before_days else float("nan")

    @property
    def after_rate(self) -> float:
        return self.after_count / self.after_days if self.after_days else float("nan")

    @property
    def ratio(self) -> float:
        """after rate / before rate (inf when nothing happened before)."""
        if self.before_count == 0:
            return float("inf") if self.after_count else float("nan")
        return self.after_rate / self.before_rate


def rate_test(before_count: int, before_days: float, after_count: int, after_days: float,
              alternative: str = "two-sided") -> RateTest:
    """Exact test that two Poisson rates are equal: given n = before + after, the after count is
    Binomial(n, after_days / (before_days + after_days)) under equal rates.

    `alternative` is about the after rate: "less" (it dropped), "greater" (it rose) or "two-sided".

    >>> round(rate_test(20, 10, 5, 10).p_value, 6)   # 2 · P(Bin(25, ½) ≤ 5) = 2 · 68406 / 2**25
    0.004077
    """
    from scipy.stats import binomtest

    if alternative not in ("less", "greater", "two-sided"):
        raise ValueError(f"alternative must be less, greater or two-sided, not {alternative!r}")
    if before_days <= 0 or after_days <= 0:
        raise ValueError("both windows need a positive length in days")
    total = int(before_count) + int(after_count)
    p_value = 1.0 if total == 0 else float(binomtest(int(after_count), total, after_days / (before_days + after_days),
                                                     alternative=alternative).pvalue)
    return RateTest(int(before_count), float(before_days), int(after_count), float(after_days), min(p_value, 1.0))


# -- countermeasures: before/after and returns ------------------------------------------------

@dataclass(frozen=True)
class EffectOptions:
    """How a countermeasure is evaluated."""

    before_days: int = 90       # window before the countermeasure
    after_days: int = 90        # window after it, once the lag has passed
    lag_days: int = 7           # implementation lag left out of the after window
    alpha: float = 0.05         # significance level of every test
    return_ratio: float = 1.0   # "came back": the rate is back to (at least) this multiple of the one before
    min_days: int = 14          # shortest window (or stretch of a return) worth testing


@dataclass(frozen=True)
class Return:
    """A cause that dropped after its countermeasure and later came back."""

    since: date                 # first day of the return
    detected_on: date           # first day on which the data up to it showed the return
    observed: int               # cases from `since` to the end of the horizon
    expected: float             # what the lowered rate after the countermeasure predicted for that stretch
    days: int
    before_rate: float          # cases/day before the countermeasure
    low_rate: float             # cases/day between the countermeasure (+ lag) and the return
    return_rate: float          # cases/day since the return
    p_value: float              # the rise from the low rate, exact Poisson test
    current: bool               # no later countermeasure on the same target

    @property
    def level(self) -> float:
        """The return rate as a multiple of the rate before the countermeasure."""
        return self.return_rate / self.before_rate if self.before_rate else float("inf")


@dataclass(frozen=True)
class Evaluation:
    """One countermeasure, its matched target, the before/after test and any return."""

    implemented_on: date
    target: str
    department: str | None
    description: str | None
    match: TargetMatch | None
    test: RateTest | None
    verdict: str                # 効果あり / 効果不明 / 悪化
    note: str                   # why a verdict is 効果不明 for want of data, in Japanese
    returned: Return | None


def countermeasure_effects(filters: Filters = Filters(), options: EffectOptions = EffectOptions(),
                           store: Path | str | None = None) -> list[Evaluation]:
    """Every countermeasure, evaluated under the filters' product/channel/department/theme choice.
    The windows are set around each countermeasure, not by the period; "now" is the filters'."""
    with db.reader(store, wait_seconds=2.0) as con:
        now = resolve(con, filters).now if _has_cases(con) else None
        return evaluate_countermeasures(con, filters, options, now)


def evaluate_countermeasures(con: duckdb.DuckDBPyConnection, filters: Filters, options: EffectOptions,
                             now: datetime | None) -> list[Evaluation]:
    """The work behind countermeasure_effects and return_alerts, on an open connection."""
    measures = con.execute("SELECT implemented_on, target, department, description FROM countermeasures "
                           "ORDER BY implemented_on, target").fetchall()
    first = con.execute("SELECT CAST(min(received_at) AS DATE) FROM cases").fetchall()[0][0]
    if not measures or first is None:
        return []
    now = now or con.execute("SELECT max(received_at) FROM cases").fetchall()[0][0]
    end = now.date() + timedelta(days=1)           # exclusive: the day "now" falls on counts
    names = target_names(con)
    matches = {target: _match(names, target) for _, target, _, _ in measures}
    subjects = sorted({m for m in matches.values() if m})
    series = _daily_series(con, subjects, filters, first, end, until=now)
    later = _next_on_same_target(measures, matches)
    evaluations = []
    for index, (day, target, department, description) in enumerate(measures):
        found = matches[target]
        match = TargetMatch(found[0], found[1], names.display(*found)) if found else None
        counts = series.get(found, np.zeros(max(0, (end - first).days), dtype=np.int64)) if found else None
        evaluations.append(_evaluate_one(day, target, department, description, match, counts, first, end,
                                         later.get(index), options))
    return evaluations


def _has_cases(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT count(*) > 0 FROM cases").fetchall()[0][0]


def _next_on_same_target(measures: list[tuple], matches: dict) -> dict[int, date]:
    """For each countermeasure, the date of the next one on the same matched target."""
    later: dict[int, date] = {}
    for index, (day, target, _, _) in enumerate(measures):
        for other_day, other_target, _, _ in measures[index + 1:]:
            if matches[target] and matches[other_target] == matches[target] and other_day > day:
                later[index] = other_day
                break
    return later


def _daily_series(con: duckdb.DuckDBPyConnection, subjects: list[tuple[str, str]], filters: Filters,
                  first: date, end: date, until: datetime | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Daily case counts per (dimension, key) from `first` to `end` (exclusive), zeros filled;
    cases received after `until` (when given) are left out."""
    if not subjects:
        return {}
    condition, params = where(filters, "c", with_period=False)
    frame = pd.DataFrame(subjects, columns=["dimension", "key"])
    con.register("kk_subjects", frame)
    try:
        rows = con.execute(db.sql("recurrence_subject_days").replace("{where}", condition),
                           [*params, datetime.combine(first, datetime.min.time()),
                            min(datetime.combine(end, datetime.min.time()),
                                until + timedelta(microseconds=1) if until else datetime.max)]).fetchall()
    finally:
        con.unregister("kk_subjects")
    length = max(0, (end - first).days)      # "now" (as_of) may lie before the first case
    series = {subject: np.zeros(length, dtype=np.int64) for subject in subjects}
    for dimension, key, day, cases in rows:
        series[(dimension, key)][(day - first).days] = cases
    return series


def _evaluate_one(day: date, target: str, department, description, match: TargetMatch | None,
                  counts: np.ndarray | None, first: date, end: date, next_day: date | None,
                  options: EffectOptions) -> Evaluation:
    def result(test, verdict, note, returned=None):
        return Evaluation(day, target, department, description, match, test, verdict, note, returned)

    if match is None:
        return result(None, "効果不明", "対象に一致する原因・テーマ・商品がありません")
    start = (day - first).days                      # index of the countermeasure day
    horizon = (min(end, next_day) - first).days if next_day else (end - first).days
    before_from = max(0, start - options.before_days)
    before_days = max(0, min(start, len(counts)) - before_from)
    after_from = start + options.lag_days
    after_to = min(after_from + options.after_days, horizon)
    after_days = max(0, after_to - after_from)
    if before_days < options.min_days:
        return result(None, "効果不明", f"対策前のデータが{max(before_days, 0)}日分しかありません")
    if after_days < options.min_days:
        return result(None, "効果不明", f"対策後（{options.lag_days}日の準備期間の後）のデータが{after_days}日分しかありません")
    before_count = int(counts[before_from:before_from + before_days].sum())
    test = rate_test(before_count, before_days, int(counts[after_from:after_to].sum()), after_days)
    verdict = "効果不明"
    if test.p_value < options.alpha:
        verdict = "効果あり" if test.after_rate < test.before_rate else "悪化"
    note = "" if after_days >= options.after_days else f"対策後は{after_days}日分で判定"
    returned = _find_return(before_count, before_days, counts[after_from:horizon], first + timedelta(days=after_from),
                            options, current=next_day is None)
    return result(test, verdict, note, returned)


def _change_point(post: np.ndarray, min_days: int) -> int | None:
    """The split of `post` into a low then a higher stretch (each ≥ min_days) that maximises the
    Poisson likelihood of two constant rates; None when no split has a higher second stretch."""
    from scipy.special import xlogy

    n = len(post)
    if n < 2 * min_days:
        return None
    cumulative = np.concatenate([[0], np.cumsum(post)])
    splits = np.arange(min_days, n - min_days + 1)
    low, high = cumulative[splits], cumulative[n] - cumulative[splits]
    low_rate, high_rate = low / splits, high / (n - splits)
    likelihood = xlogy(low, low_rate) - low + xlogy(high, high_rate) - high
    likelihood[high_rate <= low_rate] = -np.inf
    best = int(np.argmax(likelihood))
    return int(splits[best]) if np.isfinite(likelihood[best]) else None


def _return_at(before_count: int, before_days: int, post: np.ndarray, options: EffectOptions) -> tuple | None:
    """(split, low test, rise test) when `post` dropped below the rate before and came back."""
    split = _change_point(post, options.min_days)
    if split is None or before_count == 0:
        return None
    low_count, high_count = int(post[:split].sum()), int(post[split:].sum())
    high_days = len(post) - split
    if high_count / high_days < options.return_ratio * before_count / before_days:
        return None
    dropped = rate_test(before_count, before_days, low_count, split, alternative="less")
    if dropped.p_value >= options.alpha:
        return None
    rose = rate_test(low_count, split, high_count, high_days, alternative="greater")
    if rose.p_value >= options.alpha:
        return None
    return split, dropped, rose


def _find_return(before_count: int, before_days: int, post: np.ndarray, post_start: date,
                 options: EffectOptions, current: bool) -> Return | None:
    found = _return_at(before_count, before_days, post, options)
    if found is None:
        return None
    split, _, rose = found
    # The first day on which the data up to that day already showed a return.
    detected = len(post)
    for upto in range(split + options.min_days, len(post) + 1):
        if _return_at(before_count, before_days, post[:upto], options) is not None:
            detected = upto
            break
    before_rate = before_count / before_days
    days = len(post) - split
    return Return(since=post_start + timedelta(days=split), detected_on=post_start + timedelta(days=detected - 1),
                  observed=rose.after_count, expected=rose.before_rate * days, days=days, before_rate=before_rate,
                  low_rate=rose.before_rate, return_rate=rose.after_rate, p_value=rose.p_value, current=current)


def _day_label(day: date, now: date) -> str:
    return f"{day.month}月{day.day}日" if day.year == now.year else f"{day.year}年{day.month}月{day.day}日"


def return_message(evaluation: Evaluation, now: date) -> str:
    """「キャップ不良：4月4日の対策後に減少したが、6月1日から再び増加（対策前の水準の1.3倍）」"""
    back, match = evaluation.returned, evaluation.match
    name = match.name if name_key(match.name) == name_key(evaluation.target) else \
        f"{match.name}（対策の対象「{evaluation.target}」）"
    return (f"{name}：{_day_label(evaluation.implemented_on, now)}の対策後に減少したが、"
            f"{_day_label(back.since, now)}から再び増加（対策前の水準の{back.level:.1f}倍）")


def return_alerts(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> list[Alert]:
    """Causes (themes, products) that dropped after their countermeasure and came back, as alerts
    for the alerts feed: one per countermeasure that is still the latest on its target. Only data
    received up to `now` (default: the latest case) is read, so a past day can be replayed."""
    from pipelines.detect.alerts import Alert

    evaluations = evaluate_countermeasures(con, Filters(preset="all"), EffectOptions(), now)
    if not evaluations:
        return []
    today = (now or con.execute("SELECT max(received_at) FROM cases").fetchall()[0][0]).date()
    alerts = []
    for evaluation in evaluations:
        back = evaluation.returned
        if back is None or not back.current:
            continue
        alerts.append(Alert(
            kind="return", dimension=evaluation.match.dimension, key=evaluation.match.key,
            name=evaluation.match.name, granularity="day", since=back.since, detected_on=back.detected_on,
            observed=back.observed, expected=round(back.expected, 1), p_value=back.p_value,
            score=min(-math.log10(max(back.p_value, 1e-300)), 50.0), message=return_message(evaluation, today)))
    return sorted(alerts, key=lambda a: (a.since, a.name))


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
        series = _daily_series(con, [(dimension, key)], filters, span[0], end)[(dimension, key)]
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
        if not _has_cases(con):
            return RecurringCauses(_recurring_frame([]), (), datetime.min, datetime.min)
        period = resolve(con, filters)
        last_day = (period.end - timedelta(days=1)).date()
        start = min(period.start, datetime.combine(_month_start(last_day, options.months - 1), datetime.min.time()))
        first = con.execute("SELECT min(received_at) FROM cases").fetchall()[0][0]
        start = max(start, datetime.combine(first.date(), datetime.min.time()))
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
    window_days: int = 30       # each contact within this many days of the previous one
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
        if not _has_cases(con):
            return pd.DataFrame(columns=columns)
        period = resolve(con, filters)
        condition, params = where(filters, "c", with_period=False)
        rows = con.execute(db.sql("recurrence_repeats").replace("{where}", condition),
                           [*params, period.end, options.window_days, options.min_contacts, period.start,
                            options.limit]).fetchall()
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
        if not _has_cases(con):
            return NearDuplicates(0, 0, 0, _group_frame([]), _member_frame(con, {}, {}))
        condition, params = where(filters, "c", con=con)
        total = con.execute(f"SELECT count(*) FROM cases c WHERE {condition}", params).fetchall()[0][0]
        con.execute(db.sql("recurrence_dup_docs").replace("{where}", condition), [*params, PLACEHOLDER_CONTACTS])
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
        row = con.execute("""
            SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM analysis_state),
                   (SELECT count(DISTINCT case_id) FROM case_causes),
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
        found = _match(names, target)
        matched.append(TargetMatch(found[0], found[1], names.display(*found)).label if found else "（一致なし）")
    frame.insert(2, "評価した対象", pd.Series(matched, dtype="object"))
    frame["実施日"] = pd.Series([d.date() for d in frame["実施日"]], dtype="object")   # a day, not a midnight
    return frame



# -- recording a countermeasure from the page -------------------------------------------------

def record_from_page(implemented_on: date | None, target: str | None, department: str | None,
                     description: str | None, timeout: float = 180.0, store: Path | str | None = None) -> bool:
    """Record one countermeasure in a short child process and wait for it; True when it was new.

    The Streamlit server reads the store from many threads; a write from inside it would make
    DuckDB refuse those readers ("different configuration"), whereas a write from another process
    shows them the ordinary lock, which they wait out or report as 更新中. Bad input raises the
    KakehashiError of countermeasures.record_countermeasure before any process is started.
    """
    import json
    import subprocess
    import sys

    from pipelines.ingest.countermeasures import _checked_entry, mask_description
    from pipelines.store.errors import KakehashiError
    from pipelines.store.settings import PROJECT_DIR, db_path

    implemented_on, target, department, description = _checked_entry(implemented_on, target, department, description)
    # Masked here, where the tokenizer is already loaded, so the child only writes.
    description = mask_description(description)
    entry = {"implemented_on": implemented_on.isoformat(), "target": target, "department": department,
             "description": description, "store": str(db_path(store))}
    try:
        done = subprocess.run([sys.executable, "-m", "pipelines.reports.recurrence", "record-countermeasure"],
                              cwd=PROJECT_DIR, input=json.dumps(entry, ensure_ascii=False), capture_output=True,
                              text=True, encoding="utf-8", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise KakehashiError("countermeasure_write", "データの更新が長引いているため、再発防止策を保存できませんでした。",
                             f"Recording the countermeasure timed out after {timeout:.0f} s.",
                             "取り込みや分析が終わってから、もう一度「登録する」を押してください。",
                             "Wait for the running load or analysis to finish, then try again.") from exc
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines else {}
    if "inserted" in answer:
        return bool(answer["inserted"])
    error = answer.get("error") or {}
    raise KakehashiError(error.get("code", "countermeasure_write"),
                         error.get("ja", "再発防止策を保存できませんでした。"),
                         error.get("en", f"Recording the countermeasure failed: {done.stderr.strip()[-500:]}"),
                         error.get("hint_ja", "しばらくしてから再度お試しください。取り込み中のときは終わるまでお待ちください。"),
                         error.get("hint_en", "Try again; check the store is not being loaded."))


def _record_main() -> int:
    """Child side of record_from_page: one JSON entry on stdin, one JSON answer on stdout."""
    import json
    import sys

    from pipelines.ingest.countermeasures import record_countermeasure
    from pipelines.store.errors import KakehashiError

    entry = json.loads(sys.stdin.read())
    try:
        inserted = record_countermeasure(date.fromisoformat(entry["implemented_on"]), entry["target"],
                                         entry.get("department"), entry.get("description"), store=entry["store"],
                                         mask=False)
    except KakehashiError as exc:
        print(json.dumps({"error": {"code": exc.code, "ja": exc.ja, "en": exc.en, "hint_ja": exc.hint_ja,
                                    "hint_en": exc.hint_en}}, ensure_ascii=False))
        return exc.exit_code
    print(json.dumps({"inserted": inserted}))
    return 0

__all__ = [
    "DIMENSIONS", "DataStatus", "DuplicateOptions", "EffectOptions", "Evaluation", "NearDuplicates", "RateTest",
    "RecurringCauses", "RecurringOptions", "RepeatOptions", "Return", "TargetMatch", "TargetNames",
    "countermeasure_effects", "countermeasure_log", "customer_timeline", "data_status", "describe_target",
    "effects_table", "evaluate_countermeasures", "match_target", "name_key", "near_duplicates", "rate_test",
    "record_from_page", "recurring_causes", "repeat_customers", "return_alerts", "return_message", "subject_series",
    "target_choices", "target_names",
]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["record-countermeasure"]:
        print("usage: python -m pipelines.reports.recurrence record-countermeasure < entry.json", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(_record_main())
