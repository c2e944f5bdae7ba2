"""Staging: an export's records as TEMP tables, shared by every kind of load (cases, events,
countermeasures) and the upload preview.

A load talks to its steps through these TEMP tables of its one writer connection; this is their
only list. They live until the connection closes (drop_staging frees the big ones early).

    reject_errors, reject_scans   DuckDB's own record of malformed CSV records (store_rejects)
    raw_read        the records read, as text (a table only when some records were rejected)
    rejects_stage   malformed records: rec (record number after the header), error_type, csv_line
    raw             every well-formed record: rowno (1-based among them), line (in the file), c0..cN
                    or, for cases, the fields stage_cases derives (a view over raw_read when nothing
                    was rejected, else a table renumbered around the rejects)
    prep            raw with the parsed fields and `reason` (NULL when the row is good): a view of
                    raw for cases, a table for events and countermeasures
    id_groups       cases: the ID column's values found on several rows, with their first row (identity.id_stats)
    conflicts       cases: the rows kept under a derived ID <ID>~<YYYYMMDD> (load._find_conflicts)
    todo            what to do with each good row: cases (rowno, case_id, action, needs_text);
                    events and countermeasures (the row plus is_new)
    masked          cases to insert or update with all the write needs, text normalized and masked
    repeats         repeat-contact counts of the cases the load analyses (analysis.analyze.repeat_counts)
    final_terms     the terms of the tokenized texts (rowno, idx, surface, lemma, pos, negated)
    pending         case_ids whose analysis the load stores (analysis.analyze.store_results)
    kept            updated cases' stored text and first batch, while they are replaced
    remasked, kk_arrow_in   Arrow tables registered for one statement (re-masked responses; insert_arrow)
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines.analysis import tokenize
from pipelines.ingest.mapping import Mapping, normalize_header
from pipelines.ingest.result import LoadResult
from pipelines.ingest.sources import Source

# Extra columns whose header says they hold personal data are dropped, not kept as extras.
PII_HEADER_WORDS = ("氏名", "名前", "お名前", "フリガナ", "ふりがな", "カナ", "電話", "tel", "phone", "メール", "mail",
                     "住所", "address", "郵便", "zip", "生年月日", "birth")


PII_MASKS = {"customer_name": "〔氏名〕", "customer_phone": "〔電話番号〕", "customer_email": "〔メール〕"}


def stage(con: duckdb.DuckDBPyConnection, source: Source, mapping: Mapping, fields: str = "SELECT * FROM src",
          params: dict | None = None) -> None:
    """raw(rowno, line, …): every well-formed record; malformed ones land in rejects_stage.

    `fields` is a query over `src` (the file's records, columns c0..cN as text) that decides what
    is kept of each record: all of it by default."""
    columns = {f"c{i}": "VARCHAR" for i in range(len(source.header))}
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_read AS WITH src AS (SELECT * FROM read_csv($path, delim = $delim, quote = '\"', "
        "escape = '\"', header = false, skip = $skip, columns = $columns, auto_detect = false, store_rejects = true, "
        f"strict_mode = false)) {fields}",
        {"path": str(source.csv_path), "delim": source.delimiter, "skip": source.header_line, "columns": columns,
         **(params or {})})
    # DuckDB numbers records after the skipped lines; a record's number in the file is header_line + that.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejects_stage AS "
        "SELECT line - ? AS rec, min(error_type) AS error_type, any_value(csv_line) AS csv_line "
        "FROM reject_errors GROUP BY line", [source.header_line])
    if con.execute("SELECT count(*) FROM rejects_stage").fetchall()[0][0] == 0:
        # The usual case: record p of the file is data row p; no copy needed.
        con.execute(f"CREATE OR REPLACE TEMP VIEW raw AS SELECT rowid + 1 AS rowno, rowid + {int(source.header_line) + 1} "
                    "AS line, * FROM raw_read")
        return
    # Good record p (1-based among good ones) sits at p + the number of rejects whose position b <= p,
    # where b is a reject's record number minus the rejects before it.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw AS "
        "WITH good AS (SELECT rowid + 1 AS p, * FROM raw_read), "
        "rej AS (SELECT rec - (row_number() OVER (ORDER BY rec) - 1) AS b, "
        "               row_number() OVER (ORDER BY rec) AS shift FROM rejects_stage) "
        "SELECT good.p AS rowno, ? + good.p + coalesce(rej.shift, 0) AS line, good.* EXCLUDE (p) "
        "FROM good ASOF LEFT JOIN rej ON good.p >= rej.b ORDER BY good.p",
        [source.header_line])
    con.execute("DROP TABLE raw_read")


def cell(mapping: Mapping, fld: str) -> str:
    """SQL for a mapped field: the trimmed cell, NULL when empty or unmapped (identifiers are ours)."""
    index = mapping.columns.get(fld)
    return "NULL::VARCHAR" if index is None else f"kk_cell(c{index})"


def row_json_sql(mapping: Mapping) -> tuple[str, dict[str, str]]:
    """JSON of the whole row with masked values (header names bound as named parameters $h0…);
    dedicated name/phone/e-mail columns are replaced by their mask, never kept."""
    pii_columns = {i: PII_MASKS[f] for f, i in mapping.columns.items() if f in PII_MASKS}
    pii_columns.update({i: "〔個人情報〕" for i, h in enumerate(mapping.header)
                        if i not in pii_columns and i in mapping.extras and is_pii_header(h)})
    parts, params = [], {}
    for i, header in enumerate(mapping.header):
        value = f"CASE WHEN kk_cell(c{i}) IS NULL THEN NULL ELSE '{pii_columns[i]}' END" \
            if i in pii_columns else f"kk_mask(kk_fold(c{i}))"
        parts.append(f"$h{i}, {value}")
        params[f"h{i}"] = header or f"列{i + 1}"
    return f"json_object({', '.join(parts)})", params


def extras_json_sql(mapping: Mapping) -> tuple[str, list[str]]:
    kept = [i for i in mapping.extras if not is_pii_header(mapping.header[i])]
    if not kept:
        return "NULL::JSON", []
    parts = [f"?, kk_mask(kk_fold(kk_cell(c{i})))" for i in kept]
    return f"json_object({', '.join(parts)})", [mapping.header[i] for i in kept]


def is_pii_header(header: str) -> bool:
    key = normalize_header(header)
    return any(word in key for word in PII_HEADER_WORDS)


def rejected_rows(con, mapping: Mapping, batch_id: int, staged_json: bool = False) -> pa.Table | None:
    """Rejected rows with their reason and the row as read (masked like everything else).
    staged_json: prep already holds the row's JSON (stage_cases keeps it for rejected rows)."""
    if staged_json:
        rows = con.execute("SELECT line, reason, raw_json FROM prep WHERE reason IS NOT NULL ORDER BY line").fetchall()
    else:
        raw_json, raw_params = row_json_sql(mapping)
        rows = con.execute(f"SELECT prep.line, prep.reason, CAST({raw_json} AS VARCHAR) FROM prep JOIN raw USING (rowno) "
                           "WHERE prep.reason IS NOT NULL ORDER BY prep.line", raw_params).fetchall()
    rows += con.execute(
        "SELECT ? + rec, CASE error_type WHEN 'TOO MANY COLUMNS' THEN '列が多すぎます（区切り文字や引用符の閉じ忘れを確認してください）' "
        "WHEN 'MISSING COLUMNS' THEN '列が足りません（行が途中で切れていないか確認してください）' "
        "WHEN 'UNQUOTED VALUE' THEN '引用符（\"）の使い方が正しくありません' "
        "ELSE '行を読み取れません（' || error_type || '）' END, kk_mask(kk_fold(csv_line)) FROM rejects_stage",
        [header_line(con)]).fetchall()
    if not rows:
        return None
    # Names need the tokenizer; rejected rows are few, so they are masked here in the parent.
    masked = tokenize.mask_free_texts([r[2] for r in rows])
    return pa.table({"batch_id": [batch_id] * len(rows), "line": [r[0] for r in rows],
                     "reason": [r[1] for r in rows], "raw": masked})


def write_rejects(con, mapping: Mapping, batch_id: int) -> None:
    """Insert the rejected rows of a staged events or countermeasures file."""
    rejected = rejected_rows(con, mapping, batch_id)
    if rejected is not None:
        insert_arrow(con, "rejected_rows", rejected)


def count_read_rejected(con, result: LoadResult) -> None:
    """rows_read and rows_rejected of a staged file (malformed records + rows prep rejected)."""
    structural, staged, bad = con.execute(
        "SELECT (SELECT count(*) FROM rejects_stage), (SELECT count(*) FROM raw), "
        "(SELECT count(*) FROM prep WHERE reason IS NOT NULL)").fetchall()[0]
    result.rows_read = staged + structural
    result.rejected = bad + structural


def header_line(con) -> int:
    row = con.execute("SELECT min(line - rowno) FROM raw").fetchone()
    return int(row[0]) - 1 if row and row[0] is not None else 1


def row_ranges(con, table: str, step: int):
    """rowno ranges covering a table; later statements on the same connection may run between chunks
    (a cursor would not see this connection's temp tables or open transaction)."""
    top = con.execute(f"SELECT max(rowno) FROM {table}").fetchall()[0][0] or 0
    for low in range(0, top, step):
        yield low, low + step


def insert_arrow(con, table: str, data: pa.Table) -> None:
    """Append an Arrow table (table names are ours, never user input)."""
    con.register("kk_arrow_in", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM kk_arrow_in")
    finally:
        con.unregister("kk_arrow_in")


def drop_staging(con) -> None:
    con.execute("DROP VIEW IF EXISTS raw")
    con.execute("DROP TABLE IF EXISTS raw")
    con.execute("DROP TABLE IF EXISTS raw_read")
    con.execute("DROP VIEW IF EXISTS prep")


def count_new_unchanged(con: duckdb.DuckDBPyConnection, result) -> None:
    """Accounting for append-only kinds (events, countermeasures): todo.is_new says which rows are new."""
    count_read_rejected(con, result)
    result.inserted, result.unchanged = con.execute(
        "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM todo").fetchall()[0]
    result.duplicate = result.rows_read - result.rejected - result.inserted - result.unchanged
