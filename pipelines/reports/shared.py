"""Read functions the pages call: plain DataFrames and values, aggregated in DuckDB."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.ingest.formats import format_words
from pipelines.store import db, filters, journal
from pipelines.store.settings import db_path
from pipelines.store.definitions import UNCLASSIFIED_NAME


@dataclass(frozen=True)
class Overview:
    cases: int
    first: object
    last: object
    open_cases: int
    products: int
    departments: int
    events: int
    terms: int


def overview(store: Path | str | None = None) -> Overview:
    with db.reader(store, wait_seconds=2.0) as con:
        row = con.execute(
            "SELECT count(*), min(received_at), max(received_at), count(*) FILTER (WHERE closed_at IS NULL), "
            "count(DISTINCT product), count(DISTINCT department), "
            "(SELECT count(*) FROM case_events), (SELECT count(*) FROM case_terms) FROM cases").fetchone()
    return Overview(*row)


def monthly_counts(store: Path | str | None = None) -> pd.DataFrame:
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute(
            "SELECT strftime(received_at, '%Y-%m') AS 月, count(*) AS 件数 FROM cases GROUP BY 1 ORDER BY 1").df()


# What a load reports of its case identity, in the columns the store has them (ingest.identity):
# column → (its expression, the page's name). Shown only by stores that have the column.
IDENTITY_COLUMNS = {
    "identity": ("CASE identity WHEN 'generated' THEN '各行の全項目から生成' ELSE identity END", "ケースの識別"),
    "rows_conflict": ("rows_conflict", "番号が重なり別ケースとして保存"),
    "identity_reason": ("identity_reason", "識別の理由"),
}


def import_history(store: Path | str | None = None, limit: int = 200) -> pd.DataFrame:
    """One row per import, newest first, with the Japanese column names the page shows; the
    format and encoding in an analyst's words (ingest.formats), refused files with their reason,
    and the case identity each load used (when the store records it)."""
    with db.reader(store, wait_seconds=2.0) as con:
        present = {name for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'import_batches'").fetchall()}
        # Names from the fixed list above, never from input.
        identity = "".join(f", {expression} AS {name}" for column, (expression, name) in IDENTITY_COLUMNS.items()
                           if column in present)
        history = con.execute("""
            SELECT batch_id AS 番号, file_name AS ファイル名,
                   CASE kind WHEN 'cases' THEN 'ケース' WHEN 'events' THEN '対応履歴' WHEN 'countermeasures' THEN '再発防止策'
                        ELSE kind END AS 種類,
                   CASE status WHEN 'done' THEN '完了' WHEN 'refused' THEN '受付不可' WHEN 'failed' THEN '失敗'
                        WHEN 'running' THEN '実行中' WHEN 'interrupted' THEN '中断' ELSE status END AS 状態,
                   format AS 形式, encoding AS 文字コード, delimiter, mapping_name AS 対応づけ,
                   rows_read AS 読込行数, rows_inserted AS 追加, rows_updated AS 更新, rows_unchanged AS 変更なし,
                   rows_duplicate AS ファイル内重複, rows_rejected AS 除外,
                   started_at AS 開始, finished_at AS 終了, coalesce(message, '') AS メッセージ, sha256,
                   pid""" + identity + """
            FROM import_batches ORDER BY batch_id DESC LIMIT ?""", [limit]).df()
        pending = journal.pending(con, db_path(store))
    history = _with_journal(history, pending, ended=journal.ended(db_path(store)))
    read = history[["文字コード", "形式", "delimiter"]].astype(object)   # format_words' order
    words = [format_words(*row) for row in read.where(read.notna(), None).itertuples(index=False)]
    history["形式"] = [w.format for w in words]
    history["文字コード"] = [w.encoding for w in words]
    return history.drop(columns=["delimiter", "pid"])


def journal_history(store: Path | str | None = None) -> pd.DataFrame:
    """Every attempt the journal holds, newest first, in import_history's columns: what 取り込み履歴
    can still show when the store itself cannot be read (damaged)."""
    store = db_path(store)
    empty = pd.DataFrame(columns=["番号", "ファイル名", "種類", "状態", "メッセージ", "読込行数", "開始", "終了", "sha256", "pid"])
    history = _with_journal(empty.assign(**{"状態": pd.Series(dtype=object), "メッセージ": pd.Series(dtype=object)}),
                            journal.attempts(store), note="")
    return history.drop(columns=["pid"])


def _with_journal(history: pd.DataFrame, pending: list[dict],
                  note: str = "（データファイルに記録できなかったため、別の記録から表示しています）",
                  ended: dict | None = None) -> pd.DataFrame:
    """The store's rows, a row left 実行中 by a process that is gone shown as the journal says it
    ended (a full disk can keep the store from saying it) or else as 中断, and the attempts only the
    journal knows (the store could not record them; the next write will), newest first."""
    status = {"done": "完了", "refused": "受付不可", "failed": "失敗", "interrupted": "中断", "running": "実行中"}
    for index in history.index[history["状態"] == "実行中"]:
        pid = history.at[index, "pid"]
        if journal.pid_alive(int(pid) if pd.notna(pid) else None):
            continue
        started = history.at[index, "開始"]
        word = (ended or {}).get((int(pid) if pd.notna(pid) else 0, started.isoformat() if pd.notna(started) else ""), {})
        history.at[index, "状態"] = status.get(word.get("status"), "中断") if word.get("status") != "done" else "中断"
        history.at[index, "メッセージ"] = word.get("message") or history.at[index, "メッセージ"] or journal.INTERRUPTED_JA
    if not pending:
        return history
    kinds = {"cases": "ケース", "events": "対応履歴", "countermeasures": "再発防止策"}
    extra = pd.DataFrame([{
        "番号": pd.NA, "ファイル名": e.get("file_name"), "種類": kinds.get(e.get("kind"), e.get("kind")),
        "状態": status.get(e["status"], e["status"]), "読込行数": 0,
        "開始": pd.Timestamp(e["started_at"]), "終了": pd.Timestamp(e["finished_at"]) if e.get("finished_at") else pd.NaT,
        "メッセージ": (e.get("message") or "") + note,
        "sha256": e.get("sha256")} for e in pending])
    merged = pd.concat([history, extra.reindex(columns=history.columns)], ignore_index=True)
    merged["番号"] = merged["番号"].astype("Int64")
    return merged.sort_values("開始", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


def rejected_rows(batch_id: int, store: Path | str | None = None) -> pd.DataFrame:
    """The rejected rows of an import as stored: 行番号, 理由, 元の行 (JSON). Pages show rejected_table."""
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute("SELECT line AS 行番号, reason AS 理由, raw AS 元の行 FROM rejected_rows WHERE batch_id = ? "
                           "ORDER BY line", [batch_id]).df()


REJECTED_COLUMNS = ("行番号", "理由")
UNREAD_ROW = "元の行"   # a record that could not be split into fields, as it stood in the file


def rejected_table(batch_id: int, store: Path | str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The rejected rows of an import as a table: 行番号, 理由, then one column per column of the
    file (in the file's order); a record that could not be split into fields keeps its text in 元の行.

    The first `limit` rows by line (all when None); the count is in import_history's 除外."""
    with db.reader(store, wait_seconds=2.0) as con:
        rows = con.execute("SELECT line, reason, raw FROM rejected_rows WHERE batch_id = ? ORDER BY line"
                           + (" LIMIT ?" if limit is not None else ""),
                           [batch_id] + ([limit] if limit is not None else [])).fetchall()
    return rejected_rows_as_table(rows)


def rejected_rows_as_table(rows: list[tuple[int, str, str | None]]) -> pd.DataFrame:
    """(line, reason, raw) → the table rejected_table describes. raw is the row as JSON
    {header: value}, or, for a record that could not be split, its text (None: no fields shown)."""
    records, headers = [], {}
    for line, reason, raw in rows:
        fields = _json_object(raw)
        record = {"行番号": line, "理由": reason}
        if fields is None:
            if isinstance(raw, str) and raw:
                record[UNREAD_ROW] = raw
        else:
            for header, value in fields.items():
                # A file with its own 理由 column must not overwrite the reason the row was rejected.
                column = header if header not in (*REJECTED_COLUMNS, UNREAD_ROW) else f"{header}（ファイルの列）"
                headers.setdefault(column, None)
                record[column] = "" if value is None else str(value)
        records.append(record)
    columns = [*REJECTED_COLUMNS, *headers] + ([UNREAD_ROW] if any(UNREAD_ROW in r for r in records) else [])
    table = pd.DataFrame.from_records(records, columns=columns)
    for column in columns[2:]:
        table[column] = table[column].fillna("").astype("string")
    return table


def _json_object(raw: str | None) -> dict | None:
    if not isinstance(raw, str) or not raw.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def csv_for_excel(frame: pd.DataFrame) -> bytes:
    """CSV that Excel opens in Japanese without mojibake (UTF-8 with BOM), with formula injection
    neutralised: a cell starting with = + - @ (or tab/CR) gets a leading apostrophe."""
    def neutralise(value):
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or str(safe[column].dtype).startswith(("string", "str")):
            safe[column] = safe[column].map(neutralise)
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def filter_options(store: Path | str | None = None) -> dict[str, list]:
    """Choices for the shared sidebar filters (see pipelines.store.filters)."""

    with db.reader(store, wait_seconds=2.0) as con:
        return filters.options(con)


def period(flt, store: Path | str | None = None):
    """The period the filters cover on this store ("now" = latest received_at unless overridden)."""

    with db.reader(store, wait_seconds=2.0) as con:
        return filters.resolve(con, flt)


UNCLASSIFIED_COLOR = "#9e9e9e"


def theme_palette(store: Path | str | None = None) -> dict[str, str]:
    """Theme name → colour (the rules file's), plus 未分類 in grey: one colour per theme everywhere."""
    with db.reader(store, wait_seconds=2.0) as con:
        palette = {name: color for name, color in con.execute(
            "SELECT name, color FROM themes ORDER BY position").fetchall() if color}
    palette.setdefault(UNCLASSIFIED_NAME, UNCLASSIFIED_COLOR)
    return palette
