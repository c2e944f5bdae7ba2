"""Countermeasures (再発防止策) and returns: did the cases on a countermeasure's target drop after it,
and did they come back later?

A countermeasure's target (a cause, theme or product named in words) is matched to what the store
holds (match_target); the cases on it before and after are compared with an exact Poisson rate
test, and a change point after the drop finds a return. A return that is still current becomes an
alert of the feed (return_alerts); the 再発 page shows every evaluation (reports.recurrence).
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import binomtest

from pipelines.detect.alert import Alert
from pipelines.rules.causes import canonical_cause
from pipelines.store import db, summaries
from pipelines.store.definitions import DIMENSION_LABELS
from pipelines.store.filters import Filters, resolve, where

# The dimensions a countermeasure's target can name, in the order they are matched.
DIMENSIONS = ("cause", "theme", "product")
VERDICTS = ("効果あり", "効果不明", "悪化")


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
    return match_names(target_names(con), target)


def match_names(names: TargetNames, target: str | None) -> tuple[str, str] | None:
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
    found = match_names(names, target)
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
        now = resolve(con, filters).now if has_cases(con) else None
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
    matches = {target: match_names(names, target) for _, target, _, _ in measures}
    subjects = sorted({m for m in matches.values() if m})
    series = daily_series(con, subjects, filters, first, end, until=now)
    later = _next_on_same_target(measures, matches)
    evaluations = []
    for index, (day, target, department, description) in enumerate(measures):
        found = matches[target]
        match = TargetMatch(found[0], found[1], names.display(*found)) if found else None
        counts = series.get(found, np.zeros(max(0, (end - first).days), dtype=np.int64)) if found else None
        evaluations.append(_evaluate_one(day, target, department, description, match, counts, first, end,
                                         later.get(index), options))
    return evaluations


def has_cases(con: duckdb.DuckDBPyConnection) -> bool:
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


def daily_series(con: duckdb.DuckDBPyConnection, subjects: list[tuple[str, str]], filters: Filters,
                  first: date, end: date, until: datetime | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Daily case counts per (dimension, key) from `first` to `end` (exclusive), zeros filled;
    cases received after `until` (when given) are left out."""
    if not subjects:
        return {}
    condition, params = where(filters, "c", with_period=False)
    frame = pd.DataFrame(subjects, columns=["dimension", "key"])
    con.register("kk_subjects", frame)
    unfiltered = not (filters.products or filters.channels or filters.departments or filters.themes)
    if until is not None and until.time() < datetime.max.time().replace(microsecond=0):
        latest = con.execute("SELECT max(received_at) FROM cases").fetchone()[0]
        unfiltered = unfiltered and latest is not None and until >= latest   # else: the day of `until` in part
    try:
        if unfiltered and summaries.ready(con):   # the daily summary holds these counts (issue 15)
            last = min(end, until.date() + timedelta(days=1)) if until else end
            rows = con.execute(db.sql("recurrence_subject_days_summary"), [first, last]).fetchall()
        else:
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
