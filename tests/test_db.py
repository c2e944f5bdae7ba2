"""The store's connections (pipelines.store.db): the schema a first write creates, the version the
UI keys its caches on, read-only readers, and what a second process holding the store does."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.store import db
from pipelines.store.errors import StoreBusy

TABLES = {"store_meta", "import_batches", "cases", "case_events", "rejected_rows", "case_terms", "saved_mappings",
          "countermeasures", "themes", "case_themes", "case_causes", "case_scores", "analysis_state"}


def _tables(con) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _write_something(store: Path) -> None:
    with db.writer(store) as con:
        con.execute("INSERT INTO saved_mappings VALUES ('手動', 'cases', '{}', now())")
        db.bump_version(con)


# ---------------------------------------------------------------- schema

def test_the_first_write_creates_the_store_with_its_schema(tmp_path):
    store = tmp_path / "store.duckdb"
    with db.writer(store) as con:
        assert TABLES <= _tables(con)
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    assert store.exists()
    assert (meta["schema_version"], meta["store_version"]) == (str(db.SCHEMA_VERSION), "0")
    assert len(meta["salt"]) == 32 and int(meta["salt"], 16) >= 0


def test_the_salt_is_made_once_so_customer_keys_stay_stable(tmp_path):
    store = tmp_path / "store.duckdb"
    salts = []
    for _ in range(2):
        with db.writer(store) as con:
            salts.append(db.meta(con, "salt"))
            assert con.execute("SELECT count(*) FROM store_meta WHERE key = 'salt'").fetchone()[0] == 1
    assert salts[0] == salts[1]
    with db.writer(tmp_path / "other.duckdb") as con:
        assert db.meta(con, "salt") != salts[0], "each store has its own salt"


def test_a_reader_of_a_missing_store_sees_an_empty_one_and_creates_nothing(tmp_path):
    store = tmp_path / "store.duckdb"
    with db.reader(store) as con:
        assert TABLES <= _tables(con)
        assert con.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    assert not store.exists()


def test_a_reader_cannot_write(tmp_path):
    store = tmp_path / "store.duckdb"
    _write_something(store)
    with db.reader(store) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM saved_mappings")


# ---------------------------------------------------------------- store_version

def test_store_version_changes_after_a_write_and_not_after_a_read(tmp_path):
    store = tmp_path / "store.duckdb"
    assert db.store_version(store).startswith("none")
    _write_something(store)
    first = db.store_version(store)
    assert first.startswith("1:")
    with db.reader(store) as con:
        con.execute("SELECT * FROM saved_mappings").fetchall()
    assert db.store_version(store) == first, "reading keeps the pages' caches"
    _write_something(store)
    assert db.store_version(store).startswith("2:")


def test_a_load_bumps_the_store_version(tmp_path):
    store = tmp_path / "store.duckdb"
    export = tmp_path / "cases.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容\r\nV-1,2025/04/01 10:00,届きません。\r\n", encoding="utf-8")
    _write_something(store)
    before = db.store_version(store)
    load_file(export, store, LoadOptions(workers=1))
    assert db.store_version(store) != before


def test_a_bad_memory_limit_is_refused_with_an_example(tmp_path, monkeypatch):
    monkeypatch.setenv("KAKEHASHI_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="600MB"), db.writer(tmp_path / "store.duckdb"):
        pass


# ---------------------------------------------------------------- another process holds the store

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(store: Path, seconds: float) -> subprocess.Popen:
    """A child process that opens the store read-write (as a load does) for `seconds`."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(store), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


@pytest.fixture
def held_store(tmp_path):
    store = tmp_path / "store.duckdb"
    _write_something(store)
    child = _hold(store, 30)
    yield store
    child.kill()
    child.wait()


def test_a_store_held_by_another_process_is_busy_in_japanese(held_store):
    with pytest.raises(StoreBusy) as busy, db.writer(held_store, wait_seconds=0.3):
        pass
    assert busy.value.message_ja().startswith("データを更新中です")
    assert "locked by another process" in busy.value.message_en() and busy.value.exit_code == 2
    with pytest.raises(StoreBusy), db.reader(held_store, wait_seconds=0.3):
        pass
    assert db.store_version(held_store) == "busy", "the pages show a busy notice instead of failing"


def test_a_writer_waits_for_the_other_process_to_finish(tmp_path):
    store = tmp_path / "store.duckdb"
    _write_something(store)
    child = _hold(store, 1.0)
    started = time.monotonic()
    try:
        _write_something(store)   # the default wait is long enough
    finally:
        child.wait()
    assert time.monotonic() - started >= 0.5, "it waited rather than failed"
    assert db.store_version(store).startswith("2:")


def test_the_pages_change_stamp_moves_on_a_write_and_not_on_a_read(tmp_path):
    """What an open page watches (a stat, no connection) to rerun when a load from the CLI ended."""
    store = tmp_path / "store.duckdb"
    _write_something(store)
    before = db.change_stamp(store)
    with db.reader(store) as con:
        con.execute("SELECT * FROM saved_mappings").fetchall()
    assert db.change_stamp(store) == before
    time.sleep(0.01)
    _write_something(store)
    assert db.change_stamp(store) != before
    assert not db.store_busy(store)


def test_a_write_to_a_store_it_did_not_leave_reads_every_table_first(tmp_path):
    store = tmp_path / "store.duckdb"
    _write_something(store)
    with db.writer(store) as con:
        assert db.verify(con, store) == 0, "as the last writer left it: no second full read"
    con = duckdb.connect(str(store))   # another program writes the file
    con.execute("INSERT INTO saved_mappings VALUES ('外から', 'cases', '{}', now())")
    con.close()
    with db.reader(store) as con:
        assert db.verify(con, store) >= len(TABLES), "changed by another program: every table is read"
