"""Countermeasure log (再発防止策): what was done, when, against which cause, theme or product."""
from __future__ import annotations

import duckdb

from .mapping import Mapping


def prepare_countermeasures(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """prep: every staged row with its parsed fields and, for a bad row, the reason."""
    from .ingest import _col

    c = lambda f: _col(mapping, f)  # noqa: E731
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE prep AS
    SELECT rowno, line, CAST(kk_ts({c('implemented_on')}) AS DATE) AS implemented_on, {c('target')} AS target,
           {c('department')} AS department, kk_mask(kk_fold({c('description')})) AS description,
           CASE
               WHEN {c('implemented_on')} IS NULL THEN '実施日が空です'
               WHEN kk_ts({c('implemented_on')}) IS NULL THEN '実施日「' || left({c('implemented_on')}, 40) || '」を日付として読めません'
               WHEN {c('target')} IS NULL THEN '対象（原因・テーマ・商品）が空です'
           END AS reason
    FROM raw""")


def load_countermeasures(con: duckdb.DuckDBPyConnection, mapping: Mapping, result) -> None:
    """Insert countermeasure rows; the same (date, target, description) already stored is unchanged."""
    from .ingest import _write_rejects

    prepare_countermeasures(con, mapping)
    con.execute("""
    CREATE OR REPLACE TEMP TABLE todo AS
    WITH valid AS (SELECT *, row_number() OVER (PARTITION BY implemented_on, target, description ORDER BY rowno DESC) AS nth
                   FROM prep WHERE reason IS NULL)
    SELECT v.*, NOT EXISTS (SELECT 1 FROM countermeasures c WHERE c.implemented_on = v.implemented_on
                            AND c.target = v.target AND c.description IS NOT DISTINCT FROM v.description) AS is_new
    FROM valid v WHERE nth = 1""")
    _write_rejects(con, mapping, result.batch_id)
    con.execute("INSERT INTO countermeasures SELECT implemented_on, target, department, description, ? FROM todo "
                "WHERE is_new ORDER BY implemented_on", [result.batch_id])
    from .events import _count_new_unchanged

    _count_new_unchanged(con, result)
