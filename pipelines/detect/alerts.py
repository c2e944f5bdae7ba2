"""Alerts: what rose unusually (spikes, sustained shifts) and causes that returned after their
countermeasure. The `Alert` record is shared by the detectors, the pages and the `alerts` CLI.

The detector works on daily count series (one per theme, cause and product) and runs as a daily
job would: every test at day t looks only at days up to t, so `detect` over the last four weeks
gives exactly the alerts a job run each morning would have raised. Per series and day:

- day spike: the day's count against the previous 28 days (weekdays and weekends apart);
- week spike: the trailing 7 days against the 8 weeks before them;
- shift: a Poisson CUSUM over the last 14 days, tuned to a doubling; within its run, the start
  whose stretch is likeliest raised is the "since" of every alert, and the stretch is tested
  against the 28 days before that start.

Each test is an upper-tail Poisson test, or negative binomial when the baseline is over-dispersed,
with the uncertainty of the baseline mean added to the variance, and a minimum count. A series'
three tests are combined by Simes' rule and Benjamini–Hochberg runs across all series of a day;
firings of one series at most a week apart form one alert (its first firing); the budget keeps
the strongest. docs/alerts.md explains the choices and the back-test that measured them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import duckdb
import numpy as np
from scipy import stats

from pipelines.analysis.topics import compound_terms
from pipelines.detect.alert import DIMENSIONS, KINDS, Alert
from pipelines.detect.returns import return_alerts
from pipelines.nlp.vocabulary import FORMAL_NOUNS, KEEP_NEGATED, NEGATED_SUFFIX, VOC_STOP_WORDS
from pipelines.store import db, summaries
from pipelines.store import filters as flt


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's knobs; the defaults are the ones docs/alerts.md back-tested."""

    baseline_days: int = 28        # day test: the days before
    baseline_weeks: int = 8        # week test: the weeks before the trailing week
    cusum_days: int = 14           # CUSUM window: the longest stretch an alert reports
    cusum_ratio: float = 2.0       # the rise the CUSUM is tuned to (× baseline)
    cusum_threshold: float = 3.0   # CUSUM alarm level (in log-likelihood-ratio units)
    min_day: int = 3               # fewest cases on a day for a day spike
    min_week: int = 5              # fewest cases in the trailing week for a week spike
    min_stretch: int = 5           # fewest cases in a shift's stretch
    fdr: float = 0.05              # Benjamini–Hochberg level across the series of a day
    episode_gap: int = 7           # firings of a series this many days apart or fewer are one alert
    # Negative binomial once the Pearson statistic of the baseline passes this upper quantile of
    # its chi-square: 0.5 ≈ "estimated dispersion above 1". A stricter test (0.05) keeps Poisson
    # for mildly over-dispersed series and raised the false alerts by half in the back-test.
    dispersion_level: float = 0.5

    @property
    def history_days(self) -> int:
        """Days of data before an evaluated day that every test needs."""
        return max(self.baseline_days, 6 + 7 * self.baseline_weeks, self.cusum_days - 1 + self.baseline_days)


DEFAULT_CONFIG = DetectorConfig()
TESTS = (("spike", "day"), ("spike", "week"), ("shift", "day"))   # index → (kind, granularity)


@dataclass(frozen=True)
class Signal:
    """One alert of `detect_series`: series row, test, stretch [since, detected_on], evidence."""

    series: int
    kind: str
    granularity: str
    since: date
    detected_on: date
    until: date
    observed: int
    expected: float
    p_value: float
    q_value: float


# -- the pure detector over count series ------------------------------------------------------

@dataclass(frozen=True)
class SeriesTests:
    """Every test on every series and day: arrays shaped (series, days, test) in TESTS order."""

    p: np.ndarray          # upper-tail p-value, 1.0 where the test does not apply
    since: np.ndarray      # day index where the stretch starts
    observed: np.ndarray   # cases in [since, t]
    expected: np.ndarray   # baseline expectation for [since, t]


def upper_tail(observed: np.ndarray, expected: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """P(X ≥ observed) for a count with this mean and variance: Poisson when the variance does not
    exceed the mean, else the negative binomial with that mean and variance."""
    observed, expected, variance = np.broadcast_arrays(np.asarray(observed, float), np.asarray(expected, float),
                                                       np.asarray(variance, float))
    poisson = stats.poisson.sf(observed - 1, expected)
    over = variance > expected * (1 + 1e-9)
    if not over.any():
        return poisson
    size = np.where(over, expected ** 2 / np.where(over, variance - expected, 1.0), 1.0)
    negbin = stats.nbinom.sf(observed - 1, size, np.where(over, expected / np.where(over, variance, 1.0), 0.5))
    return np.where(over, negbin, poisson)


class _Prefix:
    """Prefix sums over days (with a leading zero) for windowed sums by weekday/weekend."""

    def __init__(self, counts: np.ndarray, weekend: np.ndarray) -> None:
        zero = np.zeros((counts.shape[0], 1))
        weekday = ~weekend
        self.all = np.concatenate([zero, np.cumsum(counts, axis=1)], axis=1)
        self.wd = np.concatenate([zero, np.cumsum(counts * weekday, axis=1)], axis=1)
        self.we = np.concatenate([zero, np.cumsum(counts * weekend, axis=1)], axis=1)
        self.wd2 = np.concatenate([zero, np.cumsum(counts ** 2 * weekday, axis=1)], axis=1)
        self.we2 = np.concatenate([zero, np.cumsum(counts ** 2 * weekend, axis=1)], axis=1)
        self.n_wd = np.concatenate([[0], np.cumsum(weekday)])
        self.n_we = np.concatenate([[0], np.cumsum(weekend)])

    def days_between(self, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weekdays and weekend days in [start, stop)."""
        return self.n_wd[stop] - self.n_wd[start], self.n_we[stop] - self.n_we[start]


@dataclass(frozen=True)
class _Baseline:
    """Per series and day: weekday and weekend means of a baseline window, its days, and phi."""

    m_wd: np.ndarray
    m_we: np.ndarray
    n_wd: np.ndarray
    n_we: np.ndarray
    phi: np.ndarray

    def expect(self, e_wd: np.ndarray, e_we: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and predictive variance of the count over e_wd weekdays and e_we weekend days.

        The variance adds the uncertainty of the baseline means themselves (they come from a few
        weeks): without it a quiet month makes an ordinary day look unusual, and p-values on
        small counts come out too small."""
        mean = self.m_wd * e_wd + self.m_we * e_we
        estimate = self.m_wd * e_wd ** 2 / self.n_wd + self.m_we * e_we ** 2 / self.n_we
        return mean, self.phi * (mean + estimate)


def _baseline(prefix: _Prefix, end: np.ndarray, length: int, level: float) -> _Baseline:
    """The `length` days before each `end` index (one per day, or per series and day).

    Means have a floor of half a case over the window, so a series that was silent still has a
    finite expectation. phi is the Pearson statistic over its degrees of freedom when the
    dispersion test rejects at `level`, else 1 (Poisson)."""
    end = np.broadcast_to(end, prefix.all[:, 1:].shape)
    start = np.clip(end - length, 0, None)
    n_wd, n_we = (np.maximum(n, 1) for n in prefix.days_between(start, end))

    def window(sums: np.ndarray) -> np.ndarray:
        return np.take_along_axis(sums, end, axis=1) - np.take_along_axis(sums, start, axis=1)

    s_wd, s_we, q_wd, q_we = window(prefix.wd), window(prefix.we), window(prefix.wd2), window(prefix.we2)
    m_wd = np.maximum(s_wd / n_wd, 0.5 / length)
    m_we = np.maximum(s_we / n_we, 0.5 / length)
    pearson = (q_wd - 2 * m_wd * s_wd + n_wd * m_wd ** 2) / m_wd + (q_we - 2 * m_we * s_we + n_we * m_we ** 2) / m_we
    dof = max(length - 2, 1)
    phi = np.where(pearson > stats.chi2.ppf(1 - level, dof), pearson / dof, 1.0)
    return _Baseline(m_wd, m_we, n_wd, n_we, np.maximum(phi, 1.0))


def series_tests(counts: np.ndarray, first_day: date, first_valid: np.ndarray | None = None,
                 config: DetectorConfig = DEFAULT_CONFIG) -> SeriesTests:
    """Run the three tests on every series (rows of `counts`, one column per day from `first_day`)
    and every day. `first_valid[s]`: first day index with data for series s (earlier days are not
    zeros but unknown)."""
    counts = np.asarray(counts, dtype=float)
    n_series, n_days = counts.shape
    first_valid = np.zeros(n_series, int) if first_valid is None else np.asarray(first_valid, int)
    weekend = np.array([(first_day + timedelta(days=i)).weekday() >= 5 for i in range(n_days)], dtype=bool)
    prefix = _Prefix(counts, weekend)
    days = np.arange(n_days)
    shape = (n_series, n_days, len(TESTS))
    p = np.ones(shape)
    since = np.repeat(days[None, :, None], n_series, axis=0).repeat(len(TESTS), axis=2)
    base_days = config.baseline_days

    # The CUSUM first: the likeliest start within its run is the "since" of all three tests.
    cusum, run_start, cusum_ok = _cusum(counts, weekend, prefix, first_valid, config)

    # Day spike: the day against the 28 days before it.
    base = _baseline(prefix, days, base_days, config.dispersion_level)
    mean, variance = base.expect(~weekend[None, :] * 1.0, weekend[None, :] * 1.0)
    day_ok = (days[None, :] - base_days >= first_valid[:, None]) & (counts >= config.min_day)
    p[:, :, 0] = np.where(day_ok, upper_tail(counts, mean, variance), 1.0)
    since[:, :, 0] = np.where(cusum > 0, run_start, days[None, :])

    # Week spike: the trailing 7 days (always 5 weekdays and 2 weekend days) against the weeks before.
    week_start = np.clip(days - 6, 0, None)
    trailing = prefix.all[:, days + 1] - prefix.all[:, week_start]
    week_base = _baseline(prefix, week_start, 7 * config.baseline_weeks, config.dispersion_level)
    week_base = replace(week_base, phi=_weekly_dispersion(prefix, week_start, week_base.expect(5, 2)[0], config))
    week_mean, week_variance = week_base.expect(5, 2)
    week_ok = (days[None, :] - 6 - 7 * config.baseline_weeks >= first_valid[:, None]) & (trailing >= config.min_week)
    p[:, :, 1] = np.where(week_ok, upper_tail(trailing, week_mean, week_variance), 1.0)
    since[:, :, 1] = np.where(cusum > 0, np.maximum(run_start, days[None, :] - 6), days[None, :] - 6).clip(0)

    # Shift: the CUSUM's stretch against the 28 days before its start.
    since[:, :, 2] = run_start
    observed, expected = np.zeros(shape), np.zeros(shape)
    for test in range(len(TESTS)):
        start = since[:, :, test]
        stretch_base = _baseline(prefix, start, base_days, config.dispersion_level)
        e_wd, e_we = prefix.days_between(start, np.broadcast_to(days + 1, start.shape))
        stretch_mean, stretch_variance = stretch_base.expect(e_wd, e_we)
        observed[:, :, test] = prefix.all[:, days + 1] - np.take_along_axis(prefix.all, start, axis=1)
        expected[:, :, test] = stretch_mean
        if test == 2:
            shift_ok = cusum_ok & (cusum > config.cusum_threshold) & (observed[:, :, 2] >= config.min_stretch)
            p[:, :, 2] = np.where(shift_ok, upper_tail(observed[:, :, 2], stretch_mean, stretch_variance), 1.0)
    return SeriesTests(p, since, observed, expected)


def _weekly_dispersion(prefix: _Prefix, week_start: np.ndarray, week_mean: np.ndarray,
                       config: DetectorConfig) -> np.ndarray:
    """phi of the baseline's whole-week sums around their expectation (1 when not over-dispersed)."""
    weeks = config.baseline_weeks
    pearson = np.zeros(week_mean.shape)
    for k in range(weeks):
        hi = np.clip(week_start - 7 * k, 0, None)
        lo = np.clip(hi - 7, 0, None)
        pearson += (prefix.all[:, hi] - prefix.all[:, lo] - week_mean) ** 2 / week_mean
    dof = max(weeks - 1, 1)
    return np.where(pearson > stats.chi2.ppf(1 - config.dispersion_level, dof), np.maximum(pearson / dof, 1.0), 1.0)


def _cusum(counts: np.ndarray, weekend: np.ndarray, prefix: _Prefix, first_valid: np.ndarray,
           config: DetectorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson CUSUM for a rise to `cusum_ratio` × baseline, over the `cusum_days` up to each day,
    the baseline being the 28 days before that window (scaled down by phi when over-dispersed).
    Returns the statistic at each day, the start of its current run, and where it is defined."""
    n_series, n_days = counts.shape
    days = np.arange(n_days)
    window = config.cusum_days
    origin = np.clip(days - window + 1, 0, None)
    base = _baseline(prefix, origin, config.baseline_days, config.dispersion_level)
    m_wd, m_we, phi = base.m_wd, base.m_we, base.phi
    log_ratio, excess = np.log(config.cusum_ratio), config.cusum_ratio - 1.0
    statistic = np.zeros((n_series, n_days))
    run_start = np.repeat(origin[None, :], n_series, axis=0)
    for step in range(window):
        day = origin + step
        active = day <= days                    # windows near the data's start are shorter
        day = np.minimum(day, days)
        mean = np.where(weekend[day][None, :], m_we, m_wd)
        increment = (counts[:, day] * log_ratio - excess * mean) / phi
        updated = np.maximum(statistic + increment, 0.0)
        reset = active[None, :] & (updated <= 0)
        run_start = np.where(reset, day[None, :] + 1, run_start)
        statistic = np.where(active[None, :], updated, statistic)
    run_start = np.minimum(run_start, days[None, :])
    defined = origin[None, :] - config.baseline_days >= first_valid[:, None]
    return statistic, _likeliest_start(counts, weekend, base, run_start, window), defined


def _likeliest_start(counts: np.ndarray, weekend: np.ndarray, base: _Baseline, run_start: np.ndarray,
                     window: int) -> np.ndarray:
    """Within each CUSUM run, the start whose stretch to today is likeliest to be raised (the
    Poisson likelihood ratio O·ln(O/E) − (O − E), the rise left free): the run's own start tends
    to come early, as any chance-high day before the rise opens the run."""
    n_series, n_days = counts.shape
    days = np.arange(n_days)
    observed = np.zeros((n_series, n_days))
    expected = np.zeros((n_series, n_days))
    best, best_start = np.full((n_series, n_days), -1.0), run_start.copy()
    for back in range(window):
        day = days - back
        inside = (day >= 0)[None, :] & (day[None, :] >= run_start)
        day = np.clip(day, 0, None)
        observed = observed + np.where(inside, counts[:, day], 0.0)
        expected = expected + np.where(inside, np.where(weekend[day][None, :], base.m_we, base.m_wd), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(observed > expected, observed * np.log(observed / expected) - (observed - expected), 0.0)
        better = inside & (ratio > best + 1e-9)
        best = np.where(better, ratio, best)
        best_start = np.where(better, day[None, :], best_start)
    return best_start


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values along the last axis (each row is one family of tests)."""
    p = np.asarray(p, dtype=float)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    # Step-up: q of the i-th smallest is the smallest adjusted value at or above rank i.
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(ranked)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), axis=-1)
    return q


def decide(p: np.ndarray, config: DetectorConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """Which test fired for each series and day of `p` (series, days, tests) — −1 for none — and
    the series' q-value: the tests of a series are combined by Simes' rule, then
    Benjamini–Hochberg runs across all series of each day."""
    n_tests = p.shape[2]
    ordered = np.sort(p, axis=2)
    combined = np.min(ordered * n_tests / np.arange(1, n_tests + 1), axis=2).clip(max=1.0)
    q = benjamini_hochberg(combined.T).T
    return np.where(q <= config.fdr, np.argmin(p, axis=2), -1), q


def episodes(tests: SeriesTests, fired: np.ndarray, q: np.ndarray, first_day: date, evaluate_from: int = 0,
             config: DetectorConfig = DEFAULT_CONFIG) -> list[Signal]:
    """One Signal per run of firings of a series (gaps ≤ episode_gap days), from its first firing."""
    signals = []
    for row, day_index in zip(*np.nonzero(fired[:, evaluate_from:] >= 0)):
        signals.append((int(row), int(day_index) + evaluate_from))
    out: list[Signal] = []
    last_fire: dict[int, int] = {}
    open_episode: dict[int, int] = {}
    for row, t in sorted(signals):
        if row in last_fire and t - last_fire[row] <= config.episode_gap:
            last_fire[row] = t
            out[open_episode[row]] = replace(out[open_episode[row]], until=first_day + timedelta(days=t))
            continue
        test = int(fired[row, t])
        kind, granularity = TESTS[test]
        out.append(Signal(row, kind, granularity, first_day + timedelta(days=int(tests.since[row, t, test])),
                          first_day + timedelta(days=t), first_day + timedelta(days=t),
                          int(round(tests.observed[row, t, test])), float(tests.expected[row, t, test]),
                          float(tests.p[row, t, test]), float(q[row, t])))
        last_fire[row], open_episode[row] = t, len(out) - 1
    return out


def detect_series(counts: np.ndarray, first_day: date, first_valid: Sequence[int] | None = None,
                  evaluate_from: date | None = None, config: DetectorConfig = DEFAULT_CONFIG) -> list[Signal]:
    """Alerts on daily count series (rows of `counts`, one column per day from `first_day`) that a
    daily job run on each day would have raised first on `evaluate_from` (default: the first day)
    or later; a rise already alerted on in the week before `evaluate_from` is not new.

        >>> counts = np.array([[2, 1, 3, 2] * 10 + [2, 12, 14, 3]])
        >>> [(s.kind, s.detected_on) for s in detect_series(counts, date(2025, 1, 6))]
        [('spike', datetime.date(2025, 2, 16))]
    """
    tests = series_tests(counts, first_day, None if first_valid is None else np.asarray(first_valid), config)
    wanted = 0 if evaluate_from is None else max((evaluate_from - first_day).days, 0)
    start = max(wanted - config.episode_gap, 0)   # an episode running at evaluate_from began in this week
    fired, q = np.full(tests.p.shape[:2], -1), np.ones(tests.p.shape[:2])
    fired[:, start:], q[:, start:] = decide(tests.p[:, start:], config)
    found = episodes(tests, fired, q, first_day, start, config)
    return [s for s in found if (s.detected_on - first_day).days >= wanted]


# -- alerts from the store --------------------------------------------------------------------

WORDS_PER_ALERT = 3
WORD_CASES = 150        # at most this many recent and baseline cases per alert are read for its words
_WORD_POS = ("名詞-普通名詞", "名詞-固有名詞", "動詞-一般", "形容詞-一般", "形状詞-一般")
# The POS compound terms are built from (topics.py joins runs of these; a dropped word breaks a run).
_TERM_POS_SQL = "^(名詞|接頭辞|接尾辞-名詞的|接尾辞-形状詞的|動詞-一般|形容詞-一般|形状詞-一般)"


@dataclass(frozen=True)
class Series:
    """One watched series: theme (key = theme_id), cause or product, and its display name."""

    dimension: str
    key: str
    name: str


def detect(con: duckdb.DuckDBPyConnection, now: datetime | None = None, since: date | None = None,
           filters: flt.Filters | None = None, budget: int = 12) -> list[Alert]:
    """Alerts first raised between `since` (default: the 28 days up to now) and `now` (default: the
    latest received_at), highest score first, at most `budget` of them: spikes and shifts of every
    theme, cause and product under `filters`, and causes that returned after their countermeasure."""
    filters = filters or flt.Filters()
    now = now or flt.latest_received(con)
    if now is None:
        return []
    if not isinstance(now, datetime):        # a plain date means the end of that day
        now = datetime.combine(now, time(23, 59, 59))
    if not con.execute("SELECT count(*) FROM cases WHERE received_at <= ?", [now]).fetchall()[0][0]:
        return []                           # "now" before the first case: nothing to compare
    today = now.date()
    since = since or today - timedelta(days=27)
    alerts = _spike_alerts(con, now, since, filters, budget, DEFAULT_CONFIG) if since <= today else []
    returns = [a for a in _return_alerts(con, now, filters) if since <= a.detected_on <= today]
    # Returns first: a cause coming back after its countermeasure is what the desk most needs to
    # hear, and there is at most one per countermeasure.
    return (returns + alerts)[:max(budget, 0)]


def _return_alerts(con: duckdb.DuckDBPyConnection, now: datetime, filters: flt.Filters) -> list[Alert]:
    """returns.return_alerts: computed on every case, so left out while the filters narrow the cases."""
    if any((filters.products, filters.channels, filters.departments, filters.themes)):
        return []
    return sorted(return_alerts(con, now), key=lambda a: -a.score)


def _spike_alerts(con: duckdb.DuckDBPyConnection, now: datetime, since: date, filters: flt.Filters,
                  budget: int, config: DetectorConfig) -> list[Alert]:
    condition, params = flt.where(filters, "c", with_period=False)
    first = con.execute(f"SELECT min(received_at) FROM cases c WHERE {condition} AND c.received_at <= ?",
                        [*params, now]).fetchall()[0][0]
    if first is None:
        return []
    start = max(first.date(), since - timedelta(days=config.episode_gap + config.history_days))
    series, counts, first_valid = load_series(con, filters, start, now)
    if not series:
        return []
    signals = detect_series(counts, start, first_valid, since, config)
    signals.sort(key=lambda s: (s.q_value, -(s.observed - s.expected), s.detected_on))
    signals = signals[:max(budget, 0)]
    words = rising_words(con, [(series[s.series], s.since, s.detected_on) for s in signals], filters, config)
    return [_alert(series[s.series], s, w) for s, w in zip(signals, words)]


def load_series(con: duckdb.DuckDBPyConnection, filters: flt.Filters, start: date, now: datetime
                ) -> tuple[list[Series], np.ndarray, np.ndarray]:
    """Daily counts per theme, cause and product from `start` to the day of `now` (rows: series),
    and for each series the first day index with data: a product's first case (a launch is not a
    spike); for themes and causes day 0, since a first-ever cause is news."""
    condition, params = flt.where(filters, "c", with_period=False)
    # The daily summary holds these series (issue 15) when only the period is chosen and `now` ends
    # its day (a 基準日, or the latest case): a moment inside a day needs that day's cases up to it.
    latest = con.execute("SELECT max(received_at) FROM cases").fetchone()[0]
    unfiltered = not (filters.products or filters.channels or filters.departments or filters.themes) \
        and (now.time() >= time(23, 59, 59) or (latest is not None and now >= latest))
    if unfiltered and summaries.ready(con):
        rows = con.execute(db.sql("trends_alert_series_summary"), {"start": start, "end": now.date()}).fetchall()
    else:
        query = db.sql("trends_alert_series").replace("/*where*/", condition)
        themes = list(filters.themes)
        rows = con.execute(query, [*params, datetime.combine(start, time()), now, themes, themes]).fetchall()
    if not rows:
        return [], np.zeros((0, 0)), np.zeros(0, int)
    n_days = (now.date() - start).days + 1
    order = list(DIMENSIONS)
    keys = sorted({(dimension, key) for dimension, key, _, _ in rows}, key=lambda k: (order.index(k[0]), k[1]))
    index = {k: i for i, k in enumerate(keys)}
    counts = np.zeros((len(keys), n_days))
    for dimension, key, day, n in rows:
        counts[index[(dimension, key)], (day - start).days] = n
    names = dict(con.execute("SELECT theme_id, name FROM themes").fetchall())
    if unfiltered and summaries.ready(con):
        launches = dict(con.execute("SELECT key, min(day) FROM sum_daily WHERE dimension = 'product' AND day <= ? "
                                    "GROUP BY key", [now.date()]).fetchall())
    else:
        launches = dict(con.execute(f"SELECT product, CAST(min(received_at) AS DATE) FROM cases c WHERE {condition} "
                                    "AND c.received_at <= ? GROUP BY product", [*params, now]).fetchall())
    series = [Series(d, k, names.get(k, k) if d == "theme" else k) for d, k in keys]
    first_valid = np.array([max((launches.get(k, start) - start).days, 0) if d == "product" else 0 for d, k in keys])
    return series, counts, first_valid


def _alert(series: Series, signal: Signal, words: tuple[str, ...]) -> Alert:
    return Alert(kind=signal.kind, dimension=series.dimension, key=series.key, name=series.name,
                 granularity=signal.granularity, since=signal.since, detected_on=signal.detected_on,
                 observed=signal.observed, expected=round(signal.expected, 2), p_value=signal.p_value,
                 q_value=signal.q_value, score=round(-np.log10(max(signal.q_value, 1e-300)), 2), words=words,
                 message=message(series.name, series.dimension, signal.kind, signal.since, signal.observed,
                                 signal.expected, words),
                 until=signal.until if signal.until != signal.detected_on else None)


def message(name: str, dimension: str, kind: str, since: date, observed: int, expected: float,
            words: Sequence[str]) -> str:
    """「容器・包装（テーマ）：7月16日から急増（観測 38件／通常 12.4件）。増えた語: 潰れる, 段ボール」"""
    verb = {"spike": "急増", "shift": "増加が継続"}.get(kind, KINDS.get(kind, kind))
    text = (f"{name}（{DIMENSIONS.get(dimension, dimension)}）：{since.month}月{since.day}日から{verb}"
            f"（観測 {observed}件／通常 {expected:.1f}件）。")
    return text + (f"増えた語: {', '.join(words)}" if words else "")


def rising_words(con: duckdb.DuckDBPyConnection, stretches: Sequence[tuple[Series, date, date]],
                 filters: flt.Filters, config: DetectorConfig = DEFAULT_CONFIG) -> list[tuple[str, ...]]:
    """For each (series, since, detected_on): the terms (lemmas or compounds, no stop words) whose
    share of the stretch's cases rose most against the series' cases in the 28 days before."""
    if not stretches:
        return []
    condition, params = flt.where(filters, "c", with_period=False)
    base_from = [since - timedelta(days=config.baseline_days) for _, since, _ in stretches]
    query = db.sql("trends_alert_words").replace("/*where*/", condition)
    themes = list(filters.themes)
    rows = con.execute(query, [
        list(range(len(stretches))), [s.dimension for s, _, _ in stretches], [s.key for s, _, _ in stretches],
        base_from, [since for _, since, _ in stretches], [until for _, _, until in stretches],
        *params, min(base_from), max(until for _, _, until in stretches), themes, themes, WORD_CASES,
        _TERM_POS_SQL]).fetchall()
    features: dict[str, frozenset[str]] = {}
    per_alert: list[tuple[list[frozenset[str]], list[frozenset[str]]]] = [([], []) for _ in stretches]
    for alert_no, case_id, recent, terms in rows:
        if case_id not in features:
            features[case_id] = _case_features(tuple(
                (t["idx"], t["surface"], t["lemma"], t["pos"], t["negated"]) for t in terms))
        per_alert[alert_no][0 if recent else 1].append(features[case_id])
    return [_top_rising(recent, baseline) for recent, baseline in per_alert]


@lru_cache(maxsize=20000)
def _case_features(terms: tuple[tuple, ...]) -> frozenset[str]:
    """A case's countable terms — content-word lemmas (届く(否定) when negated) and compound terms —
    from its (idx, surface, lemma, pos, negated) terms. Cached: a case's terms change only with its
    text, and the page asks again for every period and filter."""

    found = set()
    for _, _, lemma, pos, negated in terms:
        if not pos.startswith(_WORD_POS) or pos.startswith("名詞-普通名詞-副詞可能"):
            continue
        if negated and (not pos.startswith("名詞") or lemma in KEEP_NEGATED):
            found.add(lemma + NEGATED_SUFFIX)
        elif _is_word(lemma):
            found.add(lemma)
    pieces = [SimpleNamespace(idx=i, surface=s, lemma=l, pos=p, negated=n) for i, s, l, p, n in terms]
    found.update(c for c in compound_terms(pieces) if _is_word(c))
    return frozenset(found)


@lru_cache(maxsize=65536)
def _is_word(term: str) -> bool:
    # "-" marks a lemma UniDic keeps a sense tag on (円-助数詞: a bare counter).
    if term in VOC_STOP_WORDS or term in FORMAL_NOUNS or term.startswith("〔") or term.isdigit() or "-" in term:
        return False
    # One kana or Latin letter says nothing (a single kanji such as 箱 does).
    return len(term) > 1 or "\u4e00" <= term <= "\u9fff"


def _top_rising(recent: list[frozenset[str]], baseline: list[frozenset[str]]) -> tuple[str, ...]:
    """Terms in at least 2 (and a tenth) of the recent cases whose share rose at least 1.5×, ranked
    by (recent share − baseline share) × ln(recent share / baseline share): a rise counts by how
    much and by how many times, so neither common words nor one-off rarities win alone."""
    if not recent:
        return ()
    n_recent, n_base = len(recent), len(baseline)
    in_recent: dict[str, int] = {}
    for terms in recent:
        for term in terms:
            in_recent[term] = in_recent.get(term, 0) + 1
    in_base: dict[str, int] = {}
    for terms in baseline:
        for term in terms:
            if term in in_recent:
                in_base[term] = in_base.get(term, 0) + 1
    floor = max(2, -(-n_recent // 10))
    scored = []
    for term, hits in in_recent.items():
        share, before = (hits + 0.5) / (n_recent + 1), (in_base.get(term, 0) + 0.5) / (n_base + 1)
        if hits >= floor and share >= 1.5 * before:
            scored.append(((share - before) * np.log(share / before), len(term), term))
    chosen: list[str] = []
    # Ties go to the longer term: 緩衝材 before its piece 緩衝.
    for _, _, term in sorted(scored, key=lambda x: (-x[0], -x[1], x[2])):
        # 外箱 and 箱 rising together say one thing: keep the stronger.
        if not any(term in other or other in term for other in chosen):
            chosen.append(term)
        if len(chosen) == WORDS_PER_ALERT:
            break
    return tuple(chosen)


def current(filters: flt.Filters, budget: int = 12, store: Path | str | None = None) -> list[Alert]:
    """Alerts of the last 28 days for a page, under the filters' product/channel/department/theme
    choice ("now" = the filters' as_of, else the latest received_at)."""
    with db.reader(store, wait_seconds=2.0) as con:
        now = datetime.combine(filters.as_of, time(23, 59, 59)) if filters.as_of else None
        return detect(con, now=now, filters=filters, budget=budget)


def for_period(filters: flt.Filters, budget: int = 12, store: Path | str | None = None) -> list[Alert]:
    """Alerts first raised inside the filters' period (as the daily job would have raised them)."""
    with db.reader(store, wait_seconds=2.0) as con:
        period = flt.resolve(con, filters)
        now = min(period.end - timedelta(seconds=1), period.now)
        return detect(con, now=now, since=period.start.date(), filters=filters, budget=budget)
