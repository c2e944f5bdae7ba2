"""Hand-off events: from a separate events export, or from a route column in the case export."""
from __future__ import annotations

import duckdb

from pipelines.ingest import staging
from pipelines.ingest.mapping import Mapping

# 「お客様相談室→品質保証部→製造部」 and its look-alikes.
ROUTE_SEPARATORS = r"\s*(?:→|⇒|->|=>|＞|>|》|»|、|,|/|／)\s*"


def prepare_events(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """prep: every staged row with its parsed fields and, for a bad row, the reason."""
    c = lambda f: staging.cell(mapping, f)  # noqa: E731
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE prep AS
        SELECT rowno, line, {c('case_id')} AS case_id, {c('at')} AS at_raw, kk_ts({c('at')}) AS event_at,
               {c('from_department')} AS from_department, {c('to_department')} AS to_department,
               {c('action')} AS action, kk_mask(kk_fold({c('note')})) AS note,
               CASE
                   WHEN {c('case_id')} IS NULL THEN 'ケース番号が空です'
                   WHEN {c('to_department')} IS NULL AND {c('action')} IS NULL THEN '移管先とアクションがどちらも空です'
                   WHEN {c('at')} IS NOT NULL AND kk_ts({c('at')}) IS NULL
                       THEN '日時「' || left({c('at')}, 40) || '」を日付として読めません'
               END AS reason
        FROM raw""")
    # Departments, action and note are stored: each through the masker (a note 「田中様に折り返し」,
    # a department cell that is a person's name), by distinct value.
    stored, joins, registered = staging.short_cell_masks(con, "prep", [], {c: c for c in _STORED_CELLS})
    try:
        if registered:
            replaced = ", ".join(f"{stored[c]} AS {c}" for c in _STORED_CELLS if stored[c] != c)
            con.execute(f"CREATE OR REPLACE TEMP TABLE prep AS SELECT prep.* REPLACE ({replaced}) FROM prep {joins}")
    finally:
        staging.unregister_all(con, registered)


_STORED_CELLS = ("from_department", "to_department", "action", "note")


def load_events(con: duckdb.DuckDBPyConnection, mapping: Mapping, result, timer) -> None:
    """Insert new events; an event already stored (same case, time, departments, action) is unchanged."""
    with timer("map_validate"):
        prepare_events(con, mapping)
        con.execute("""
        CREATE OR REPLACE TEMP TABLE todo AS
        WITH valid AS (
            SELECT *, row_number() OVER (PARTITION BY case_id, event_at, from_department, to_department, action
                                         ORDER BY rowno DESC) AS nth
            FROM prep WHERE reason IS NULL)
        SELECT v.*, e.case_id IS NULL AS is_new
        FROM valid v LEFT JOIN (SELECT DISTINCT case_id, "at", from_department, to_department, action
                                FROM case_events WHERE source = 'events') e
          ON v.case_id = e.case_id AND v.event_at IS NOT DISTINCT FROM e."at"
         AND v.from_department IS NOT DISTINCT FROM e.from_department
         AND v.to_department IS NOT DISTINCT FROM e.to_department AND v.action IS NOT DISTINCT FROM e.action
        WHERE v.nth = 1""")
    with timer("write"):
        staging.write_rejects(con, mapping, result.batch_id)
        con.execute("""
        INSERT INTO case_events
        SELECT case_id, CAST(row_number() OVER (PARTITION BY case_id ORDER BY event_at NULLS LAST, rowno) AS INTEGER)
                   + coalesce((SELECT max(seq) FROM case_events e WHERE e.case_id = t.case_id), 0),
               event_at, from_department, coalesce(to_department, from_department), action, note, 'events', ?
        FROM todo t WHERE is_new ORDER BY case_id, event_at""", [result.batch_id])
    staging.count_new_unchanged(con, result)


def route_events(con: duckdb.DuckDBPyConnection, batch_id: int) -> None:
    """Hops of the route column of changed cases (ingest's masked rows), replacing the hops stored for them before."""
    con.execute("DELETE FROM case_events WHERE source = 'route' AND case_id IN "
                "(SELECT case_id FROM todo WHERE action <> 'unchanged')")
    con.execute("""
    INSERT INTO case_events
    WITH hops AS (
        SELECT case_id, list_filter(regexp_split_to_array(trim(route), ?), lambda x: x <> '') AS stops
        FROM masked WHERE route IS NOT NULL)
    SELECT case_id, CAST(i AS INTEGER), NULL::TIMESTAMP, stops[i], stops[i + 1], '移管', NULL, 'route', ?
    FROM hops, range(1, len(stops)) AS r(i)
    ORDER BY case_id, i""", [ROUTE_SEPARATORS, batch_id])
