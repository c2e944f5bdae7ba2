"""Loading case and event exports into the store, with exact row accounting.

Every data row ends up inserted, updated, unchanged, duplicate (an earlier row of a case repeated
in the same file) or rejected with a Japanese reason. One transaction per file: a load that fails
or is killed leaves the store as it was; refused and failed files are still recorded in
import_batches, outside that transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.analysis import tokenize
from pipelines.analysis.analyze import analyze, repeat_counts
from pipelines.analysis.pool import make_pool
from pipelines.analysis.tagging import store_results
from pipelines.ingest import limits, staging
from pipelines.ingest.countermeasures import load_countermeasures
from pipelines.ingest.events import load_events, route_events
from pipelines.ingest.identity import (
    CONFLICT_EXAMPLES,
    Identity,
    Verdict,
    conflict_note,
    customer_verdict,
    distinct_values,
    generated_id_sql,
    id_stats,
    judge_id_column,
    no_id_column,
)
from pipelines.ingest.limits import received_bounds
from pipelines.ingest.mapping import Mapping, load_preset, resolve, sample_rows, save_mapping, saved_mapping
from pipelines.ingest.result import LoadOptions, LoadResult, PhaseTimer, Progress
from pipelines.ingest.sources import Source, open_source, sha256_of
from pipelines.nlp.text import normalize_arrow, release_dictionary_pages
from pipelines.rules.bundle import load_bundle
from pipelines.rules.themes.packs import SAMPLE_PACK, stored_pack
from pipelines.store import db, journal, scratch, summaries
from pipelines.store.errors import KakehashiError, LoadFailed, RefusedFile
from pipelines.store.settings import SAMPLE_DIR, SAMPLE_FILES, db_path

NFKC_CHUNK = 50_000
POOL_MIN_BYTES = 2_000_000  # smaller files are tokenized in this process: forking costs more than it saves
NFKC_THREADS = 2


def load_file(path: Path | str, store: Path | str | None = None, options: LoadOptions = LoadOptions()) -> LoadResult:
    """Load one export; raises KakehashiError (after recording it) when the file is refused.

    The attempt is written in the journal first (store.journal), so 取り込み履歴 lists it even when
    the store cannot record it (busy, full, read-only, damaged) or the process is killed before its
    batch row exists."""
    path = Path(path)
    name = options.display_name or path.name
    started = dt.datetime.now()
    attempt = journal.begin(db_path(store), name, options.kind, started, path.stat().st_size)
    try:
        result = _load_file(path, store, options, name, started)
    except BaseException as exc:
        journal.end_with(db_path(store), attempt, exc)
        raise
    journal.end(db_path(store), attempt, "done", batch_id=result.batch_id)
    return result


def _load_file(path: Path, store, options: LoadOptions, name: str, started: dt.datetime) -> LoadResult:
    timer = PhaseTimer()
    # Workers are forked before any DuckDB connection exists (see make_pool).
    big = path.stat().st_size > POOL_MIN_BYTES
    morphology = options.kind == "cases" and options.morphology
    # The analysis rides along with tokenization (see _tokenize); analyze() then finds these cases done.
    rules = _analysis_rules(store) if morphology else None
    pool = make_pool(options.workers, rules) if morphology and big else None
    if pool is not None:
        release_dictionary_pages()  # the workers tokenize; this process only compiled the rules
    try:
        # Removed on exit, and by the next load's sweep when this process is killed (store.scratch).
        with scratch.work_folder("load") as workdir:
            try:
                with timer("decode"):
                    source = open_source(path, workdir, name, options.progress, workers=options.workers)
                spec_name, spec = _mapping_spec(options, store)
                # The first rows only let a refusal say what each column looks like.
                mapping = resolve(source.header, options.kind, spec, spec_name,
                                  sample_rows(source.csv_path, source.delimiter, source.header_line))
            except KakehashiError as exc:
                _record_refusal(store, options.kind, name, path, started, exc)
                raise
            except Exception as exc:    # not the file's fault (a bug, the disk): say so, and record it
                failure = _failure(name, exc)
                _record_refusal(store, options.kind, name, path, started, failure, status="failed")
                raise failure from exc
            return _load(source, mapping, store, options, started, workdir, pool, rules, timer)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _analysis_rules(store):
    """The analysis rules (with the store's industry pack), or None when a rules file does not parse:
    the load then leaves the analysis to analyze(), which reports the error."""
    try:
        return load_bundle(store)
    except KakehashiError:
        return None


def _mapping_spec(options: LoadOptions, store) -> tuple[str, dict | None]:
    if options.mapping is None:
        return "自動判定", None
    if isinstance(options.mapping, dict):
        return options.save_mapping_as or "手動", options.mapping
    return load_preset(options.mapping, lambda n: saved_mapping(n, store))


def _record_refusal(store, kind: str, name: str, path: Path, started: dt.datetime, exc: KakehashiError,
                    status: str = "refused") -> None:
    with db.writer(store) as con:
        con.execute(
            "INSERT INTO import_batches (kind, file_name, sha256, size_bytes, status, message, rows_read, started_at, "
            "finished_at, pid) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            [kind, name, sha256_of(path), path.stat().st_size, status, exc.message_ja(), started, dt.datetime.now(),
             os.getpid()])
        db.bump_version(con)


def _load(source: Source, mapping: Mapping, store, options: LoadOptions, started: dt.datetime,
          workdir: Path, pool, rules, timer: PhaseTimer) -> LoadResult:
    result = LoadResult(None, source.name, "running", source.encoding, source.format, mapping.as_headers())
    with db.writer(store) as con:
        _mark_interrupted(con)
        result.batch_id = con.execute(
            "INSERT INTO import_batches (kind, file_name, sha256, size_bytes, encoding, format, delimiter, mapping_name, "
            "mapping, status, started_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?) RETURNING batch_id",
            [options.kind, source.name, source.sha256, source.size, source.encoding, source.format, source.delimiter,
             mapping.name, json.dumps(mapping.as_headers(), ensure_ascii=False), started, os.getpid()]).fetchone()[0]
        try:
            with timer("stage"):
                if options.kind == "cases":
                    identity = stage_cases(con, source, mapping, db.meta(con, "salt"))
                    mapping = identity.mapping   # a customer column judged not to be one is an extra now
                    _report_identity(result, identity)
                else:
                    staging.stage(con, source, mapping)
                limits.check_staged(con, source.name)   # a delimited file's rows and cells are counted here
            rejected = None
            if options.kind == "cases":
                rejected = _prepare_cases_load(con, mapping, options, result, workdir, pool, rules, timer)
            # After staging: inside a transaction, rowids of new rows are not 0-based.
            con.execute("BEGIN TRANSACTION")
            if options.kind == "events":
                load_events(con, mapping, result, timer)
            elif options.kind == "countermeasures":
                load_countermeasures(con, mapping, result)
            else:
                _write_cases_load(con, mapping, result, rejected, workdir, rules, timer)
            if options.kind in TOUCHED_BY_LOAD:   # the summaries, in the same transaction
                summaries.refresh(con, TOUCHED_BY_LOAD[options.kind])
            if options.pause_before_commit:
                time.sleep(options.pause_before_commit)
            result.status = "done"
            _finish_batch(con, result)
            if options.save_mapping_as:
                save_mapping(con, options.save_mapping_as, options.kind, mapping.as_spec())
            db.bump_version(con)
            con.execute("COMMIT")
        except BaseException as exc:
            # Everything the load wrote is in the open transaction (staging is TEMP): rolled back,
            # the store is as it was. The batch row says why, in words, never DuckDB's alone.
            _rollback(con)
            failure = exc if isinstance(exc, KakehashiError) or not isinstance(exc, Exception) \
                else _failure(source.name, exc)
            result.status = "refused" if isinstance(exc, RefusedFile) else \
                "failed" if isinstance(exc, Exception) else "interrupted"
            result.message = failure.message_ja() if isinstance(failure, KakehashiError) else \
                "読み込みが中断されました（データは変更されていません）。"
            try:
                con.execute("UPDATE import_batches SET status = ?, message = ?, finished_at = ? WHERE batch_id = ?",
                            [result.status, result.message, dt.datetime.now(), result.batch_id])
            except duckdb.Error:
                pass    # the store itself failed: the next load marks this batch interrupted
            if failure is exc:
                raise
            raise failure from exc
    result.seconds = timer.seconds
    return result


# DuckDB names the line of a CSV record it could not read ("CSV Error on Line: 610").
_DUCKDB_LINE = re.compile(r"\bLine:?\s*(\d+)", re.IGNORECASE)


# The cases a load wrote (staging's TEMP table todo), whose summaries it brings up to date; a
# countermeasure changes no summary.
TOUCHED_BY_LOAD = {"cases": "SELECT case_id FROM todo WHERE action <> 'unchanged'",
                   "events": "SELECT case_id FROM todo WHERE is_new"}


def _failure(name: str, exc: Exception) -> LoadFailed:
    """An unexpected error as a LoadFailed naming the file and, when the error says, the line."""
    found = _DUCKDB_LINE.search(str(exc))
    return LoadFailed(name, exc, int(found.group(1)) if found else None)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _mark_interrupted(con: duckdb.DuckDBPyConnection) -> None:
    """A batch left 'running' by a process that no longer exists was killed mid-load."""
    for batch_id, pid in con.execute("SELECT batch_id, pid FROM import_batches WHERE status = 'running'").fetchall():
        if not _alive(pid):
            con.execute("UPDATE import_batches SET status = 'interrupted', message = ? WHERE batch_id = ?",
                        ["読み込みが途中で中断されました（データは変更されていません）。", batch_id])


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


# ---------------------------------------------------------------- staging (all rows, as text)


# ---------------------------------------------------------------- cases

def _prepare_cases_load(con, mapping: Mapping, options: LoadOptions, result: LoadResult, workdir: Path, pool,
                        rules, timer: PhaseTimer) -> pa.Table | None:
    """Everything before the write, in temporary tables outside the data transaction (so the
    staging can be dropped and its memory given back). Returns the rejected rows to insert."""
    with timer("map_validate"):
        _classify(con, column_identity=result.identity not in ("", "generated"))
    with timer("reject_write"):
        rejected = staging.rejected_rows(con, mapping, result.batch_id, staged_json=True)
        staging.count_read_rejected(con, result)
    _normalize_and_mask(con, mapping, workdir, timer)
    # The staged file is not read again: free its memory before tokenization and the write.
    staging.drop_staging(con)
    with timer("morphology"):
        if options.morphology:
            todo = con.execute("SELECT count(*) FROM todo WHERE needs_text").fetchall()[0][0]
            _tokenize(con, workdir, todo, pool, rules, options.progress)
        else:
            _empty_terms(con)
    return rejected


def _write_cases_load(con, mapping: Mapping, result: LoadResult, rejected: pa.Table | None, workdir: Path, rules,
                      timer: PhaseTimer) -> None:
    """The data transaction's part: rejected rows, cases, terms, route events, and the analysis of the
    tokenized texts."""
    with timer("write"):
        if rejected is not None:
            staging.insert_arrow(con, "rejected_rows", rejected)
        _count_cases(con, result)
        _upsert_cases(con, result.batch_id, mapping)
        if "route" in mapping.columns:
            route_events(con, result.batch_id)
    tokens = workdir / "tokens"
    if rules is not None and tokens.exists():
        with timer("analysis_write"):
            con.execute("CREATE OR REPLACE TEMP TABLE pending AS SELECT case_id FROM todo WHERE needs_text")
            store_results(con, tokens, rules, rules.hash())
        result.analysed = True


def _text_expr(mapping: Mapping) -> str:
    """The case text: the text column, else the subject (identifiers are ours)."""
    text = staging.cell(mapping, "text") if "text" in mapping.columns else None
    subject = staging.cell(mapping, "subject") if "subject" in mapping.columns else None
    return f"coalesce({text}, {subject})" if text and subject else (text or subject or "NULL::VARCHAR")


def stage_cases(con, source: Source, mapping: Mapping, salt: str) -> Identity:
    """raw, and prep (the same rows): one row per well-formed record with what the load needs
    already derived — IDs, dates, hashes, the reason a row is rejected — plus its free text, its
    extra columns and, for a rejected row only, the whole row as masked JSON.

    All of it is computed in the one parallel pass that reads the file, so the rest of a record is
    never stored (a second pass over a staged copy of the whole file cost as much as the read).
    Then the identity rules (ingest.identity) decide, from the staged rows and the store, each
    row's case ID in prep and whose customer key counts; the returned Identity says what and why."""
    notes: list[Verdict] = []
    while True:
        _stage_case_rows(con, source, mapping, salt)
        verdict = _customer_verdict(con, mapping, "customer_id", 1)
        if verdict.usable:
            break
        # Not a customer: read again without it, so its rows fall back on e-mail, phone or name
        # (rare: an account or agency code mapped as the customer ID). It is kept as an extra column.
        notes.append(verdict)
        index = mapping.columns["customer_id"]
        mapping = dataclasses.replace(mapping, columns={f: i for f, i in mapping.columns.items() if f != "customer_id"},
                                      extras=sorted([*mapping.extras, index]))
    name_verdict = _customer_verdict(con, mapping, "customer_name", 3)
    if not name_verdict.usable:
        notes.append(name_verdict)
    identity = _case_identity(con, mapping, salt, drop_name_key=not name_verdict.usable)
    identity.customer_notes_ja = [v.ja for v in notes]
    identity.customer_notes_en = [v.en for v in notes]
    return identity


def _stage_case_rows(con, source: Source, mapping: Mapping, salt: str) -> None:
    """raw: the staged rows (see stage_cases); source_id is the ID column's cell, key_source says
    what the customer key was made from (1 customer ID, 2 e-mail or phone, 3 name)."""
    c = lambda f: staging.cell(mapping, f)  # noqa: E731 - a short alias keeps the SQL readable
    # Name/phone/e-mail only matter when there is no customer ID (then they are hashed into the key);
    # the regex is skipped on rows that have one. A phone cell without digits is no phone.
    contact = f"coalesce({c('customer_email')}, nullif(regexp_replace({c('customer_phone')}, '[^0-9]', '', 'g'), ''))"
    key_source = f"CASE WHEN {c('customer_id')} IS NULL THEN coalesce({contact}, {c('customer_name')}) END"
    key_kind = (f"CASE WHEN {c('customer_id')} IS NOT NULL THEN 1 WHEN {contact} IS NOT NULL THEN 2 "
                f"WHEN {c('customer_name')} IS NOT NULL THEN 3 END")
    pii_cells = f"{c('customer_email')}, {c('customer_phone')}, {c('customer_name')}"
    extra_columns = "".join(f", c{i}" for i in mapping.extras)
    raw_json, raw_params = staging.row_json_sql(mapping)
    fields = f"""
    , v AS (
        SELECT *,
            {c('case_id')} AS case_id_raw, {c('received_at')} AS received_raw, {_text_expr(mapping)} AS text_raw,
            {c('channel')} AS channel, {c('customer_id')} AS customer_id, {key_source} AS customer_pii,
            CAST({key_kind} AS TINYINT) AS key_source,
            {c('product')} AS product, {c('category')} AS category, {c('department')} AS department,
            {c('status')} AS status, {c('priority')} AS priority, {c('closed_at')} AS closed_raw,
            {c('updated_at')} AS updated_raw, {c('cause')} AS cause, {c('response')} AS response_raw,
            {c('route')} AS route,
            -- 64-bit salted hashes: change detection only, and several times cheaper than md5 on long rows.
            -- Kept as numbers while loading (no string per row); stored as hex.
            hash($salt, case_id_raw, received_raw, text_raw, channel, customer_id, {pii_cells}, product,
                        category, department, status, priority, closed_raw, updated_raw, cause, response_raw, route
                        {extra_columns}) AS row_hash
        FROM src),
    d AS (SELECT *, kk_ts(received_raw) AS received_at, kk_ts(closed_raw) AS closed_at,
                 kk_ts(updated_raw) AS updated_at FROM v),
    r AS (SELECT *,
        CASE
            WHEN received_raw IS NULL THEN '受付日時が空です'
            WHEN received_at IS NULL THEN '受付日時「' || left(received_raw, 40) || '」を日付として読めません'
            -- A typo in the year (2052) would become "now" for every view: settings.ReceivedRange.
            WHEN received_at >= $received_after THEN '受付日時 ' || strftime(received_at, '%Y-%m-%d') ||
                ' は取り込み日の' || $received_future || 'より後のため、ありえない日付です（年の誤りでは？）'
            WHEN received_at < $received_earliest THEN '受付日時 ' || strftime(received_at, '%Y-%m-%d') ||
                ' は ' || strftime($received_earliest, '%Y-%m-%d') || ' より前のため、ありえない日付です'
            WHEN text_raw IS NULL THEN '問い合わせ内容が空です'
        END AS reason FROM d)
    SELECT channel, product, category, department, status, priority, cause, route,
        received_at, closed_at, updated_at, row_hash,
        CASE WHEN closed_at IS NULL THEN closed_raw END AS closed_unreadable,
        reason, case_id_raw AS source_id, key_source,
        CASE WHEN customer_id IS NOT NULL THEN customer_id
             WHEN customer_pii IS NOT NULL
             THEN 'K-' || left(sha256($salt || '|' || lower(regexp_replace(customer_pii, '[[:space:]]+', '', 'g'))), 16)
        END AS customer_key,
        hash($salt, text_raw) AS text_hash,
        text_raw, response_raw,
        -- The whole row is kept only where the row is rejected (reported with its reason).
        CASE WHEN reason IS NOT NULL THEN CAST({raw_json} AS VARCHAR) END AS raw_json{extra_columns}
    FROM r
    """
    staging.stage(con, source, mapping, fields, {"salt": salt, **raw_params, **received_bounds()})


def _customer_verdict(con, mapping: Mapping, fld: str, key_source: int) -> Verdict:
    """Whether a customer column identifies customers, judged on the rows whose key it made."""
    if fld not in mapping.columns:
        return Verdict(True, "", "")
    rows, distinct = distinct_values(con, "raw", "customer_key", f"reason IS NULL AND key_source = {int(key_source)}")
    return customer_verdict(fld, mapping.header[mapping.columns[fld]], rows, distinct)


def _case_identity(con, mapping: Mapping, salt: str, drop_name_key: bool) -> Identity:
    """prep: raw with each row's case ID (the ID column's value, a derived ID for a conflict, or a
    generated one) and its customer key; conflicts: the rows kept under a derived ID."""
    if not re.fullmatch(r"[0-9A-Za-z_-]+", salt):
        raise ValueError("unexpected salt")   # it is written into a view's SQL below
    generated = generated_id_sql(mapping).replace("$salt", f"'{salt}'")
    column = mapping.header[mapping.columns["case_id"]] if "case_id" in mapping.columns else None
    if column is None:
        reason_ja, reason_en = no_id_column()
        use_column = False
    else:
        verdict = judge_id_column(column, id_stats(con, "(SELECT * FROM raw WHERE reason IS NULL)"))
        reason_ja, reason_en, use_column = verdict.ja, verdict.en, verdict.usable
    con.execute("CREATE OR REPLACE TEMP TABLE conflicts (rowno BIGINT, line BIGINT, source_id VARCHAR, case_id VARCHAR, "
                "received_at TIMESTAMP, other_received TIMESTAMP)")
    if use_column:
        _find_conflicts(con)
    conflicts = con.execute("SELECT count(*) FROM conflicts").fetchall()[0][0]
    join = "LEFT JOIN (SELECT rowno, case_id AS derived_id FROM conflicts) k USING (rowno)" if conflicts else ""
    case_id = (("CASE WHEN k.derived_id IS NOT NULL THEN k.derived_id " if conflicts else "CASE ")
               + f"WHEN r.source_id IS NOT NULL THEN r.source_id ELSE {generated} END") if use_column else generated
    customer_key = "CASE WHEN r.key_source = 3 THEN NULL ELSE r.customer_key END" if drop_name_key else "r.customer_key"
    con.execute(f"CREATE OR REPLACE TEMP VIEW prep AS SELECT r.* REPLACE ({customer_key} AS customer_key), "
                f"CASE WHEN r.reason IS NULL THEN {case_id} END AS case_id FROM raw r {join}")
    examples = [{"line": line, "case_id": source_id, "kept_as": kept_as, "received": f"{received:%Y-%m-%d}",
                 "other_received": f"{other:%Y-%m-%d}"} for line, source_id, kept_as, received, other in con.execute(
        "SELECT line, source_id, case_id, received_at, other_received FROM conflicts ORDER BY line LIMIT ?",
        [CONFLICT_EXAMPLES]).fetchall()]
    if conflicts:
        note_ja, note_en = conflict_note(conflicts, examples)
        reason_ja, reason_en = f"{reason_ja}{note_ja}", f"{reason_en} {note_en}"
    return Identity(mapping, column if use_column else None, reason_ja, reason_en, conflicts=conflicts,
                    conflict_examples=examples)


def _find_conflicts(con) -> None:
    """conflicts: rows whose ID already belongs to a different case — the stored case of that ID, or
    else the file's first row with it — with a different received date and a different text.
    Each is kept under <ID>~<YYYYMMDD>, so a reload finds it again under the same ID. Needs the
    id_groups that id_stats left."""
    con.execute("""
        INSERT INTO conflicts
        WITH good AS (SELECT rowno, line, source_id, received_at, text_hash FROM raw
                      WHERE reason IS NULL AND source_id IS NOT NULL),
        stored AS (SELECT case_id AS source_id, CAST(received_at AS DATE) AS day, text_hash AS text_hex,
                          received_at AS other FROM cases WHERE case_id IN (SELECT source_id FROM good)),
        -- id_groups: the IDs on several rows of the file, with their first row (identity.id_stats).
        firsts AS (SELECT source_id, day, to_hex(text_hash) AS text_hex, received_at AS other FROM id_groups),
        anchors AS (SELECT * FROM stored UNION ALL
                    SELECT * FROM firsts WHERE source_id NOT IN (SELECT source_id FROM stored))
        SELECT g.rowno, g.line, g.source_id, g.source_id || '~' || strftime(g.received_at, '%Y%m%d'),
               g.received_at, a.other
        FROM good g JOIN anchors a USING (source_id)
        WHERE CAST(g.received_at AS DATE) <> a.day AND to_hex(g.text_hash) <> a.text_hex""")


def _classify(con, column_identity: bool) -> None:
    """todo(rowno, case_id, action, needs_text): the last row of each case in the file, with what to
    do with it (the row's fields stay in raw; its case ID is prep's)."""
    if column_identity:
        # Only an ID that id_stats found on several rows, a derived or a generated ID can repeat a
        # case: grouping just those spares a second pass over a million unique IDs.
        good = "SELECT rowno, case_id, row_hash, text_hash, updated_at, source_id FROM prep WHERE reason IS NULL"
        repeatable = ("source_id IS NULL OR case_id <> source_id OR source_id IN (SELECT source_id FROM id_groups)")
    else:
        # Generated IDs are computed once here, not once per reference to `good`.
        good = "SELECT rowno, case_id, row_hash, text_hash, updated_at FROM prep WHERE reason IS NULL"
        repeatable = "TRUE"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE todo AS
    WITH good AS {"" if column_identity else "MATERIALIZED "}({good}),
    repeated AS (   -- cases on several rows of the file: the last row wins
        SELECT case_id, max(rowno) AS keep FROM good WHERE {repeatable} GROUP BY case_id HAVING count(*) > 1),
    last AS (SELECT g.* FROM good g LEFT JOIN repeated r USING (case_id) WHERE r.keep IS NULL OR r.keep = g.rowno)
    SELECT last.rowno, last.case_id,
        CASE
            WHEN cases.case_id IS NULL THEN 'insert'
            WHEN cases.row_hash = to_hex(last.row_hash) THEN 'unchanged'
            WHEN last.updated_at IS NOT NULL AND cases.updated_at IS NOT NULL AND last.updated_at < cases.updated_at
                THEN 'unchanged'
            ELSE 'update'
        END AS action,
        cases.case_id IS NULL OR cases.text_hash IS DISTINCT FROM to_hex(last.text_hash) AS needs_text
    FROM last LEFT JOIN cases USING (case_id)
    """)
    con.execute("UPDATE todo SET needs_text = false WHERE action = 'unchanged'")


# What the write needs of each row, carried through normalization and masking so that the write
# reads one table instead of joining a million texts back to their rows.
_ROW_COLUMNS = ("case_id, received_at, channel, customer_key, product, category, department, status, priority, "
                "closed_at, updated_at, cause, route, closed_unreadable, row_hash, text_hash, action, needs_text, "
                "source_id")


# Stored short cells of a case besides its text and response (masked as free text) and extra columns.
_SHORT_CELLS = ("channel", "product", "category", "department", "status", "priority", "cause", "route",
                "closed_unreadable")


def _normalize_and_mask(con, mapping: Mapping, workdir: Path, timer: PhaseTimer) -> None:
    """masked: every row to insert or update with all the write needs (_upsert_cases and route
    events read it alone), its text NFKC-normalized and regex-masked; _tokenize then name-masks it.

    NFKC (DuckDB has none) runs on Arrow batches written to Parquet, range by range so memory stays
    bounded; then the regex masks run inside DuckDB in one parallel pass over those files. Rows
    whose text did not change are masked too (their response may have)."""
    folder = workdir / "normalized"
    folder.mkdir()
    # prep, for the customer key; the case ID is todo's (prep would compute a generated one again).
    query = ("SELECT r.* EXCLUDE (line, reason, raw_json, text_raw, response_raw, key_source, case_id), t.case_id, "
             "t.action, t.needs_text, r.text_raw AS text, r.response_raw AS response "
             "FROM todo t JOIN prep r USING (rowno) WHERE t.action <> 'unchanged' AND t.rowno > $low AND t.rowno <= $high")

    def normalize_batch(number: int, batch: pa.Table) -> None:
        for name in ("text", "response"):
            batch = batch.set_column(batch.schema.get_field_index(name), name,
                                     normalize_arrow(batch[name].combine_chunks()))
        # A scratch file read once: no compression, dictionary or statistics (half the write time).
        pq.write_table(batch, folder / f"{number:06d}.parquet", compression="none", use_dictionary=False,
                       write_statistics=False)

    with timer("nfkc"):
        # Arrow's kernels release the GIL: two batches are normalized at once while the next is
        # read; at most two in flight keeps memory bounded.
        with ThreadPoolExecutor(max_workers=NFKC_THREADS) as threads:
            in_flight: list = []
            for number, (low, high) in enumerate(staging.row_ranges(con, "todo", NFKC_CHUNK)):
                batch = con.sql(query, params={"low": low, "high": high}).to_arrow_table()
                if batch.num_rows:
                    in_flight.append(threads.submit(normalize_batch, number, batch))
                while len(in_flight) >= NFKC_THREADS:
                    in_flight.pop(0).result()
            for pending in in_flight:
                pending.result()
    if not any(folder.glob("*.parquet")):   # nothing to insert or update: an empty file of the same shape
        pq.write_table(con.sql(query, params={"low": 0, "high": 0}).to_arrow_table(), folder / "empty.parquet")
    files = [str(folder / "*.parquet")]
    with timer("mask_cells"):
        # Every other stored cell (product, department, an unreadable 完了日時, the extra columns …)
        # through the masker too, by distinct value: a cell that is wholly a name, phone or e-mail is
        # masked whole (pii.mask_column).
        short = {name: name for name in _SHORT_CELLS} | {f"c{i}": f"kk_cell(c{i})" for i in staging.kept_extras(mapping)}
        cells, joins, registered = staging.short_cell_masks(con, "read_parquet(?)", files, short)
    with timer("mask_regex"):
        try:
            extras_json, extras_params = staging.extras_json_sql(mapping, cells)
            columns = ", ".join(c if cells.get(c, c) == c else f"{cells[c]} AS {c}" for c in _ROW_COLUMNS.split(", "))
            con.execute(f"CREATE OR REPLACE TEMP TABLE masked AS SELECT rowno, {columns}, kk_mask(text) AS text, "
                        f"kk_mask(response) AS response, {extras_json} AS extra FROM read_parquet(?) {joins}",
                        extras_params + files)
        finally:
            staging.unregister_all(con, registered)


def _tokenize(con, workdir: Path, todo: int, pool, rules, progress: Progress | None) -> None:
    """Tokenize and name-mask the new texts (in masked; terms in final_terms) and, with `rules`, analyse them in
    the same pass (Parquet in workdir/tokens, stored by _write_cases_load), while each text's terms
    are in hand: analyze() would otherwise read every new case's terms back from the store."""
    out = workdir / "tokens"
    out.mkdir()
    analysed = ""
    if rules is not None:
        # Repeat contacts as they will be after the write: stored cases this load leaves alone, plus its rows.
        repeat_counts(con, """(
            SELECT case_id, customer_key, received_at FROM cases
            WHERE case_id NOT IN (SELECT case_id FROM todo WHERE action = 'update')
            UNION ALL
            SELECT m.case_id, m.customer_key, m.received_at FROM masked m JOIN todo t USING (rowno)
            WHERE t.action IN ('insert', 'update'))""")
        analysed = ", m.case_id, coalesce(r.repeat, 0) AS repeat"
    # One parallel statement writes every chunk's texts to a Parquet folder of its own, which the
    # worker reads itself: fetching each chunk here took ~70 µs a case from a core the workers need.
    inputs = workdir / "to_tokenize"
    con.execute(f"""
        COPY (SELECT (row_number() OVER (ORDER BY m.rowno) - 1) // {tokenize.CHUNK_ROWS} AS chunk,
                     m.rowno, m.text, m.response{analysed}
              FROM masked m JOIN todo t USING (rowno) {"LEFT JOIN repeats r ON r.case_id = m.case_id" if analysed else ""}
              WHERE t.needs_text)
        TO ? (FORMAT parquet, PARTITION_BY (chunk))""", [str(inputs)])
    tokenize.run(inputs, out, todo, pool, progress, rules)
    if any(out.glob("terms-*")):
        con.execute("CREATE OR REPLACE TEMP TABLE final_terms AS SELECT * FROM read_parquet(?)", [str(out / "terms-*.parquet")])
    else:
        _empty_terms(con)
    # Name masking changed a few texts: the workers sent back only those. Rows whose text did not
    # change keep their stored text and terms (NULL here: see _upsert_cases); their response is re-masked.
    con.execute("UPDATE masked SET text = NULL WHERE NOT needs_text")
    if any(out.glob("text-*")):
        con.execute("UPDATE masked SET text = f.text, response = f.response FROM read_parquet(?) f "
                    "WHERE masked.rowno = f.rowno", [str(out / "text-*.parquet")])
    rest = con.execute("SELECT rowno, response FROM masked WHERE NOT needs_text AND response IS NOT NULL").fetchall()
    if rest:
        remasked = pa.table({"rowno": [r[0] for r in rest], "response": tokenize.mask_free_texts([r[1] for r in rest])})
        con.register("remasked", remasked)
        con.execute("UPDATE masked SET response = remasked.response FROM remasked WHERE masked.rowno = remasked.rowno")
        con.unregister("remasked")


def _empty_terms(con) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE final_terms (rowno BIGINT, idx SMALLINT, surface VARCHAR, lemma VARCHAR, "
                "pos VARCHAR, negated BOOLEAN)")


def _count_cases(con, result: LoadResult) -> None:
    """Cases inserted / updated / unchanged / duplicated (rows read and rejected are counted first)."""
    counts = dict(con.execute("SELECT action, count(*) FROM todo GROUP BY action").fetchall())
    result.inserted = counts.get("insert", 0)
    result.updated = counts.get("update", 0)
    result.unchanged = counts.get("unchanged", 0)
    result.duplicate = result.rows_read - result.rejected - sum(counts.values())


def _upsert_cases(con, batch_id: int, mapping: Mapping) -> None:
    """Replace updated cases, insert new ones; an update whose text did not change keeps its text.
    A case whose ID is not the export's (generated, or derived for a conflict) keeps the export's
    ID in `extra`, under the ID column's header."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE kept AS
        SELECT c.case_id, CASE WHEN NOT t.needs_text THEN c.text END AS text, c.first_batch_id
        FROM cases c JOIN todo t USING (case_id) WHERE t.action = 'update'""")
    con.execute("DELETE FROM cases WHERE case_id IN (SELECT case_id FROM kept)")
    con.execute("""
        INSERT INTO cases
        SELECT t.case_id, t.received_at, t.channel, t.customer_key, t.product, t.category, t.department,
               t.status, t.priority, t.closed_at, t.updated_at, t.cause,
               coalesce(t.text, k.text), t.response,
               CASE WHEN t.closed_unreadable IS NOT NULL OR t.source_id <> t.case_id
                    -- a NULL value in the patch adds nothing (JSON merge patch)
                    THEN json_merge_patch(coalesce(t.extra, '{}'::JSON),
                                          json_object('完了日時（読めなかった値）', t.closed_unreadable,
                                                      $id_header, CASE WHEN t.source_id <> t.case_id THEN t.source_id END))
                    ELSE t.extra END,
               to_hex(t.row_hash), to_hex(t.text_hash), $batch, coalesce(k.first_batch_id, $batch)
        FROM masked t LEFT JOIN kept k USING (case_id)""",
        {"batch": batch_id, "id_header": mapping.header[mapping.columns["case_id"]] if "case_id" in mapping.columns
         else "ケース番号"})
    con.execute("DELETE FROM case_terms WHERE case_id IN (SELECT case_id FROM todo WHERE action = 'update' AND needs_text)")
    con.execute("""
        INSERT INTO case_terms
        SELECT t.case_id, ft.idx, ft.surface, ft.lemma, ft.pos, ft.negated
        FROM final_terms ft JOIN todo t USING (rowno)""")


def _finish_batch(con, result: LoadResult) -> None:
    identity_reason = "\n".join([result.identity_reason_ja, *result.customer_notes_ja]).strip()
    con.execute(
        "UPDATE import_batches SET status = ?, rows_read = ?, rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, "
        "rows_duplicate = ?, rows_rejected = ?, finished_at = ?, identity = ?, identity_reason = ?, rows_conflict = ?, "
        "conflict_examples = ?, message = ? WHERE batch_id = ?",
        [result.status, result.rows_read, result.inserted, result.updated, result.unchanged, result.duplicate,
         result.rejected, dt.datetime.now(), result.identity or None, identity_reason or None,
         result.conflicts if result.identity else None,
         json.dumps(result.conflict_examples, ensure_ascii=False) if result.conflict_examples else None,
         # What had to be put right to read some rows whole (staging.repair_notes), for 取り込み履歴.
         "\n".join(result.notes) or None, result.batch_id])


def _report_identity(result: LoadResult, identity: Identity) -> None:
    result.identity = identity.label
    result.identity_reason_ja, result.identity_reason_en = identity.reason_ja, identity.reason_en
    result.conflicts, result.conflict_examples = identity.conflicts, identity.conflict_examples
    result.customer_notes_ja, result.customer_notes_en = identity.customer_notes_ja, identity.customer_notes_en


def load_sample(store=None, progress: Progress | None = None) -> list[LoadResult]:
    """Load the bundled sample (cases, events, countermeasures) into a store and analyse it."""
    results = [load_file(SAMPLE_DIR / name, store, LoadOptions(kind=kind, progress=progress))
               for name, kind in SAMPLE_FILES if (SAMPLE_DIR / name).exists()]
    # The sample is a food and beverage maker's desk: its pack, unless the store's user chose one.
    analyze(store, progress=progress, theme_pack=SAMPLE_PACK if stored_pack(store) is None else None)
    return results
