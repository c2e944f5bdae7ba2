"""Staging: an export's records as TEMP tables, shared by every kind of load (cases, events,
countermeasures) and the upload preview.

A load talks to its steps through these TEMP tables of its one writer connection; this is their
only list. They live until the connection closes (drop_staging frees the big ones early).

    reject_errors, reject_scans   DuckDB's own record of malformed CSV records (store_rejects)
    raw_read        what the `fields` query kept of each record read
    kk_lines        (rowno, line) of each record records.split_records recovered (an Arrow table)
    rejects_stage   malformed records: line (in the file), reason (Japanese), keys and vals (the
                    record's cells and their headers; one cell holding the record's text when it
                    could not be split)
    repairs         what was put right to read a record whole: line, note (Japanese), note_en (a
                    record may have several); line NULL for a note about the whole file
    raw             every well-formed record: rowno (1-based among them), line (in the file), c0..cN
                    or, for cases, the fields stage_cases derives (a view over raw_read when the
                    fast read found nothing wrong, else a table of the records split one by one)
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
    kk_cells_<n>    Arrow tables (cell, masked) registered for one statement: the short cells of a
                    column that masking changes (short_cell_masks)
"""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ingest.mapping import Mapping, normalize_header
from pipelines.ingest.records import DUCKDB_MAX_LINE, split_records
from pipelines.ingest.result import LoadResult
from pipelines.ingest.sources import Source
from pipelines.nlp.pii import mask_column, mask_quoted
from pipelines.store import scratch

# Extra columns whose header says they hold personal data are dropped, not kept as extras.
PII_HEADER_WORDS = ("氏名", "名前", "お名前", "フリガナ", "ふりがな", "カナ", "電話", "tel", "phone", "メール", "mail",
                     "住所", "address", "郵便", "zip", "生年月日", "birth")


PII_MASKS = {"customer_name": "〔氏名〕", "customer_phone": "〔電話番号〕", "customer_email": "〔メール〕"}


def stage(con: duckdb.DuckDBPyConnection, source: Source, mapping: Mapping, fields: str = "SELECT * FROM src",
          params: dict | None = None) -> None:
    """raw(rowno, line, …): every well-formed record; malformed ones land in rejects_stage with a
    reason, and records read whole only after a repair in repairs.

    `fields` is a query over `src` (the file's records, columns c0..cN as text) that decides what
    is kept of each record: all of it by default.

    The usual file is read once, by DuckDB's strict parallel reader. Only when that read rejects
    a record, stops (mixed line endings), or kept a record that swallowed others (an unclosed
    quote), or when the file has NUL bytes, is the file split record by record in Python
    (records.split_records) and the clean records read again with the same query."""
    drop_staging(con)
    con.execute("CREATE TEMP TABLE rejects_stage (line BIGINT, reason VARCHAR, keys VARCHAR[], vals VARCHAR[])")
    con.execute("CREATE TEMP TABLE repairs (line BIGINT, note VARCHAR, note_en VARCHAR)")
    _append(con, "repairs", {"line": [None] * len(source.notes), "note": [ja for ja, _ in source.notes],
                             "note_en": [en for _, en in source.notes]})
    params = params or {}
    if not source.nul_bytes:
        try:
            clean = _read(con, source.csv_path, source, fields, params, skip=source.header_line) == 0
        except duckdb.InvalidInputException:
            # The strict reader stops on line endings that change within the file.
            clean = False
            _append(con, "repairs", {"line": [None], "note": [
                "改行コードの混在など、ファイル全体の形式に揺れがあったため、1 行ずつ読み直しました。"], "note_en": [
                "line endings change within the file (or a like irregularity): it was read again record by record"]})
        if clean and not _swallowed(con, source.record_start, mapping):
            # The usual case: record p of the file is data row p; no copy needed.
            con.execute(f"CREATE TEMP VIEW raw AS SELECT rowid + 1 AS rowno, rowid + {int(source.header_line) + 1} "
                        "AS line, * FROM raw_read")
            return
    _stage_split(con, source, fields, params)


def _read(con, path: Path, source: Source, fields: str, params: dict, skip: int, max_line_size: int = 0,
          clean: bool = False) -> int:
    """raw_read from one strict pass over `path`; returns the number of records DuckDB rejected.
    `clean`: a file split_records wrote (records end with LF; a cell may hold CRLF, which would
    fool the reader's guess)."""
    columns = {f"c{i}": "VARCHAR" for i in range(len(source.header))}
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    # A longer line than the default needs a buffer that holds it (DuckDB wants room for two).
    size = f", max_line_size = {int(max_line_size)}, buffer_size = {2 * int(max_line_size)}" if max_line_size else ""
    size += ", new_line = '\\n'" if clean else ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_read AS WITH src AS (SELECT * FROM read_csv($path, delim = $delim, "
        "quote = '\"', escape = '\"', header = false, skip = $skip, columns = $columns, auto_detect = false, "
        f"store_rejects = true, strict_mode = true{size})) {fields}",
        {"path": str(path), "delim": source.delimiter, "skip": skip, "columns": columns, **params})
    return con.execute("SELECT count(*) FROM reject_errors").fetchall()[0][0]


# Cells a person types, where a stray quote opens a cell that swallows the records after it: the
# mapped free-text fields and the extra columns (c{i} as read; stage_cases keeps the text and the
# response as text_raw and response_raw). Cells the exporting system fills never start a quote.
FREE_TEXT_FIELDS = ("text", "subject", "response", "note", "description")


def _swallowed(con, record_start: str, mapping: Mapping) -> bool:
    """Whether a kept free-text cell holds a line break followed by what starts a record: records
    swallowed by an unclosed quote that a later quote happened to close (DuckDB sees no error).
    Searched in the staged table (not the file again), and only in cells a person types: all the
    columns would cost some 0.5 s a million rows, these a tenth of that."""
    if not record_start:
        return False
    typed = {f"c{i}" for f, i in mapping.columns.items() if f in FREE_TEXT_FIELDS}
    typed |= {f"c{i}" for i in mapping.extras} | {"text_raw", "response_raw"}
    columns = [name for name, kind in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'raw_read' AND database_name = 'temp'"
        ).fetchall() if kind == "VARCHAR" and name in typed]
    if not columns:
        return False
    found = " OR ".join(f"(contains({c}, chr(10)) AND regexp_matches({c}, $pattern))" for c in columns)
    pattern = "\n" + record_start.removeprefix("^")
    return con.execute(f"SELECT EXISTS (SELECT 1 FROM raw_read WHERE {found})", {"pattern": pattern}).fetchall()[0][0]


def _stage_split(con, source: Source, fields: str, params: dict) -> None:
    """The careful path: split the file record by record, read the clean records with `fields`,
    and keep what could not be read, with its reason."""
    width = len(source.header)
    with scratch.work_folder("split") as tmp:
        split = split_records(source.csv_path, Path(tmp) / "records.csv", source.delimiter, source.header_line,
                              width, source.record_start)
        longest = split.longest + 1024 if split.longest > DUCKDB_MAX_LINE else 0
        if not split.lines:             # nothing well-formed: an empty raw_read of the same shape
            split.path.write_text(",".join([""] * width) + "\n", encoding="utf-8")
        rejected = _read(con, split.path, source, fields, params, skip=0, max_line_size=longest, clean=True)
    read = con.execute("SELECT count(*) FROM raw_read").fetchall()[0][0]
    if rejected or read != max(len(split.lines), 1):
        raise RuntimeError(f"split_records wrote {len(split.lines)} records but DuckDB read {read} "
                           f"and rejected {rejected}")
    if not split.lines:
        con.execute("DELETE FROM raw_read")
    con.register("kk_lines", pa.table({"rowno": pa.array(range(1, len(split.lines) + 1), pa.int64()),
                                       "line": pa.array(split.lines, pa.int64())}))
    try:
        con.execute("CREATE TEMP TABLE raw AS SELECT l.rowno, l.line, r.* FROM raw_read r POSITIONAL JOIN kk_lines l")
    finally:
        con.unregister("kk_lines")
    con.execute("DROP TABLE raw_read")
    keys = [header or f"列{i + 1}" for i, header in enumerate(source.header)]
    _append(con, "rejects_stage", {
        "line": [r.line for r in split.rejected], "reason": [r.reason for r in split.rejected],
        "keys": [(keys + [f"列{i + 1}" for i in range(width, len(r.fields))])[:len(r.fields)] if r.split
                 else ["（行の内容）"] for r in split.rejected],
        "vals": [r.fields for r in split.rejected]})
    _append(con, "repairs", {"line": [line for line, _ in split.notes], "note": [ja for _, (ja, _) in split.notes],
                             "note_en": [en for _, (_, en) in split.notes]})


def _append(con, table: str, columns: dict[str, list]) -> None:
    """Append rows given column by column, in the table's column order (table names are ours)."""
    if columns and len(next(iter(columns.values()))):
        insert_arrow(con, table, pa.table({name: pa.array(values) for name, values in columns.items()}))


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


def kept_extras(mapping: Mapping) -> list[int]:
    """The extra columns stored in cases.extra: all but those whose header names personal data."""
    return [i for i in mapping.extras if not is_pii_header(mapping.header[i])]


def extras_json_sql(mapping: Mapping, cells: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """JSON of the kept extra columns; `cells` ({"c3": SQL}) gives a column's stored cell, as
    short_cell_masks made it; otherwise the regex masks run on it in SQL."""
    kept = kept_extras(mapping)
    if not kept:
        return "NULL::JSON", []
    cells = cells or {}
    parts = [f"?, {cells.get(f'c{i}', f'kk_mask(kk_fold(kk_cell(c{i})))')}" for i in kept]
    return f"json_object({', '.join(parts)})", [mapping.header[i] for i in kept]


def short_cell_masks(con, relation: str, params: list, cells: dict[str, str]) -> tuple[dict[str, str], str, list[str]]:
    """Mask short cells by distinct value: `cells` is {name: SQL of the cell in `relation`}; each
    column's distinct values go through pii.mask_column once (names need the tokenizer, so this is
    Python; a column holds few distinct values, or its masking is the cost of its size). Returns
    ({name: SQL of the stored cell}, the LEFT JOINs that SQL needs, the Arrow tables registered for
    them — unregister_all() once the statement has run)."""
    if not cells:
        return {}, "", []
    lists = con.execute(f"SELECT {', '.join(f'list(DISTINCT {expr})' for expr in cells.values())} FROM {relation}",
                        params).fetchall()[0]
    stored, joins, registered = {}, [], []
    for n, ((name, expr), values) in enumerate(zip(cells.items(), lists)):
        changed = mask_column(values or [])
        if not changed:
            stored[name] = expr
            continue
        table = f"kk_cells_{n}"   # names are ours; the values are bound through Arrow
        con.register(table, pa.table({"cell": list(changed), "masked": list(changed.values())}))
        registered.append(table)
        joins.append(f"LEFT JOIN {table} ON {table}.cell = {expr}")
        stored[name] = f"coalesce({table}.masked, {expr})"
    return stored, " ".join(joins), registered


def unregister_all(con, names: list[str]) -> None:
    for name in names:
        con.unregister(name)


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
    rows += _malformed_rows(con, mapping)
    if not rows:
        return None
    # Names need the tokenizer; rejected rows are few, so they are masked here in the parent, each
    # column as a column of short cells (a cell that is wholly a name is masked whole), and the
    # values a reason quotes (受付日時「…」) too.
    return pa.table({"batch_id": [batch_id] * len(rows), "line": [r[0] for r in rows],
                     "reason": [mask_quoted(r[1]) for r in rows], "raw": mask_row_jsons([r[2] for r in rows])})


def mask_row_jsons(rows: list[str | None]) -> list[str | None]:
    """Rows kept as JSON objects of their cells ({header: value}), each column masked as short cells."""
    parsed = [json.loads(row) if row else None for row in rows]
    columns: dict[str, set[str]] = {}
    for row in parsed:
        for key, value in (row or {}).items():
            if isinstance(value, str) and value:
                columns.setdefault(key, set()).add(value)
    changed = {key: mask_column(sorted(values)) for key, values in columns.items()}
    return [None if row is None else json.dumps(
        {key: changed[key].get(value, value) if isinstance(value, str) and value else value for key, value in row.items()},
        ensure_ascii=False) for row in parsed]


def _malformed_rows(con, mapping: Mapping) -> list[tuple[int, str, str]]:
    """(line, reason, JSON of the cells) of the records that could not be split into the right
    cells; cells masked like every rejected row, a dedicated name/phone/e-mail column replaced."""
    rows = con.execute("SELECT line, reason, keys, list_transform(vals, lambda v: kk_mask(kk_fold(v))) "
                       "FROM rejects_stage ORDER BY line").fetchall()
    pii = {i: PII_MASKS[f] for f, i in mapping.columns.items() if f in PII_MASKS}
    out = []
    for line, reason, keys, values in rows:
        if len(keys) == len(mapping.header):   # the cells line up with the header
            values = [pii[i] if i in pii and value else value for i, value in enumerate(values)]
        named: dict[str, str] = {}
        for key, value in zip(keys, values):
            named[key if key not in named else f"{key}({len(named) + 1})"] = value
        out.append((line, reason, json.dumps(named, ensure_ascii=False)))
    return out


def write_rejects(con, mapping: Mapping, batch_id: int) -> None:
    """Insert the rejected rows of a staged events or countermeasures file."""
    rejected = rejected_rows(con, mapping, batch_id)
    if rejected is not None:
        insert_arrow(con, "rejected_rows", rejected)


def count_read_rejected(con, result: LoadResult) -> None:
    """rows_read and rows_rejected of a staged file (malformed records + rows prep rejected), and
    the records recovered after a repair, with what was put right (result.recovered, .notes)."""
    structural, staged, bad = con.execute(
        "SELECT (SELECT count(*) FROM rejects_stage), (SELECT count(*) FROM raw), "
        "(SELECT count(*) FROM prep WHERE reason IS NOT NULL)").fetchall()[0]
    result.rows_read = staged + structural
    result.rejected = bad + structural
    result.recovered, result.notes, result.notes_en = repair_notes(con)


def repair_notes(con, shown: int = 5) -> tuple[int, list[str], list[str]]:
    """(records read whole only after a repair, notes in Japanese, in English): one note per kind
    of repair, with the first `shown` lines where it was made; notes about the whole file first."""
    recovered = con.execute("SELECT count(DISTINCT line) FROM repairs").fetchall()[0][0]
    ja, en = [], []
    for note, note_en, count, lines in con.execute(
            "SELECT note, any_value(note_en), count(*), list(line ORDER BY line)[:?] FROM repairs "
            "GROUP BY note ORDER BY min(line) NULLS FIRST", [shown]).fetchall():
        if lines == [None]:                      # about the whole file
            ja.append(note)
            en.append(note_en)
            continue
        more = count > shown
        ja.append(f"{note}（{count:,} 行: " + "、".join(f"{n} 行目" for n in lines) + (" ほか" if more else "") + "）")
        en.append(f"{note_en} ({count:,} row(s): line " + ", ".join(str(n) for n in lines) + (", …" if more else "") + ")")
    return recovered, ja, en


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
    """Drop the staged records (raw, raw_read, prep, and what stage() found wrong), whichever of
    view or table each one is: stage() makes raw a view or a table depending on the file."""
    for name in ("prep", "raw", "raw_read", "rejects_stage", "repairs", "reject_errors", "reject_scans"):
        found = con.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $name AND temporary "
            "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $name AND temporary",
            {"name": name}).fetchall()
        for (kind,) in found:
            con.execute(f"DROP {kind} {name}")      # names from the fixed list above


def count_new_unchanged(con: duckdb.DuckDBPyConnection, result) -> None:
    """Accounting for append-only kinds (events, countermeasures): todo.is_new says which rows are new."""
    count_read_rejected(con, result)
    result.inserted, result.unchanged = con.execute(
        "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM todo").fetchall()[0]
    result.duplicate = result.rows_read - result.rejected - result.inserted - result.unchanged
