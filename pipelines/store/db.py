"""Connecting to the store: schema, macros, the single writer path, store versioning and upgrades.

DuckDB lets one process hold a file read-write, and then no other process can open it. The app
therefore opens short-lived read-only connections, and every write goes through writer(), which
waits and retries while another process holds the lock.

Schema versions: pipelines/sql/schema.sql always describes the newest store. A store made by an
earlier release is upgraded in place by the writer the first time it opens it: a copy of the file
is kept first (<store>.v<N>.bak), then each migration in MIGRATIONS runs in order, in one
transaction. A store made by a newer release is refused, never written.

Faults (README "Faults and guarantees"): a damaged store is found before anything is written to it —
the writer reads every row of every table once (DuckDB checks each block's checksum as it reads it)
unless the file is exactly as the last writer of this release left it (size and modification time,
kept in the jobs folder). Errors of DuckDB and the OS (full disk, read-only folder, damaged file)
come out as StoreFault/StoreBusy with a Japanese and an English message (errors.store_fault).

Writers are not starved by readers: a writer that finds the store held announces itself with a
marker file (jobs folder, writer-waiting-<pid>) and tries again every few milliseconds; readers
seeing a marker do not open the file but wait (pages show 「更新中」), so the readers holding it
finish and the writer gets in at once.
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
from pipelines.store import errors, journal, scratch, summaries
from pipelines.store.errors import StoreBusy, StoreFault
from pipelines.store.settings import DEFAULT_DB, SQL_DIR, db_path, jobs_dir

SCHEMA_VERSION = 4
# version reached → the SQL that brings a store of the version before to it (pipelines/sql/migrations/).
# A schema change adds its columns to schema.sql (new stores) AND a migration here (existing stores).
MIGRATIONS: dict[int, str] = {2: "0002_case_identity", 3: "0003_summaries", 4: "0004_inferred_and_labels"}
_LOCK_WORDS = ("lock", "Conflicting", "being used by another process")
WRITER_WAITING = "writer-waiting-"
VERIFIED = "verified"
WRITER_POLL = 0.02      # how often a waiting writer tries again: it must get in while no reader holds the file


def sql(name: str) -> str:
    """The text of pipelines/sql/<name>.sql."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _is_lock_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and any(w in str(exc) for w in _LOCK_WORDS)


def _connect(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """A connection, waiting up to `wait_seconds` for the lock. A reader also waits while a writer
    waits (it does not open the file then); a waiting writer says so with a marker file."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    marker: Path | None = None
    try:
        while True:
            if read_only and writer_waiting(path):
                if time.monotonic() > deadline:
                    raise errors.busy(path, wait_seconds)
                time.sleep(min(delay, 0.2))
                delay = min(delay * 2, 0.5)
                continue
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    fault = errors.store_fault(exc, path)
                    if fault is not None:
                        raise fault from exc
                    raise
                if time.monotonic() > deadline:
                    raise errors.busy(path, wait_seconds) from exc
                if read_only:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                else:
                    marker = marker or _announce(path)
                    time.sleep(WRITER_POLL)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def _announce(path: Path) -> Path | None:
    """Tell readers a writer waits (None when the jobs folder cannot be written: readers then only
    miss the hint)."""
    marker = jobs_dir(path) / f"{WRITER_WAITING}{os.getpid()}"
    try:
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
    except OSError:
        return None
    return marker


def writer_waiting(path: Path | str | None = None) -> bool:
    """Whether another living process waits to write the store (readers then keep away)."""
    folder = jobs_dir(db_path(path))
    try:
        markers = [m for m in folder.iterdir() if m.name.startswith(WRITER_WAITING)]
    except OSError:
        return False
    for marker in markers:
        pid = marker.name[len(WRITER_WAITING):]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if journal.pid_alive(int(pid)):
            return True
        marker.unlink(missing_ok=True)   # left by a killed writer
    return False


def init_store(con: duckdb.DuckDBPyConnection) -> None:
    """Create tables (idempotent), session macros, and the per-store salt."""
    con.execute(sql("schema"))
    summaries.create_tables(con)
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
        if version < 3:   # schema 3 added the summaries: derived data, built from the tables here
            summaries.rebuild(con)
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
    """A read-write connection to a store at the current schema version (new, as is, or upgraded),
    checked for damage before anything is written."""
    con = _connect(store, read_only=False, wait_seconds=wait_seconds)
    try:
        verify(con, store)
        version = schema_version(con)
        if version is not None and version > SCHEMA_VERSION:
            raise _newer_store(store, version)
        if version is not None and version < SCHEMA_VERSION:
            con = _upgrade(store, con, version, wait_seconds)
        init_store(con)
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):
            con.close()
        fault = errors.store_fault(exc, store) if isinstance(exc, duckdb.Error | OSError) else None
        if fault is not None:
            raise fault from exc
        raise
    return con


def _file_stamp(store: Path) -> str:
    info = store.stat()
    wal = store.with_name(store.name + ".wal")
    return f"{info.st_size}:{info.st_mtime_ns}:{wal.exists()}"


def verify(con: duckdb.DuckDBPyConnection, store: Path, force: bool = False) -> int:
    """Read every row of every table (DuckDB checks each block's checksum as it reads it), unless the
    file is as this release's last writer left it; raises the store_corrupt StoreFault. Returns the
    tables read (0 when the stamp matched)."""
    stamp_file = jobs_dir(store) / VERIFIED
    try:
        if not force and stamp_file.read_text(encoding="utf-8") == _file_stamp(store):
            return 0
    except OSError:
        pass
    tables = [name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary").fetchall()]
    try:
        for name in tables:
            quoted = '"' + name.replace('"', '""') + '"'
            # hash() of the whole row reads every column; bit_xor keeps the optimizer from skipping it.
            con.execute(f"SELECT bit_xor(hash(kk_row)) FROM {quoted} AS kk_row").fetchall()
    except duckdb.Error as exc:
        raise (errors.store_fault(exc, store) or errors.corrupt(store, str(exc).splitlines()[0][:200])) from exc
    return len(tables)


def _remember_verified(store: Path) -> None:
    """After a write: the file as this writer left it needs no second full read."""
    try:
        stamp_file = jobs_dir(store) / VERIFIED
        stamp_file.parent.mkdir(exist_ok=True)
        stamp_file.write_text(_file_stamp(store), encoding="utf-8")
    except OSError:
        pass


def install_macros(con: duckdb.DuckDBPyConnection) -> None:

    con.execute(sql("macros"))
    con.execute(mask_sql_macro())


@contextlib.contextmanager
def writer(path: Path | str | None = None, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one write path: waits for the lock (`wait_seconds`, else $KAKEHASHI_LOCK_WAIT, else 120 s),
    checks and upgrades the store, writes in the journal's attempts the store lacks, spills to a
    scratch folder of this process, closes on exit."""
    store = db_path(path)
    if wait_seconds is None:
        wait_seconds = lock_wait_seconds()
    _check_folder(store)
    with scratch.work_folder("duckdb") as spill:
        con = open_for_writing(store, wait_seconds)
        try:
            # Bounded memory for million-row loads: DuckDB spills to disk past this limit — into a
            # folder swept if this process is killed (its default, <store>.tmp, would keep the text).
            con.execute(f"SET memory_limit = '{_memory_limit()}'")
            con.execute("SET temp_directory = ?", [str(spill)])
            try:
                if journal.fold(con, store):
                    bump_version(con)
            except duckdb.Error as exc:
                fault = errors.store_fault(exc, store)
                if fault is not None:
                    raise fault from exc
                raise
            yield con
        finally:
            with contextlib.suppress(duckdb.Error):
                con.close()
            if store.exists():
                _remember_verified(store)


def lock_wait_seconds() -> float:
    """How long a write waits for another one to finish: $KAKEHASHI_LOCK_WAIT seconds, default 120."""
    value = os.environ.get("KAKEHASHI_LOCK_WAIT", "120")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"KAKEHASHI_LOCK_WAIT={value!r}: give seconds, e.g. KAKEHASHI_LOCK_WAIT=300") from None
    if seconds < 0:
        raise ValueError(f"KAKEHASHI_LOCK_WAIT={value!r}: give seconds, e.g. KAKEHASHI_LOCK_WAIT=300")
    return seconds


def _check_folder(store: Path) -> None:
    """The default data folder is made when missing; any other store's folder must exist (a missing
    one is a drive not mounted or a typo, not a place to start an empty store)."""
    if store.parent.exists():
        return
    if store.parent == DEFAULT_DB.parent:
        store.parent.mkdir(parents=True, exist_ok=True)
        return
    raise errors.missing_directory(store)


@contextlib.contextmanager
def reader(path: Path | str | None = None, wait_seconds: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection (a missing store reads as an empty one; a missing folder,
    a damaged file and a lock held too long are StoreFault/StoreBusy)."""
    store = db_path(path)
    if not store.exists():
        if not store.parent.exists() and store.parent != DEFAULT_DB.parent:
            raise errors.missing_directory(store)
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
    except duckdb.Error as exc:
        fault = errors.store_fault(exc, store)
        if fault is not None:
            raise fault from exc
        raise
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
    """Cheap cache key: version number, file mtime and the journal's stamp (a missing store is
    version 'none'); "busy" while another process writes or waits to write the store."""
    store = db_path(path)
    if not store.exists():
        return f"none:{journal.stamp(store)}"
    if writer_waiting(store):
        return "busy"
    try:
        with reader(store, wait_seconds=2.0) as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = 'store_version'").fetchone()
        return f"{row[0] if row else 0}:{store.stat().st_mtime_ns}:{journal.stamp(store)}"
    except StoreBusy:
        return "busy"
    except StoreFault as fault:
        # Not cached: the page's first query raises the same fault, with its message.
        return f"fault:{fault.code}"


def store_busy(path: Path | str | None = None) -> bool:
    """Whether another process writes the store, or waits to: one try, no waiting (the pages'
    refresh check, every two seconds while they show 「更新中」)."""
    store = db_path(path)
    if not store.exists():
        return False
    if writer_waiting(store):
        return True
    try:
        with reader(store, wait_seconds=0):
            return False
    except StoreBusy:
        return True
    except StoreFault:
        return False


def change_stamp(path: Path | str | None = None) -> str:
    """Changes when the store, its write-ahead log or the attempts journal changes: a stat, no
    connection (the pages' watch for a load that finished, CLI loads included)."""
    store = db_path(path)
    parts = []
    for file in (store, store.with_name(store.name + ".wal")):
        try:
            info = file.stat()
            parts.append(f"{info.st_size}.{info.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return ":".join(parts) + ":" + journal.stamp(store)


def meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
