"""Connecting to the store: schema, macros, the single writer path and store versioning.

DuckDB lets one process hold a file read-write, and then no other process can open it. The app
therefore opens short-lived read-only connections, and every write goes through writer(), which
waits and retries while another process holds the lock.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.nlp.pii import mask_sql_macro
from pipelines.store.errors import StoreBusy
from pipelines.store.settings import SQL_DIR, db_path

SCHEMA_VERSION = "1"
_LOCK_WORDS = ("lock", "Conflicting", "being used by another process")


def sql(name: str) -> str:
    """The text of pipelines/sql/<name>.sql."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _is_lock_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and any(w in str(exc) for w in _LOCK_WORDS)


def _connect(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                if _is_lock_error(exc):
                    raise StoreBusy("busy", "データを更新中です。しばらくしてから再度お試しください。",
                                    f"The store {path} is locked by another process (a load or analysis is running).",
                                    "", "Wait for it to finish; check with `ps aux | grep pipelines`.") from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def init_store(con: duckdb.DuckDBPyConnection) -> None:
    """Create tables (idempotent), session macros, and the per-store salt."""
    con.execute(sql("schema"))
    install_macros(con)
    if con.execute("SELECT count(*) FROM store_meta WHERE key = 'salt'").fetchone()[0] == 0:
        con.execute("INSERT INTO store_meta VALUES ('salt', ?), ('schema_version', ?), ('store_version', '0')",
                    [secrets.token_hex(16), SCHEMA_VERSION])


def install_macros(con: duckdb.DuckDBPyConnection) -> None:

    con.execute(sql("macros"))
    con.execute(mask_sql_macro())


@contextlib.contextmanager
def writer(path: Path | str | None = None, wait_seconds: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one write path: waits for the lock, ensures the schema, closes on exit."""
    store = db_path(path)
    store.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(store, read_only=False, wait_seconds=wait_seconds)
    try:
        # Bounded memory for million-row loads: DuckDB spills to disk past this limit.
        con.execute(f"SET memory_limit = '{_memory_limit()}'")
        init_store(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def reader(path: Path | str | None = None, wait_seconds: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection (a missing store reads as an empty one)."""
    store = db_path(path)
    if not store.exists():
        con = duckdb.connect(":memory:")
        try:
            init_store(con)
            yield con
        finally:
            con.close()
        return
    con = _connect(store, read_only=True, wait_seconds=wait_seconds)
    try:
        # No macros here: read queries do not use them, and installing them costs ~30 ms a
        # connection, which pages open many of (call install_macros() when one needs them).
        yield con
    finally:
        con.close()


def _memory_limit() -> str:
    value = os.environ.get("KAKEHASHI_MEMORY_LIMIT", "500MB")
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)", value, re.IGNORECASE):
        raise ValueError(f"KAKEHASHI_MEMORY_LIMIT={value!r}: use a size such as 600MB or 2GB")
    return value


def bump_version(con: duckdb.DuckDBPyConnection) -> None:
    """Every write bumps the store version; the UI keys its caches on it."""
    con.execute("UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS VARCHAR) WHERE key = 'store_version'")


def store_version(path: Path | str | None = None) -> str:
    """Cheap cache key: version number plus file mtime (a missing store is version 'none')."""
    store = db_path(path)
    if not store.exists():
        return "none"
    try:
        with reader(store, wait_seconds=2.0) as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = 'store_version'").fetchone()
        return f"{row[0] if row else 0}:{store.stat().st_mtime_ns}"
    except StoreBusy:
        return "busy"


def meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
