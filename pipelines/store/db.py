"""Connecting to the store: schema, macros, the single writer path, store versioning and upgrades.

DuckDB lets one process hold a file read-write, and then no other process can open it. The app
therefore opens short-lived read-only connections, and every write goes through writer(), which
waits and retries while another process holds the lock.

Schema versions: pipelines/sql/schema.sql always describes the newest store. A store made by an
earlier release is upgraded in place by the writer the first time it opens it: a copy of the file
is kept first (<store>.v<N>.bak), then each migration in MIGRATIONS runs in order, in one
transaction. A store made by a newer release is refused, never written.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.nlp.pii import mask_sql_macro
from pipelines.store.errors import StoreBusy, StoreFault
from pipelines.store.settings import SQL_DIR, db_path

SCHEMA_VERSION = 2
# version reached → the SQL that brings a store of the version before to it (pipelines/sql/migrations/).
# A schema change adds its columns to schema.sql (new stores) AND a migration here (existing stores).
MIGRATIONS: dict[int, str] = {2: "0002_case_identity"}
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
                    [secrets.token_hex(16), str(SCHEMA_VERSION)])


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version a store was made or last upgraded to; None for a new, empty file."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "store_meta" not in tables:
        return None
    value = meta(con, "schema_version")
    return int(value) if value and value.isdigit() else 1


def _newer_store(store: Path, version: int) -> StoreFault:
    return StoreFault("store_newer", f"このデータファイル（{store.name}）は新しいバージョンの懸け橋で作られています（形式 {version}）。",
                      f"The store {store} was made by a newer Kakehashi release (schema {version}; this one "
                      f"reads up to {SCHEMA_VERSION}).",
                      "懸け橋を最新版に更新してから開いてください。データは変更していません。",
                      "Upgrade Kakehashi, or point KAKEHASHI_DB at another store; nothing was written.")


def backup_path(store: Path, version: int) -> Path:
    """Where the copy of a store is kept before it is upgraded from `version`."""
    return store.with_name(f"{store.name}.v{version}.bak")


def _upgrade(store: Path, con: duckdb.DuckDBPyConnection, version: int, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Keep a copy of the file, then run the migrations after `version` in one transaction."""
    con.close()   # a consistent copy: the file is checkpointed and closed while it is copied
    backup = backup_path(store, version)
    try:
        shutil.copy2(store, backup)
    except OSError as exc:
        raise StoreFault("store_backup", "データファイルの更新前のコピーを作れませんでした（空き容量などを確認してください）。",
                         f"Could not keep a copy of {store} at {backup} before upgrading it: {exc}.",
                         "ディスクの空き容量と書き込み権限を確認してから、もう一度お試しください。データは変更していません。",
                         f"Free disk space or fix permissions on {backup.parent}, then retry; nothing was written.") from exc
    con = _connect(store, read_only=False, wait_seconds=wait_seconds)
    con.execute("BEGIN TRANSACTION")
    try:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            con.execute(sql(f"migrations/{MIGRATIONS[target]}"))
        con.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        con.close()
        raise StoreFault("store_upgrade", "データファイルを新しい形式に更新できませんでした。",
                         f"Upgrading {store} from schema {version} to {SCHEMA_VERSION} failed: {exc}.",
                         f"更新前のコピー（{backup.name}）は残してあります。管理者に連絡してください。",
                         f"The copy made before the upgrade is at {backup}; report the error.") from exc
    return con


def open_for_writing(store: Path, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """A read-write connection to a store at the current schema version (new, as is, or upgraded)."""
    con = _connect(store, read_only=False, wait_seconds=wait_seconds)
    try:
        version = schema_version(con)
        if version is not None and version > SCHEMA_VERSION:
            raise _newer_store(store, version)
        if version is not None and version < SCHEMA_VERSION:
            con = _upgrade(store, con, version, wait_seconds)
        init_store(con)
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.close()
        raise
    return con


def install_macros(con: duckdb.DuckDBPyConnection) -> None:

    con.execute(sql("macros"))
    con.execute(mask_sql_macro())


@contextlib.contextmanager
def writer(path: Path | str | None = None, wait_seconds: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one write path: waits for the lock, ensures the schema, closes on exit."""
    store = db_path(path)
    store.parent.mkdir(parents=True, exist_ok=True)
    con = open_for_writing(store, wait_seconds)
    try:
        # Bounded memory for million-row loads: DuckDB spills to disk past this limit.
        con.execute(f"SET memory_limit = '{_memory_limit()}'")
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
