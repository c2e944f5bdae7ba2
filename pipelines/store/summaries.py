"""Summaries the pages read instead of scanning every case (issue 15), maintained at write time.

Four tables (pipelines/sql/migrations/0003_summaries.sql, schema 3; the rest of their SQL in
pipelines/sql/summaries/):

- ``sum_case_flow``  one row per case: closed_at, its latest event, its first escalation (timed or not);
- ``sum_stints``     the holding intervals of every case, as 部門フロー measures them with every event seen;
- ``sum_daily``      daily case counts (and severe / concern / repeat counts) per theme, cause, theme of
                     a case without a cause, product, channel, department and in all — daily, so any
                     period and any 基準日 reads them;
- ``sum_chains``     repeat-contact chains of two or more contacts (customer, cause or theme).

They are derived data: ``refresh(con, touched)`` recomputes, inside the caller's transaction, what the
cases a write touched contribute — their rows of the per-case tables, every day they were or are
received on, every chain of their customers — so a reader sees summaries and cases from the same
commit. ``rebuild(con)`` computes them from scratch (the migration to schema 3, tests, the scale
benchmark); tests/test_summaries.py checks that refresh after every kind of write equals rebuild.

Write paths that call refresh: a load of cases or events (ingest.load), an analysis or re-tag
(analysis.analyze). A countermeasure changes no summary (the before/after is computed from sum_daily
at view time).

Pure functions of (connection, touched cases): no module state, so the same SQL runs per chunk of
cases on another engine (docs/scale.md).
"""
from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.store.definitions import REPEAT_WINDOW_DAYS, escalation_sql, status_done_sql, words_pattern
from pipelines.store.settings import SQL_DIR

TABLES = ("sum_case_flow", "sum_stints", "sum_daily", "sum_chains", "sum_termsets")
# The columns of 部門フロー's TEMP table flow_stints (flow_stints.sql), as sum_stints stores them.
STINT_COLUMNS = ("case_id, n, department, prev_department, next_department, next2_department, entry_action, "
                 "next_action, start_at, end_at, is_last, source, last_event_at, timed, hold_hours, returned")
# 部門フロー's "now" when nothing is hidden: every stored event is seen (reports.flow uses the same).
ALL_SEEN = datetime.max.replace(microsecond=0)
# Hand-off actions that give a case back (差戻し). reports.flow and detect read this one list.
RETURN_ACTIONS = ("差戻", "差し戻", "差しもど", "さしもど", "返戻", "return", "sent back", "bounce")


def _sql(name: str) -> str:
    # Not db.sql(): db imports this module to build the summaries when it upgrades a store.
    return (SQL_DIR / "summaries" / f"{name}.sql").read_text(encoding="utf-8")


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The summary tables, empty when new (idempotent)."""
    con.execute((SQL_DIR / "migrations" / "0003_summaries.sql").read_text(encoding="utf-8"))


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Every summary from scratch (inside the caller's transaction)."""
    create_tables(con)
    for table in TABLES:
        con.execute(f"DELETE FROM {table}")   # fixed names
    refresh(con, "SELECT case_id FROM cases", everything=True)


def refresh(con: duckdb.DuckDBPyConnection, touched: str, everything: bool = False) -> None:
    """Bring the summaries up to date for the cases `touched` (a query of case_id: new, changed or
    re-tagged cases) — inside the caller's transaction.

        summaries.refresh(con, "SELECT case_id FROM todo WHERE action <> 'unchanged'")
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE kk_sum_touched AS SELECT DISTINCT case_id FROM ({touched})")
    if not everything and not con.execute("SELECT count(*) FROM kk_sum_touched").fetchone()[0]:
        return
    # Days and customers as they were before this write (their rows must go), then as they are.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE kk_sum_days AS
        SELECT CAST(received_at AS DATE) AS day FROM sum_case_flow WHERE case_id IN (SELECT case_id FROM kk_sum_touched)
        UNION
        SELECT CAST(received_at AS DATE) FROM cases WHERE case_id IN (SELECT case_id FROM kk_sum_touched)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE kk_sum_customers AS
        SELECT customer_key FROM sum_chains WHERE case_id IN (SELECT case_id FROM kk_sum_touched)
        UNION
        SELECT customer_key FROM cases WHERE case_id IN (SELECT case_id FROM kk_sum_touched)
                                         AND customer_key IS NOT NULL""")
    for table in ("sum_case_flow", "sum_stints", "sum_termsets"):
        con.execute(f"DELETE FROM {table} WHERE case_id IN (SELECT case_id FROM kk_sum_touched)")  # fixed names
    _case_flow(con)
    _stints(con)
    con.execute("INSERT INTO sum_termsets SELECT * FROM ("
                + termsets_sql("SELECT case_id, received_at FROM cases WHERE case_id IN (SELECT case_id FROM kk_sum_touched)")
                + ") ORDER BY received_at, case_id")
    con.execute("DELETE FROM sum_daily WHERE day IN (SELECT day FROM kk_sum_days)")
    con.execute(_sql("daily"))
    con.execute("DELETE FROM sum_chains WHERE customer_key IN (SELECT customer_key FROM kk_sum_customers)")
    scope = ("SELECT case_id, customer_key, received_at FROM cases "
             "WHERE customer_key IN (SELECT customer_key FROM kk_sum_customers)")
    con.execute(f"""
        INSERT INTO sum_chains
        SELECT customer_key, dimension, key, chain, case_id, received_at
        FROM ({chain_members_sql(scope)})
        QUALIFY count(*) OVER (PARTITION BY customer_key, dimension, key, chain) >= 2""",
                {"window": REPEAT_WINDOW_DAYS})
    for name in ("kk_sum_touched", "kk_sum_days", "kk_sum_customers"):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def chain_members_sql(scope: str) -> str:
    """The chain-member query (sql/summaries/chains.sql) over `scope`, a query of case_id,
    customer_key, received_at (ours, never user input); it takes the parameter $window (days)."""
    return _sql("chains").replace("{scope}", scope)


def termsets_sql(scope: str) -> str:
    """The term-set query (sql/summaries/termsets.sql) over `scope`, a query of case_id and
    received_at (ours, never user input): received_at, case_id, terms."""
    return _sql("termsets").replace("{scope}", scope)


def _case_flow(con: duckdb.DuckDBPyConnection) -> None:
    condition, params = escalation_sql("e")
    # The condition appears twice in the query, with its values bound positionally each time.
    con.execute(_sql("case_flow").replace("{escalation}", condition), [*params, *params])


def _stints(con: duckdb.DuckDBPyConnection) -> None:
    """sum_stints of the touched cases: flow_stints.sql on a flow_scope of them, every event seen."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE flow_scope AS
        SELECT c.case_id, c.received_at, c.department, c.closed_at,
               CASE WHEN c.closed_at IS NOT NULL THEN true ELSE {status_done_sql('c')} END AS closed
        FROM cases c WHERE c.case_id IN (SELECT case_id FROM kk_sum_touched)""")
    con.execute((SQL_DIR / "flow_stints.sql").read_text(encoding="utf-8"),
                {"now": ALL_SEEN, "return_pattern": words_pattern(RETURN_ACTIONS)})
    con.execute(f"INSERT INTO sum_stints SELECT c.received_at, {', '.join('s.' + c for c in STINT_COLUMNS.split(', '))} "
                "FROM flow_stints s JOIN flow_scope c USING (case_id) ORDER BY c.received_at, s.case_id, s.n")
    con.execute("DROP TABLE flow_stints")
    con.execute("DROP TABLE flow_scope")


def ready(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the pages can read the summaries: the store has them (schema 3 or later; a reader of
    an older store scans until the first write upgrades it) and they cover every case (a store whose
    rows were inserted by hand, as some test fixtures and back-tests build theirs, is scanned)."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sum_case_flow'").fetchone()[0]:
        return False
    return con.execute("SELECT (SELECT count(*) FROM sum_case_flow) = (SELECT count(*) FROM cases)").fetchone()[0]


def escalated_cases_sql(until: datetime | None = None) -> tuple[str, list]:
    """definitions.escalated_cases_sql read from sum_case_flow: one row per escalated case —
    `case_id`, `escalated_at` (its first time-stamped escalation up to `until`; NULL when only a
    route column shows one). Same rows, without scanning case_events."""
    if until is None:
        return ("SELECT case_id, esc_first_at AS escalated_at FROM sum_case_flow "
                "WHERE esc_untimed OR esc_first_at IS NOT NULL"), []
    return ("SELECT case_id, CASE WHEN esc_first_at <= ? THEN esc_first_at END AS escalated_at FROM sum_case_flow "
            "WHERE esc_untimed OR esc_first_at <= ?"), [until, until]
