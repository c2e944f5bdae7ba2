"""The record the flow and customer detectors produce (bottleneck departments, repeat contacts,
escalation gaps) and 経営サマリー's priority list, the review report and the CLI read.

Unlike an Alert (a count series that rose), an Insight is about a department, a customer or a group
of severe cases; it carries its sentence, its score and the cases behind it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

import duckdb

from pipelines.store import filters as flt

# Kind → Japanese name (the priority list's label and the name of its score part).
INSIGHT_KINDS = {"bottleneck": "部署の滞留", "repeat": "繰り返しの問い合わせ", "escalation": "エスカレーション漏れ"}
# Days up to the 基準日 each detector looks at (the alerts' 28 days, the 直近4週 of the pages).
WINDOW_DAYS = 28
MAX_CASE_IDS = 100   # cases a signal links to (the case list opens them by ID)


@dataclass(frozen=True)
class Insight:
    kind: str                        # bottleneck / repeat / escalation (INSIGHT_KINDS)
    subject: str                     # the department, the customer ID, or the group (店頭, 全体)
    message: str                     # one Japanese sentence: what, its figure and the gap to the rest
    score: float                     # 0–100, this kind's own score part (see each detector's POINTS)
    cases: int                       # cases behind it
    case_ids: tuple[str, ...] = ()   # the cases (at most MAX_CASE_IDS), for the link
    figures: tuple[tuple[str, float], ...] = field(default_factory=tuple)   # named numbers for tests/report
    detected_on: date | None = None  # the 基準日 it was computed for

    @property
    def label(self) -> str:
        return INSIGHT_KINDS[self.kind]

    def figure(self, name: str) -> float | None:
        return dict(self.figures).get(name)

    def to_json(self) -> dict:
        record = asdict(self)
        record["case_ids"], record["figures"] = list(self.case_ids), dict(self.figures)
        record["detected_on"] = self.detected_on.isoformat() if self.detected_on else None
        record["kind_label"] = self.label
        return record


def as_of(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> datetime | None:
    """The detectors' "now": the end of the 基準日, else the latest received_at (None: no cases)."""
    if filters.as_of is not None:
        return datetime.combine(filters.as_of, time(23, 59, 59))
    return flt.latest_received(con)


def window_start(now: datetime) -> datetime:
    """Start of the WINDOW_DAYS days that end with the day of `now`."""
    return datetime.combine(now.date() - timedelta(days=WINDOW_DAYS - 1), time())


def filtered_condition(con: duckdb.DuckDBPyConnection, filters: flt.Filters, alias: str = "c") -> str:
    """A parameter-free SQL condition on `cases <alias>` for the non-period filters: TRUE without
    any, else membership in the temp table kk_filtered (built here with the filters' values bound),
    so the detectors' named-parameter SQL can take it."""
    if not alias.isidentifier():
        raise ValueError(f"bad table alias: {alias!r}")
    if not any((filters.products, filters.channels, filters.departments, filters.themes)):
        return "TRUE"
    condition, params = flt.where(filters, "c", with_period=False)
    con.execute(f"CREATE OR REPLACE TEMP TABLE kk_filtered AS SELECT c.case_id FROM cases c WHERE {condition}",
                params)
    return f"{alias}.case_id IN (SELECT case_id FROM kk_filtered)"
