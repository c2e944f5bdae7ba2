"""Stores made by another release: an earlier one opens and is upgraded in place (a copy kept first,
each migration in order, one transaction); a newer one is refused and left as it is.

tests/data/stores/schema_v1.duckdb.gz was made by the release before the package reorganisation
(commit 8d21e6b, schema 1): `python -m pipelines ingest` of two CP932 cases, then `analyze`.
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.reports import shared
from pipelines.store import db
from pipelines.store.errors import StoreFault

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "tests" / "data" / "stores" / "schema_v1.duckdb.gz"


@pytest.fixture
def v1_store(tmp_path) -> Path:
    store = tmp_path / "kakehashi.duckdb"
    with gzip.open(V1) as packed, store.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return store


def _meta(store: Path, key: str) -> str:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()[0]
    finally:
        con.close()


def test_a_store_of_the_previous_release_reads_and_loads(v1_store, tmp_path):
    assert shared.overview(v1_store).cases == 2
    export = tmp_path / "more.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容\r\nB-1,2025/5/1 9:00,ラベルの表示が読みにくいです。\r\n", encoding="utf-8")
    result = load_file(export, v1_store, LoadOptions(workers=1))
    assert (result.inserted, result.accounted()) == (1, True)
    assert shared.overview(v1_store).cases == 3
    assert _meta(v1_store, "schema_version") == str(db.SCHEMA_VERSION)


def test_an_older_store_is_copied_then_migrated_in_one_step(v1_store, monkeypatch):
    original = v1_store.read_bytes()
    monkeypatch.setattr(db, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(db, "MIGRATIONS", {2: "0002_test"})
    real_sql = db.sql
    monkeypatch.setattr(db, "sql", lambda name: "ALTER TABLE cases ADD COLUMN IF NOT EXISTS identity VARCHAR"
                        if name == "migrations/0002_test" else real_sql(name))
    with db.writer(v1_store) as con:
        columns = {r[0] for r in con.execute("DESCRIBE cases").fetchall()}
        assert "identity" in columns and con.execute("SELECT count(*) FROM cases").fetchone()[0] == 2
    assert _meta(v1_store, "schema_version") == "2"
    assert db.backup_path(v1_store, 1).read_bytes() == original


def test_a_failed_migration_changes_nothing_and_says_where_the_copy_is(v1_store, monkeypatch):
    monkeypatch.setattr(db, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(db, "MIGRATIONS", {2: "0002_broken"})
    real_sql = db.sql
    monkeypatch.setattr(db, "sql", lambda name: "ALTER TABLE no_such_table ADD COLUMN x INTEGER"
                        if name == "migrations/0002_broken" else real_sql(name))
    with pytest.raises(StoreFault) as raised:
        with db.writer(v1_store):
            pass
    assert raised.value.code == "store_upgrade"
    assert "kakehashi.duckdb.v1.bak" in raised.value.message_ja()
    assert _meta(v1_store, "schema_version") == "1"


def test_a_store_of_a_newer_release_is_refused_and_left_alone(v1_store):
    con = duckdb.connect(str(v1_store))
    con.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = v1_store.read_bytes()
    with pytest.raises(StoreFault) as raised:
        with db.writer(v1_store):
            pass
    assert raised.value.code == "store_newer" and "新しいバージョン" in raised.value.message_ja()
    assert v1_store.read_bytes() == before
    done = subprocess.run([sys.executable, "-m", "pipelines", "ingest", str(ROOT / "data" / "sample" / "countermeasures.csv"),
                           "--countermeasures", "--db", str(v1_store), "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "newer Kakehashi release" in done.stderr and "Traceback" not in done.stderr
    assert v1_store.read_bytes() == before
