"""Read functions the pages call: plain DataFrames and values, aggregated in DuckDB."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.store import db, filters
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


def import_history(store: Path | str | None = None, limit: int = 200) -> pd.DataFrame:
    """One row per import, newest first, with the Japanese column names the page shows."""
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute("""
            SELECT batch_id AS 番号, file_name AS ファイル名,
                   CASE kind WHEN 'cases' THEN 'ケース' WHEN 'events' THEN '対応履歴' WHEN 'countermeasures' THEN '再発防止策'
                        ELSE kind END AS 種類,
                   CASE status WHEN 'done' THEN '完了' WHEN 'refused' THEN '受付不可' WHEN 'failed' THEN '失敗'
                        WHEN 'running' THEN '実行中' WHEN 'interrupted' THEN '中断' ELSE status END AS 状態,
                   encoding AS 文字コード, format AS 形式, mapping_name AS 対応づけ,
                   rows_read AS 読込行数, rows_inserted AS 追加, rows_updated AS 更新, rows_unchanged AS 変更なし,
                   rows_duplicate AS ファイル内重複, rows_rejected AS 除外,
                   started_at AS 開始, finished_at AS 終了, message AS メッセージ, sha256
            FROM import_batches ORDER BY batch_id DESC LIMIT ?""", [limit]).df()


def rejected_rows(batch_id: int, store: Path | str | None = None) -> pd.DataFrame:
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute("SELECT line AS 行番号, reason AS 理由, raw AS 元の行 FROM rejected_rows WHERE batch_id = ? "
                           "ORDER BY line", [batch_id]).df()


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
