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
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from . import alerts, db
from .filters import Filters


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

    @property
    def alerts_per_week(self) -> float:
        return self.alerts / self.weeks if self.weeks else 0.0

    @property
    def unexplained_per_week(self) -> float:
        """Alerts per week that no planted event of the manifest explains: false alerts, or real
        but unplanted changes (seasons, product peaks) — an upper bound of the false-alert rate."""
        return (self.alerts - self.known) / self.weeks if self.weeks else 0.0

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
    rows = []
    for size in options.sizes:
        for duration in options.durations:
            injected, detected, delays = _inject_all(counts, first_valid, base, fired, size, duration, start,
                                                      planted, rng, options)
            rows.append({"size": size, "duration": duration, "injected": injected, "detected": detected,
                         "sensitivity": detected / injected if injected else float("nan"),
                         "median_days": float(np.median(delays)) if delays else float("nan")})
    weeks = max(counts.shape[1] - evaluated, 0) / 7
    return BacktestResult(pd.DataFrame(rows), weeks, base_alerts, known, len(series), options)


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
                options: BacktestOptions) -> tuple[int, int, list[int]]:
    config = options.config
    n_series, n_days = counts.shape
    window = options.detection_window
    injected = detected = 0
    delays: list[int] = []
    for row in range(n_series):
        for first in _injection_days(row, counts, first_valid, fired, duration, planted, rng, options):
            mean = counts[row, first - config.baseline_days:first].mean()
            if mean < options.min_mean:
                continue
            extra = rng.poisson(max(size * mean, options.floor), duration)
            changed = counts[row:row + 1].copy()
            changed[0, first:first + duration] += extra
            tests = alerts.series_tests(changed, start, first_valid[row:row + 1], config)
            lo, hi = first, min(first + duration + window, n_days)
            p = base.p[:, lo:hi].copy()
            p[row] = tests.p[0, lo:hi]
            decided, _ = alerts.decide(p, config)
            hits = np.flatnonzero(decided[row] >= 0)
            injected += 1
            if hits.size:
                detected += 1
                delays.append(int(hits[0]))
    return injected, detected, delays


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


def markdown(results: dict[str, BacktestResult]) -> str:
    """The results as a Markdown table per data set (the one in docs/alerts.md)."""
    lines = []
    for label, result in results.items():
        lines += [f"**{label}** — {result.series} series, {result.weeks:.0f} weeks evaluated; on the data as it is "
                  f"{result.alerts_per_week:.2f} alerts/week, {result.unexplained_per_week:.2f} not explained by the "
                  "planted spike", "",
                  "| extra per day | lasting | injected | detected | sensitivity | median days to detection |",
                  "|---|---|---|---|---|---|"]
        for row in result.table.itertuples():
            median = "–" if np.isnan(row.median_days) else f"{row.median_days:.0f}"
            lines.append(f"| +{row.size:.0%} of mean, ≥ {result.options.floor:g} | {row.duration} d | {row.injected} | "
                         f"{row.detected} | {row.sensitivity:.2f} | {median} |")
        lines.append("")
    return "\n".join(lines)
