"""The limits on what reading one export may take, the refusal each one gives, and the received
dates a load accepts.

Every limit counts what is actually read — rows, columns, characters in a cell, bytes written to
the temp folder, the unpacked size of a workbook's parts — never what a file declares (an .xlsx
<dimension> can be stale or claim a million rows). The values are settings.ReadLimits, from
environment variables; README "Loading exports" lists them.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import duckdb

from pipelines.store.errors import RefusedFile
from pipelines.store.settings import LIMIT_ENVS, ReadLimits, read_limits, received_range

JAPAN = ZoneInfo("Asia/Tokyo")

HINT_JA = "ファイルを期間や部署で分けて書き出すか、管理者に上限（環境変数 {env}）の変更を相談してください。"
HINT_EN = "Export it in smaller parts (by period or department), or raise the limit with {env}."


def _refusal(setting: str, ja: str, en: str) -> RefusedFile:
    env = LIMIT_ENVS[setting]
    return RefusedFile("too_large", ja, en, HINT_JA.format(env=env), HINT_EN.format(env=env))


def file_too_large(name: str, size: int, limits: ReadLimits) -> RefusedFile:
    return _refusal("max_file_mb", f"「{name}」は {size / (1 << 20):,.0f} MB あり、取り込める上限（{limits.max_file_mb:,} MB）を超えています。",
                    f"{name} is {size / (1 << 20):,.0f} MB, over the limit of {limits.max_file_mb:,} MB.")


def too_many_rows(name: str, line: int, limits: ReadLimits) -> RefusedFile:
    return _refusal("max_rows", f"「{name}」は {line:,} 行目の時点で、取り込める行数の上限（{limits.max_rows:,} 行）を超えています。",
                    f"{name} has more than {limits.max_rows:,} rows (the limit), counted at line {line:,}.")


def too_many_columns(name: str, line: int, columns: int, limits: ReadLimits) -> RefusedFile:
    return _refusal("max_columns", f"「{name}」の {line:,} 行目には {columns:,} 列目に値があり、列数の上限（{limits.max_columns:,} 列）を超えています。",
                    f"{name}: line {line:,} has a value in column {columns:,}, over the limit of {limits.max_columns:,} columns.")


def cell_too_long(name: str, line: int | None, chars: int, limits: ReadLimits) -> RefusedFile:
    where_ja, where_en = (f"{line:,} 行目の", f"line {line:,}: ") if line else ("", "")
    return _refusal("max_cell_chars", f"「{name}」の{where_ja}セルに {chars:,} 文字あり、1 セルの上限（{limits.max_cell_chars:,} 文字）を超えています。",
                    f"{name}: {where_en}a cell holds {chars:,} characters, over the limit of {limits.max_cell_chars:,}.")


def expands_too_much(name: str, what_ja: str, what_en: str, size: int, limit_mb: int, setting: str) -> RefusedFile:
    return _refusal(setting, f"「{name}」は{what_ja}が {size / (1 << 20):,.0f} MB を超え、上限（{limit_mb:,} MB）を超えています。",
                    f"{name}: {what_en} exceeds {size / (1 << 20):,.0f} MB, over the limit of {limit_mb:,} MB.")


def check_staged(con: duckdb.DuckDBPyConnection, name: str, limits: ReadLimits | None = None) -> None:
    """Refuse a staged file (staging.stage: raw and rejects_stage) with more records than the row
    limit or a kept cell longer than the cell limit: a delimited file's records and cells are first
    counted here, where DuckDB has read them (a workbook's were counted as it was read)."""
    limits = limits or read_limits()
    rows = con.execute("SELECT (SELECT count(*) FROM raw) + (SELECT count(*) FROM rejects_stage)").fetchone()[0]
    if rows > limits.max_rows:
        raise too_many_rows(name, rows, limits)
    texts = [column for (column,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'raw' AND data_type = 'VARCHAR'").fetchall()]
    if not texts:
        return
    lengths = ", ".join(f'coalesce(length("{column}"), 0)' for column in texts)
    widest = "greatest(" + lengths + ", 0)" if len(texts) > 1 else lengths
    found = con.execute(f"SELECT line, {widest} AS chars FROM raw WHERE {widest} > ? ORDER BY line LIMIT 1",
                        [limits.max_cell_chars]).fetchone()
    if found:
        raise cell_too_long(name, found[0], found[1], limits)


def received_bounds(load_day: dt.date | None = None) -> dict:
    """The SQL parameters of the received-date rule (load._stage_case_rows): a received date from
    $received_after on, or before $received_earliest, rejects the row with a reason.

    The load day is Japan's (received dates are Japan time); its whole next day is allowed by default
    (settings.ReceivedRange), so a case received just now is never refused for a clock's time zone."""
    allowed = received_range()
    load_day = load_day or dt.datetime.now(JAPAN).date()
    after = allowed.latest(load_day) + dt.timedelta(days=1)
    future = "翌日" if allowed.future_days == 1 else ("当日" if allowed.future_days == 0 else f"{allowed.future_days} 日後")
    return {"received_after": dt.datetime.combine(after, dt.time()), "received_future": future,
            "received_earliest": dt.datetime.combine(allowed.earliest, dt.time())}


__all__ = ["cell_too_long", "check_staged", "expands_too_much", "file_too_large", "received_bounds",
           "too_many_columns", "too_many_rows"]
