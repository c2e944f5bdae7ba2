"""The flow detectors' view of the store: flow_scope and flow_stints as of a moment, built from the
same SQL 部門フロー uses (flow_stints.sql, flow_stalls.sql, flow_escalation.sql), so a detector
counts exactly what that page shows."""
from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.detect.insight import filtered_condition
from pipelines.store import db
from pipelines.store import filters as flt
from pipelines.store.definitions import RECEIVING_DESKS, status_done_sql, words_pattern
from pipelines.store.summaries import RETURN_ACTIONS


def build(con: duckdb.DuckDBPyConnection, filters: flt.Filters, start: datetime, now: datetime,
          open_too: bool) -> None:
    """Fill flow_scope (insight_scope.sql) and flow_stints as of `now` on this connection."""
    query = (db.sql("insight_scope").replace("/*where*/", filtered_condition(con, filters))
             .replace("/*done*/", status_done_sql("c")))
    con.execute(query, {"start": start, "now": now, "open_too": open_too})
    con.execute(db.sql("flow_stints"), {"now": now, "return_pattern": words_pattern(RETURN_ACTIONS)})


def events_known(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store has time-stamped hand-off records at all (an events export was loaded)."""
    return con.execute("SELECT EXISTS (SELECT 1 FROM case_events WHERE source = 'events' AND \"at\" IS NOT NULL)"
                       ).fetchone()[0]


def desk_known(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any department in the store is one of definitions.RECEIVING_DESKS."""
    return con.execute("""
        SELECT EXISTS (SELECT 1 FROM case_events
                       WHERE list_contains($d, from_department) OR list_contains($d, to_department))
            OR EXISTS (SELECT 1 FROM cases WHERE list_contains($d, department))""",
                       {"d": list(RECEIVING_DESKS)}).fetchone()[0]
