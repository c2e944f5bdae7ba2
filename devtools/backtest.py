"""Back-test of the alert detector: inject synthetic spikes into real count series and measure
how many are caught, how fast, and how often the detector fires on the data as it is.

The detector's core works on count series (alerts.series_tests → alerts.decide), so spikes are
added to the series in memory; the store is only read. Every injected series is tested again and
decided together with the untouched series of the same days (Benjamini–Hochberg sees the whole
family), as the daily job would have seen it. Injections avoid the spike the sample generator
planted (read from its manifest): no injected stretch comes within `planted_margin` days of it.

    .venv/bin/python bench/backtest_alerts.py            # the table in docs/alerts.md
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.detect import alerts
from pipelines.store import db
from pipelines.store.filters import Filters


@dataclass(frozen=True)
class BacktestOptions:
    sizes: tuple[float, ...] = (0.5, 1.0, 2.0)     # extra cases per day, as a share of the series' mean
    floor: float = 2.0                              # … but at least this many extra cases per day
    durations: tuple[int, ...] = (1, 3, 7, 14)     # days the injected rise lasts
    starts_per_series: int = 4                      # injection dates per series (and size, duration)
    detection_window: int = 7                       # an alert up to this many days after the stretch counts
    planted_margin: int = 35                        # keep injections this far from the planted spike
    min_mean: float = 0.0                           # skip series quieter than this (cases per day)
    seed: int = 0
    config: alerts.DetectorConfig = field(default_factory=alerts.DetectorConfig)


@dataclass(frozen=True)
class BacktestResult:
    table: pd.DataFrame        # size, duration, injected, detected, sensitivity, median_days
    weeks: float               # weeks of days the detector ran on
    alerts: int                # alerts (episodes) on the un-injected data
    known: int                 # … of which on the planted events of the manifest
    series: int
    options: BacktestOptions = field(default_factory=BacktestOptions)
    injections: pd.DataFrame | None = None   # one row per injection: size, duration, series_mean, detected, …

    @property
    def alerts_per_week(self) -> float:
        return self.alerts / self.weeks if self.weeks else 0.0

    @property
    def unexplained_per_week(self) -> float:
        """Alerts per week that no planted event of the manifest explains: false alerts, or real
        but unplanted changes (seasons, product peaks) — an upper bound of the false-alert rate."""
        return (self.alerts - self.known) / self.weeks if self.weeks else 0.0

    def by_volume(self, size: float) -> pd.DataFrame:
        """Sensitivity for one size per duration and series volume (cases per day before the rise)."""
        rows = self.injections[self.injections["size"] == size].copy()
        rows["volume"] = pd.cut(rows["series_mean"], [0, 1, 3, np.inf], right=False,
                                labels=["< 1 件/日", "1–3 件/日", "≥ 3 件/日"])
        return _summary(rows, ["duration", "volume"])

    def sensitivity(self, min_size: float, min_duration: int) -> float:
        rows = self.table[(self.table["size"] >= min_size) & (self.table["duration"] >= min_duration)]
        return float(rows["detected"].sum() / rows["injected"].sum()) if rows["injected"].sum() else float("nan")


def run(store: Path | str, manifest: dict | None = None, options: BacktestOptions = BacktestOptions()
        ) -> BacktestResult:
    """Inject spikes of every size × duration into every series at `starts_per_series` dates."""
    config = options.config
    with db.reader(store) as con:
        first, last = con.execute("SELECT min(received_at), max(received_at) FROM cases").fetchall()[0]
        if first is None:
            raise ValueError(f"{store}: the store has no cases to back-test on")
        start = first.date()
        series, counts, first_valid = alerts.load_series(con, Filters(), start,
                                                         datetime.combine(last.date(), time(23, 59, 59)))
    base = alerts.series_tests(counts, start, first_valid, config)
    fired, _ = alerts.decide(base.p, config)
    evaluated = config.history_days
    rng = np.random.default_rng(options.seed)
    planted = _planted(manifest, start)
    base_alerts, known = _alerts_on_data(fired, series, planted, evaluated, config)
    records = []
    for size in options.sizes:
        for duration in options.durations:
            records += _inject_all(counts, first_valid, base, fired, size, duration, start, planted, rng, options)
    injections = pd.DataFrame(records, columns=["size", "duration", "series_mean", "detected", "days_to_detect"])
    weeks = max(counts.shape[1] - evaluated, 0) / 7
    return BacktestResult(_summary(injections, ["size", "duration"]), weeks, base_alerts, known, len(series),
                          options, injections)


def _summary(injections: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Injected, detected, sensitivity and median days to detection per group."""
    grouped = injections.groupby(by, sort=True)
    table = grouped.agg(injected=("detected", "size"), detected=("detected", "sum"),
                        median_days=("days_to_detect", "median")).reset_index()
    table["detected"] = table["detected"].astype("int64")
    table["sensitivity"] = table["detected"] / table["injected"]
    return table[[*by, "injected", "detected", "sensitivity", "median_days"]]


def _planted(manifest: dict | None, start: date) -> dict:
    """The planted spike's day range (as indexes) and series names, when the manifest has one."""
    spike = (manifest or {}).get("spike")
    if not spike:
        return {}
    first = (date.fromisoformat(spike["start"]) - start).days
    last = (date.fromisoformat(spike["end"]) - start).days
    names = {spike.get("theme"), spike.get("product"), spike.get("cause")} - {None, ""}
    return {"first": first, "last": last, "names": names}


def _alerts_on_data(fired: np.ndarray, series: list, planted: dict, evaluated: int,
                    config: alerts.DetectorConfig) -> tuple[int, int]:
    """Alerts (episodes) the detector raises on the data as it is, and how many of them the planted
    spike explains (its series, from its first day to a week after its last)."""
    total = known = 0
    for row in range(fired.shape[0]):
        last_fire = None
        for t in np.flatnonzero(fired[row, evaluated:] >= 0) + evaluated:
            if last_fire is None or t - last_fire > config.episode_gap:
                total += 1
                if (planted and series[row].name in planted["names"]
                        and planted["first"] <= t <= planted["last"] + config.episode_gap):
                    known += 1
            last_fire = t
    return total, known


def _inject_all(counts: np.ndarray, first_valid: np.ndarray, base: alerts.SeriesTests, fired: np.ndarray,
                size: float, duration: int, start: date, planted: dict, rng: np.random.Generator,
                options: BacktestOptions) -> list[tuple]:
    """(size, duration, series mean, detected, days to detection) per injection of this size and
    duration into every series."""
    config = options.config
    n_days = counts.shape[1]
    records = []
    for row in range(counts.shape[0]):
        for first in _injection_days(row, counts, first_valid, fired, duration, planted, rng, options):
            mean = float(counts[row, first - config.baseline_days:first].mean())
            if mean < options.min_mean:
                continue
            changed = counts[row:row + 1].copy()
            changed[0, first:first + duration] += rng.poisson(max(size * mean, options.floor), duration)
            tests = alerts.series_tests(changed, start, first_valid[row:row + 1], config)
            # Decide the days of the stretch and the detection window with every other series as
            # it was: Benjamini–Hochberg sees the whole family of each day.
            lo, hi = first, min(first + duration + options.detection_window, n_days)
            p = base.p[:, lo:hi].copy()
            p[row] = tests.p[0, lo:hi]
            decided, _ = alerts.decide(p, config)
            hits = np.flatnonzero(decided[row] >= 0)
            records.append((size, duration, mean, bool(hits.size), int(hits[0]) if hits.size else None))
    return records


def _injection_days(row: int, counts: np.ndarray, first_valid: np.ndarray, fired: np.ndarray, duration: int,
                    planted: dict, rng: np.random.Generator, options: BacktestOptions) -> list[int]:
    """Start days for injections into one series: with full history, away from the planted spike,
    and where the series did not fire on its own in the two weeks before or the stretch after (so
    a detection belongs to the injection)."""
    config = options.config
    n_days = counts.shape[1]
    low = first_valid[row] + config.history_days
    high = n_days - duration - options.detection_window
    candidates = []
    for first in range(low, high):
        if planted and first + duration + options.planted_margin >= planted["first"] and \
                first <= planted["last"] + options.planted_margin:
            continue
        if (fired[row, max(first - 14, 0):first + duration + options.detection_window] >= 0).any():
            continue
        candidates.append(first)
    if not candidates:
        return []
    chosen = rng.choice(len(candidates), size=min(options.starts_per_series, len(candidates)), replace=False)
    return sorted(candidates[i] for i in chosen)


def markdown(results: dict[str, BacktestResult], volume_size: float = 2.0) -> str:
    """The results as Markdown tables per data set (the ones in docs/alerts.md)."""
    lines = []
    for label, result in results.items():
        floor = f"{result.options.floor:g}"
        lines += [f"**{label}** — {result.series} series, {result.weeks:.0f} weeks evaluated. On the data as it is: "
                  f"{result.alerts_per_week:.2f} alerts/week, {result.unexplained_per_week:.2f} not explained by "
                  "the planted spike.", "",
                  "| extra cases per day | lasting | injected | detected | sensitivity | median days to detection |",
                  "|---|---|---|---|---|---|"]
        for row in result.table.itertuples():
            lines.append(f"| +{row.size:.0%} of the mean, at least {floor} | {row.duration} d | {row.injected} | "
                         f"{row.detected} | {row.sensitivity:.2f} | {_days(row.median_days)} |")
        lines += ["", f"+{volume_size:.0%} by the series' volume before the rise:", "",
                  "| lasting | volume | injected | sensitivity | median days |", "|---|---|---|---|---|"]
        for row in result.by_volume(volume_size).itertuples():
            if row.injected:
                lines.append(f"| {row.duration} d | {row.volume} | {row.injected} | {row.sensitivity:.2f} | "
                             f"{_days(row.median_days)} |")
        lines.append("")
    return "\n".join(lines)


def _days(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.0f}"
