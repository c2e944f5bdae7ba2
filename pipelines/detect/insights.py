"""The flow and customer detectors as one feed: bottleneck departments (bottleneck.py), repeat
contacts (repeats.py) and escalation gaps (escalation.py), computed as of the filters' 基準日 over
the WINDOW_DAYS days up to it, under the filters' product/channel/department/theme choice.

    >>> from pipelines.store.filters import Filters
    >>> [i.kind for i in current(Filters())]   # doctest: +SKIP
    ['bottleneck', 'escalation', 'repeat']
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.detect import bottleneck, escalation, repeats
from pipelines.detect.insight import INSIGHT_KINDS, Insight
from pipelines.store import db
from pipelines.store import filters as flt

DETECTORS = {"bottleneck": bottleneck.detect, "repeat": repeats.detect, "escalation": escalation.detect}
assert set(DETECTORS) == set(INSIGHT_KINDS)


def detect(con: duckdb.DuckDBPyConnection, filters: flt.Filters) -> list[Insight]:
    """Every detector's signals, strongest first."""
    found = [insight for run in DETECTORS.values() for insight in run(con, filters)]
    return sorted(found, key=lambda i: (-i.score, i.kind, i.subject))


def current(filters: flt.Filters, store: Path | str | None = None) -> list[Insight]:
    """The signals a page shows for these filters (as of their 基準日, else the latest case)."""
    with db.reader(store, wait_seconds=2.0) as con:
        return detect(con, filters)
