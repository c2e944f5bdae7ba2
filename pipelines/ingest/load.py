"""Loading case and event exports into the store, with exact row accounting.

Every data row ends up inserted, updated, unchanged, duplicate (an earlier row of a case repeated
in the same file) or rejected with a Japanese reason. One transaction per file: a load that fails
or is killed leaves the store as it was; refused and failed files are still recorded in
import_batches, outside that transaction.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.store import db
from pipelines.analysis import tokenize
from pipelines.store.errors import KakehashiError
from pipelines.ingest.mapping import PII_FIELDS, Mapping, load_preset, normalize_header, resolve
from pipelines.ingest.sources import Source, open_source
from pipelines.nlp.text import normalize_arrow, release_dictionary_pages

Progress = Callable[[str, int, int], None]
NFKC_CHUNK = 50_000
POOL_MIN_BYTES = 2_000_000  # smaller files are tokenized in this process: forking costs more than it saves
NFKC_THREADS = 2
# Extra columns whose header says they hold personal data are dropped, not kept as extras.
_PII_HEADER_WORDS = ("氏名", "名前", "お名前", "フリガナ", "ふりがな", "カナ", "電話", "tel", "phone", "メール", "mail",
                     "住所", "address", "郵便", "zip", "生年月日", "birth")


@dataclass(frozen=True)
class LoadOptions:
    kind: str = "cases"                          # cases / events
    mapping: str | dict | None = None            # preset name, saved name, JSON file, or {field: header}
    display_name: str | None = None              # the name the user knows (uploads arrive as temp files)
    workers: int = 2
    morphology: bool = True                      # False only for benchmarks of the non-morphological load
    save_mapping_as: str | None = None
    progress: Progress | None = None
    pause_before_commit: float = 0.0             # tests: a window in which to kill the load


@dataclass
class LoadResult:
    batch_id: int | None
    file_name: str
    status: str
    encoding: str = ""
    format: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    rejected: int = 0
    analysed: bool = False   # the tokenized texts were tagged too (False when the rules did not parse)
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def accounted(self) -> bool:
        return self.rows_read == self.inserted + self.updated + self.unchanged + self.duplicate + self.rejected


def load_file(path: Path | str, store: Path | str | None = None, options: LoadOptions = LoadOptions()) -> LoadResult:
    """Load one export; raises KakehashiError (after recording it) when the file is refused."""
    path = Path(path)
    name = options.display_name or path.name
    started = dt.datetime.now()
    timer = _Timer()
    # Workers are forked before any DuckDB connection exists (see textjobs.make_pool).
    big = path.stat().st_size > POOL_MIN_BYTES
    morphology = options.kind == "cases" and options.morphology
    # The analysis rides along with tokenization (see _tokenize); analyze() then finds these cases done.
    rules = _analysis_rules() if morphology else None
    pool = textjobs.make_pool(options.workers, rules) if morphology and big else None
    if pool is not None:
        release_dictionary_pages()  # the workers tokenize; this process only compiled the rules
    try:
        with tempfile.TemporaryDirectory(prefix="kakehashi-") as tmp:
            workdir = Path(tmp)
            try:
                with timer("decode"):
                    source = open_source(path, workdir, name, options.progress, workers=options.workers)
                spec_name, spec = _mapping_spec(options, store)
                mapping = resolve(source.header, options.kind, spec, spec_name)
            except KakehashiError as exc:
                _record_refusal(store, options.kind, name, path, started, exc)
                raise
            return _load(source, mapping, store, options, started, workdir, pool, rules, timer)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _analysis_rules():
    """The analysis rules, or None when a rules file does not parse: the load then leaves the
    analysis to analyze(), which reports the error."""
    from pipelines.analysis.analyze import load_rules

    try:
        return load_rules()
    except KakehashiError:
        return None


def _mapping_spec(options: LoadOptions, store) -> tuple[str, dict | None]:
    if options.mapping is None:
        return "自動判定", None
    if isinstance(options.mapping, dict):
        return options.save_mapping_as or "手動", options.mapping
    return load_preset(options.mapping, lambda n: saved_mapping(store, n))


def saved_mapping(store, name: str) -> dict | None:
    with db.reader(store) as con:
        row = con.execute("SELECT mapping FROM saved_mappings WHERE name = ? ORDER BY saved_at DESC LIMIT 1",
                          [name]).fetchone()
    return json.loads(row[0]) if row else None


def _record_refusal(store, kind: str, name: str, path: Path, started: dt.datetime, exc: KakehashiError) -> None:
    from pipelines.ingest.sources import sha256_of

    with db.writer(store) as con:
        con.execute(
            "INSERT INTO import_batches (kind, file_name, sha256, size_bytes, status, message, rows_read, started_at, "
            "finished_at, pid) VALUES (?, ?, ?, ?, 'refused', ?, 0, ?, ?, ?)",
            [kind, name, sha256_of(path), path.stat().st_size, exc.message_ja(), started, dt.datetime.now(), os.getpid()])
        db.bump_version(con)


class _Timer:
    """Seconds per phase, reported by the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[phase] = timer.seconds.get(phase, 0.0) + time.perf_counter() - self.t0

        return _Phase()


def _load(source: Source, mapping: Mapping, store, options: LoadOptions, started: dt.datetime,
          workdir: Path, pool, rules, timer: _Timer) -> LoadResult:
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
                    stage_cases(con, source, mapping, db.meta(con, "salt"))
                else:
                    _stage(con, source, mapping)
            rejected = None
            if options.kind == "cases":
                rejected = _prepare_cases_load(con, mapping, options, result, workdir, pool, rules, timer)
            # After staging: inside a transaction, rowids of new rows are not 0-based.
            con.execute("BEGIN TRANSACTION")
            if options.kind == "events":
                from pipelines.ingest.events import load_events
                load_events(con, mapping, result, timer)
            elif options.kind == "countermeasures":
                from pipelines.ingest.countermeasures import load_countermeasures
                load_countermeasures(con, mapping, result)
            else:
                _write_cases_load(con, mapping, result, rejected, workdir, rules, timer)
            if options.pause_before_commit:
                time.sleep(options.pause_before_commit)
            result.status = "done"
            _finish_batch(con, result)
            if options.save_mapping_as:
                save_mapping(con, options.save_mapping_as, options.kind, mapping.as_headers())
            db.bump_version(con)
            con.execute("COMMIT")
        except BaseException as exc:
            _rollback(con)
            result.status = "failed"
            result.message = exc.message_ja() if isinstance(exc, KakehashiError) else f"読み込みに失敗しました: {exc}"
            con.execute("UPDATE import_batches SET status = 'failed', message = ?, finished_at = ? WHERE batch_id = ?",
                        [result.message, dt.datetime.now(), result.batch_id])
            raise
    result.seconds = timer.seconds
    return result


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


def save_mapping(con: duckdb.DuckDBPyConnection, name: str, kind: str, headers: dict[str, str]) -> None:
    con.execute("DELETE FROM saved_mappings WHERE name = ?", [name])
    con.execute("INSERT INTO saved_mappings VALUES (?, ?, ?, ?)",
                [name, kind, json.dumps(headers, ensure_ascii=False), dt.datetime.now()])


# ---------------------------------------------------------------- staging (all rows, as text)

def _stage(con: duckdb.DuckDBPyConnection, source: Source, mapping: Mapping, fields: str = "SELECT * FROM src",
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


def _col(mapping: Mapping, fld: str) -> str:
    """SQL for a mapped field: the trimmed cell, NULL when empty or unmapped (identifiers are ours)."""
    index = mapping.columns.get(fld)
    return "NULL::VARCHAR" if index is None else f"kk_cell(c{index})"


_PII_MASKS = {"customer_name": "〔氏名〕", "customer_phone": "〔電話番号〕", "customer_email": "〔メール〕"}


def _raw_json(mapping: Mapping) -> tuple[str, dict[str, str]]:
    """JSON of the whole row with masked values (header names bound as named parameters $h0…);
    dedicated name/phone/e-mail columns are replaced by their mask, never kept."""
    pii_columns = {i: _PII_MASKS[f] for f, i in mapping.columns.items() if f in _PII_MASKS}
    pii_columns.update({i: "〔個人情報〕" for i, h in enumerate(mapping.header)
                        if i not in pii_columns and i in mapping.extras and _is_pii_header(h)})
    parts, params = [], {}
    for i, header in enumerate(mapping.header):
        value = f"CASE WHEN kk_cell(c{i}) IS NULL THEN NULL ELSE '{pii_columns[i]}' END" \
            if i in pii_columns else f"kk_mask(kk_fold(c{i}))"
        parts.append(f"$h{i}, {value}")
        params[f"h{i}"] = header or f"列{i + 1}"
    return f"json_object({', '.join(parts)})", params


def _extras_json(mapping: Mapping) -> tuple[str, list[str]]:
    kept = [i for i in mapping.extras if not _is_pii_header(mapping.header[i])]
    if not kept:
        return "NULL::JSON", []
    parts = [f"?, kk_mask(kk_fold(kk_cell(c{i})))" for i in kept]
    return f"json_object({', '.join(parts)})", [mapping.header[i] for i in kept]


def _is_pii_header(header: str) -> bool:
    key = normalize_header(header)
    return any(word in key for word in _PII_HEADER_WORDS)


# ---------------------------------------------------------------- cases

def _prepare_cases_load(con, mapping: Mapping, options: LoadOptions, result: LoadResult, workdir: Path, pool,
                        rules, timer: _Timer) -> pa.Table | None:
    """Everything before the write, in temporary tables outside the data transaction (so the
    staging can be dropped and its memory given back). Returns the rejected rows to insert."""
    with timer("map_validate"):
        _classify(con)
    with timer("reject_write"):
        rejected = _rejected_rows(con, mapping, result.batch_id, staged_json=True)
        _count_read_rejected(con, result)
    _normalize_and_mask(con, mapping, workdir, timer)
    # The staged file is not read again: free its memory before tokenization and the write.
    _drop_staging(con)
    with timer("morphology"):
        if options.morphology:
            todo = con.execute("SELECT count(*) FROM todo WHERE needs_text").fetchall()[0][0]
            _tokenize(con, workdir, todo, pool, rules, options.progress)
        else:
            _empty_terms(con)
    return rejected


def _write_cases_load(con, mapping: Mapping, result: LoadResult, rejected: pa.Table | None, workdir: Path, rules,
                      timer: _Timer) -> None:
    """The data transaction's part: rejected rows, cases, terms, route events, and the analysis of the
    tokenized texts."""
    with timer("write"):
        if rejected is not None:
            _insert_arrow(con, "rejected_rows", rejected)
        _count_cases(con, result)
        _upsert_cases(con, result.batch_id)
        if "route" in mapping.columns:
            from pipelines.ingest.events import route_events
            route_events(con, result.batch_id)
    tokens = workdir / "tokens"
    if rules is not None and tokens.exists():
        from pipelines.analysis.analyze import store_results

        with timer("analysis_write"):
            con.execute("CREATE OR REPLACE TEMP TABLE pending AS SELECT case_id FROM todo WHERE needs_text")
            store_results(con, tokens, rules, rules.hash())
        result.analysed = True


def _text_expr(mapping: Mapping) -> str:
    """The case text: the text column, else the subject (identifiers are ours)."""
    text = _col(mapping, "text") if "text" in mapping.columns else None
    subject = _col(mapping, "subject") if "subject" in mapping.columns else None
    return f"coalesce({text}, {subject})" if text and subject else (text or subject or "NULL::VARCHAR")


def stage_cases(con, source: Source, mapping: Mapping, salt: str) -> None:
    """raw, and prep (the same rows): one row per well-formed record with what the load needs
    already derived — IDs, dates, hashes, the reason a row is rejected — plus its free text, its
    extra columns and, for a rejected row only, the whole row as masked JSON.

    All of it is computed in the one parallel pass that reads the file, so the rest of a record is
    never stored (a second pass over a staged copy of the whole file cost as much as the read)."""
    c = lambda f: _col(mapping, f)  # noqa: E731 - a short alias keeps the SQL readable
    # Name/phone/e-mail only matter when there is no customer ID (then they are hashed into the key);
    # the regex is skipped on rows that have one.
    key_source = (f"CASE WHEN {c('customer_id')} IS NULL THEN coalesce({c('customer_email')}, "
                  f"regexp_replace({c('customer_phone')}, '[^0-9]', '', 'g'), {c('customer_name')}) END")
    pii_cells = f"{c('customer_email')}, {c('customer_phone')}, {c('customer_name')}"
    extra_columns = "".join(f", c{i}" for i in mapping.extras)
    raw_json, raw_params = _raw_json(mapping)
    fields = f"""
    , v AS (
        SELECT *,
            {c('case_id')} AS case_id_raw, {c('received_at')} AS received_raw, {_text_expr(mapping)} AS text_raw,
            {c('channel')} AS channel, {c('customer_id')} AS customer_id, {key_source} AS customer_pii,
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
            WHEN text_raw IS NULL THEN '問い合わせ内容が空です'
        END AS reason FROM d)
    SELECT channel, product, category, department, status, priority, cause, route,
        received_at, closed_at, updated_at, row_hash,
        CASE WHEN closed_at IS NULL THEN closed_raw END AS closed_unreadable,
        reason,
        CASE WHEN case_id_raw IS NOT NULL THEN case_id_raw
             ELSE 'R-' || left(sha256(strftime(received_at, '%Y-%m-%dT%H:%M:%S') || '|'
                  || regexp_replace(coalesce(text_raw, ''), '[[:space:]]+', '', 'g') || '|' || coalesce(channel, '')), 16)
        END AS case_id,
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
    _stage(con, source, mapping, fields, {"salt": salt, **raw_params})
    con.execute("CREATE OR REPLACE TEMP VIEW prep AS SELECT * FROM raw")


def _classify(con) -> None:
    """todo(rowno, case_id, action, needs_text): the last row of each case in the file, with what to
    do with it (the row's fields stay in raw)."""
    con.execute("""
    CREATE OR REPLACE TEMP TABLE todo AS
    WITH repeated AS (   -- cases on several rows of the file: the last row wins
        SELECT case_id, max(rowno) AS keep FROM prep WHERE reason IS NULL GROUP BY case_id HAVING count(*) > 1),
    last AS (SELECT p.* FROM prep p LEFT JOIN repeated r USING (case_id)
             WHERE p.reason IS NULL AND (r.keep IS NULL OR r.keep = p.rowno))
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


def _rejected_rows(con, mapping: Mapping, batch_id: int, staged_json: bool = False) -> pa.Table | None:
    """Rejected rows with their reason and the row as read (masked like everything else).
    staged_json: prep already holds the row's JSON (stage_cases keeps it for rejected rows)."""
    if staged_json:
        rows = con.execute("SELECT line, reason, raw_json FROM prep WHERE reason IS NOT NULL ORDER BY line").fetchall()
    else:
        raw_json, raw_params = _raw_json(mapping)
        rows = con.execute(f"SELECT prep.line, prep.reason, CAST({raw_json} AS VARCHAR) FROM prep JOIN raw USING (rowno) "
                           "WHERE prep.reason IS NOT NULL ORDER BY prep.line", raw_params).fetchall()
    rows += con.execute(
        "SELECT ? + rec, CASE error_type WHEN 'TOO MANY COLUMNS' THEN '列が多すぎます（区切り文字や引用符の閉じ忘れを確認してください）' "
        "WHEN 'MISSING COLUMNS' THEN '列が足りません（行が途中で切れていないか確認してください）' "
        "WHEN 'UNQUOTED VALUE' THEN '引用符（\"）の使い方が正しくありません' "
        "ELSE '行を読み取れません（' || error_type || '）' END, kk_mask(kk_fold(csv_line)) FROM rejects_stage",
        [_header_line(con)]).fetchall()
    if not rows:
        return None
    # Names need the tokenizer; rejected rows are few, so they are masked here in the parent.
    masked = textjobs.mask_free_texts([r[2] for r in rows])
    return pa.table({"batch_id": [batch_id] * len(rows), "line": [r[0] for r in rows],
                     "reason": [r[1] for r in rows], "raw": masked})


def _write_rejects(con, mapping: Mapping, batch_id: int) -> None:
    """Insert the rejected rows of a staged events or countermeasures file."""
    rejected = _rejected_rows(con, mapping, batch_id)
    if rejected is not None:
        _insert_arrow(con, "rejected_rows", rejected)


def _header_line(con) -> int:
    row = con.execute("SELECT min(line - rowno) FROM raw").fetchone()
    return int(row[0]) - 1 if row and row[0] is not None else 1


def _row_ranges(con, table: str, step: int):
    """rowno ranges covering a table; later statements on the same connection may run between chunks
    (a cursor would not see this connection's temp tables or open transaction)."""
    top = con.execute(f"SELECT max(rowno) FROM {table}").fetchall()[0][0] or 0
    for low in range(0, top, step):
        yield low, low + step


# What the write needs of each row, carried through normalization and masking so that the write
# reads one table instead of joining a million texts back to their rows.
_ROW_COLUMNS = ("case_id, received_at, channel, customer_key, product, category, department, status, priority, "
                "closed_at, updated_at, cause, route, closed_unreadable, row_hash, text_hash, action, needs_text")


def _normalize_and_mask(con, mapping: Mapping, workdir: Path, timer: _Timer) -> None:
    """masked: every row to insert or update with all the write needs (_upsert_cases and route
    events read it alone), its text NFKC-normalized and regex-masked; _tokenize then name-masks it.

    NFKC (DuckDB has none) runs on Arrow batches written to Parquet, range by range so memory stays
    bounded; then the regex masks run inside DuckDB in one parallel pass over those files. Rows
    whose text did not change are masked too (their response may have)."""
    import pyarrow.parquet as pq

    folder = workdir / "normalized"
    folder.mkdir()
    query = ("SELECT r.* EXCLUDE (line, reason, raw_json, text_raw, response_raw), t.action, t.needs_text, "
             "r.text_raw AS text, r.response_raw AS response "
             "FROM todo t JOIN raw r USING (rowno) WHERE t.action <> 'unchanged' AND t.rowno > $low AND t.rowno <= $high")

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
            for number, (low, high) in enumerate(_row_ranges(con, "todo", NFKC_CHUNK)):
                batch = con.sql(query, params={"low": low, "high": high}).to_arrow_table()
                if batch.num_rows:
                    in_flight.append(threads.submit(normalize_batch, number, batch))
                while len(in_flight) >= NFKC_THREADS:
                    in_flight.pop(0).result()
            for pending in in_flight:
                pending.result()
    with timer("mask_regex"):
        if not any(folder.glob("*.parquet")):   # nothing to insert or update: an empty file of the same shape
            pq.write_table(con.sql(query, params={"low": 0, "high": 0}).to_arrow_table(), folder / "empty.parquet")
        extras_json, extras_params = _extras_json(mapping)
        con.execute(f"CREATE OR REPLACE TEMP TABLE masked AS SELECT rowno, {_ROW_COLUMNS}, kk_mask(text) AS text, "
                    f"kk_mask(response) AS response, {extras_json} AS extra FROM read_parquet(?)",
                    extras_params + [str(folder / "*.parquet")])


def _insert_arrow(con, table: str, data: pa.Table) -> None:
    """Append an Arrow table (table names are ours, never user input)."""
    con.register("kk_arrow_in", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM kk_arrow_in")
    finally:
        con.unregister("kk_arrow_in")


def _tokenize(con, workdir: Path, todo: int, pool, rules, progress: Progress | None) -> None:
    """Tokenize and name-mask the new texts (in masked; terms in final_terms) and, with `rules`, analyse them in
    the same pass (Parquet in workdir/tokens, stored by _write_cases_load), while each text's terms
    are in hand: analyze() would otherwise read every new case's terms back from the store."""
    out = workdir / "tokens"
    out.mkdir()
    analysed = ""
    if rules is not None:
        from pipelines.analysis.analyze import repeat_counts

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
        COPY (SELECT (row_number() OVER (ORDER BY m.rowno) - 1) // {textjobs.CHUNK_ROWS} AS chunk,
                     m.rowno, m.text, m.response{analysed}
              FROM masked m JOIN todo t USING (rowno) {"LEFT JOIN repeats r ON r.case_id = m.case_id" if analysed else ""}
              WHERE t.needs_text)
        TO ? (FORMAT parquet, PARTITION_BY (chunk))""", [str(inputs)])
    textjobs.run(inputs, out, todo, pool, progress, rules)
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
        remasked = pa.table({"rowno": [r[0] for r in rest], "response": textjobs.mask_free_texts([r[1] for r in rest])})
        con.register("remasked", remasked)
        con.execute("UPDATE masked SET response = remasked.response FROM remasked WHERE masked.rowno = remasked.rowno")
        con.unregister("remasked")


def _empty_terms(con) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE final_terms (rowno BIGINT, idx SMALLINT, surface VARCHAR, lemma VARCHAR, "
                "pos VARCHAR, negated BOOLEAN)")


def _drop_staging(con) -> None:
    con.execute("DROP VIEW IF EXISTS raw")
    con.execute("DROP TABLE IF EXISTS raw")
    con.execute("DROP TABLE IF EXISTS raw_read")
    con.execute("DROP VIEW IF EXISTS prep")


def _count_cases(con, result: LoadResult) -> None:
    """Cases inserted / updated / unchanged / duplicated (rows read and rejected are counted first)."""
    counts = dict(con.execute("SELECT action, count(*) FROM todo GROUP BY action").fetchall())
    result.inserted = counts.get("insert", 0)
    result.updated = counts.get("update", 0)
    result.unchanged = counts.get("unchanged", 0)
    result.duplicate = result.rows_read - result.rejected - sum(counts.values())


def _count_read_rejected(con, result: LoadResult) -> None:
    """rows_read and rows_rejected of a staged file (malformed records + rows prep rejected)."""
    structural, staged, bad = con.execute(
        "SELECT (SELECT count(*) FROM rejects_stage), (SELECT count(*) FROM raw), "
        "(SELECT count(*) FROM prep WHERE reason IS NOT NULL)").fetchall()[0]
    result.rows_read = staged + structural
    result.rejected = bad + structural


def _upsert_cases(con, batch_id: int) -> None:
    """Replace updated cases, insert new ones; an update whose text did not change keeps its text."""
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
               CASE WHEN t.closed_unreadable IS NOT NULL
                    THEN json_merge_patch(coalesce(t.extra, '{}'::JSON),
                                          json_object('完了日時（読めなかった値）', t.closed_unreadable))
                    ELSE t.extra END,
               to_hex(t.row_hash), to_hex(t.text_hash), $batch, coalesce(k.first_batch_id, $batch)
        FROM masked t LEFT JOIN kept k USING (case_id)""", {"batch": batch_id})
    con.execute("DELETE FROM case_terms WHERE case_id IN (SELECT case_id FROM todo WHERE action = 'update' AND needs_text)")
    con.execute("""
        INSERT INTO case_terms
        SELECT t.case_id, ft.idx, ft.surface, ft.lemma, ft.pos, ft.negated
        FROM final_terms ft JOIN todo t USING (rowno)""")


def _finish_batch(con, result: LoadResult) -> None:
    con.execute(
        "UPDATE import_batches SET status = ?, rows_read = ?, rows_inserted = ?, rows_updated = ?, rows_unchanged = ?, "
        "rows_duplicate = ?, rows_rejected = ?, finished_at = ? WHERE batch_id = ?",
        [result.status, result.rows_read, result.inserted, result.updated, result.unchanged, result.duplicate,
         result.rejected, dt.datetime.now(), result.batch_id])


def load_sample(store=None, progress: Progress | None = None) -> list[LoadResult]:
    """Load the bundled sample (cases, events, countermeasures) into a store and analyse it."""
    from pipelines.analysis.analyze import analyze
    from pipelines.jobs.runner import SAMPLE_FILES
    from pipelines.store.settings import SAMPLE_DIR

    results = [load_file(SAMPLE_DIR / name, store, LoadOptions(kind=kind, progress=progress))
               for name, kind in SAMPLE_FILES if (SAMPLE_DIR / name).exists()]
    analyze(store, progress=progress)
    return results
