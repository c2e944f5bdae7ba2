"""The summaries (pipelines/store/summaries.py) equal a computation from scratch after every kind of
write: a new load, an overlapping reload, an events load, an analysis after a rules edit, a
countermeasure entry, and a load killed in the middle (which changes nothing). And the pages that
read them give what the scans gave."""
from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.analysis.analyze import analyze
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.store import db, summaries
from tests.test_atomic_load import CHILD, PAUSE, wait_for_line

ROOT = Path(__file__).resolve().parent.parent


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    out = {}
    for table in summaries.TABLES:   # fixed names
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
        out[table] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
    return out


def maintained_and_scratch(store: Path) -> tuple[dict, dict]:
    """The summaries as the writes left them, and as rebuild() computes them (rolled back)."""
    con = duckdb.connect(str(store))
    try:
        maintained = _rows(con)
        con.execute("BEGIN TRANSACTION")
        summaries.rebuild(con)
        scratch = _rows(con)
        con.execute("ROLLBACK")
    finally:
        con.close()
    return maintained, scratch


def assert_fresh(store: Path) -> dict:
    maintained, scratch = maintained_and_scratch(store)
    for table in summaries.TABLES:
        assert maintained[table] == scratch[table], f"{table} differs from a computation from scratch"
    assert maintained["sum_case_flow"] and maintained["sum_daily"] and maintained["sum_stints"]
    return maintained


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from devtools.sample import generate

    folder = tmp_path_factory.mktemp("summaries_src")
    generate(folder, 5, 1500, date(2024, 1, 1), 14)
    return folder


@pytest.fixture(scope="module")
def base_store(generated, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("summaries") / "store.duckdb"
    load_file(generated / "cases.csv", store, LoadOptions(workers=1))
    assert_fresh(store)                                 # a new load: cases, texts tagged at load
    load_file(generated / "events.csv", store, LoadOptions(kind="events", workers=1))
    assert_fresh(store)                                 # an events load: stints, escalations
    analyze(store, workers=1)
    return store


@pytest.fixture
def store_copy(base_store, tmp_path) -> Path:
    copy = tmp_path / "store.duckdb"
    shutil.copy(base_store, copy)
    return copy


def test_after_new_loads_and_analysis_the_summaries_equal_scratch(base_store):
    rows = assert_fresh(base_store)
    con = duckdb.connect(str(base_store), read_only=True)
    try:
        cases, events_cases = con.execute(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(DISTINCT case_id) FROM case_events)").fetchone()
    finally:
        con.close()
    assert len(rows["sum_case_flow"]) == cases
    # every case has at least its receiving stint
    assert len({r[1] for r in rows["sum_stints"]}) == cases and events_cases > 0
    assert len(rows["sum_termsets"]) > 0.9 * cases
    assert sum(r[3] for r in rows["sum_daily"] if r[1] == "all") == cases
    assert rows["sum_chains"], "the generator plants a repeat customer"


def _reload_overlapping(generated: Path, folder: Path) -> Path:
    """An export overlapping the stored one: changed texts, dates and customers, and new cases."""
    with (generated / "cases.csv").open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header, rows = next(reader), list(reader)
    chosen = rows[::7]
    for i, row in enumerate(chosen):
        if i % 3 == 0:
            row[header.index("問い合わせ内容")] += " 何度も問い合わせていますが、まだ届きません。"
        if i % 3 == 1:
            received = datetime.strptime(row[header.index("受付日時")], "%Y/%m/%d %H:%M") + timedelta(days=9)
            row[header.index("受付日時")] = received.strftime("%Y/%m/%d %H:%M")
        if i % 3 == 2:
            row[header.index("顧客ID")] = "KC9999999"
    new = [list(r) for r in rows[:40]]
    for i, row in enumerate(new):
        row[header.index("ケース番号")] = f"N-{i:05d}"
    out = folder / "reload.csv"
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(chosen + new)
    return out


def test_an_overlapping_reload_and_its_analysis_keep_them_equal(generated, store_copy, tmp_path):
    before = assert_fresh(store_copy)
    result = load_file(_reload_overlapping(generated, tmp_path), store_copy, LoadOptions(workers=1))
    assert result.updated > 0 and result.inserted == 40
    after = assert_fresh(store_copy)
    assert after["sum_daily"] != before["sum_daily"]
    analyze(store_copy, workers=1)          # repeat counts of other cases of the same customers
    assert_fresh(store_copy)


def test_a_rules_edit_and_re_tag_keep_them_equal(store_copy, tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "data" / "rules", rules)
    themes = (rules / "themes.txt").read_text(encoding="utf-8")
    # A new theme that takes words many cases have, and the first theme's conditions gone.
    themes += "\n＊お礼 [thanks_test] #123456\nありがとう | 感謝\n"
    (rules / "themes.txt").write_text(themes, encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_RULES_DIR", str(rules))
    before = assert_fresh(store_copy)
    result = analyze(store_copy, workers=1)
    assert result.analysed > 0
    after = assert_fresh(store_copy)
    assert any(r[1] == "theme" and r[2] == "thanks_test" for r in after["sum_daily"])
    assert after["sum_daily"] != before["sum_daily"]


def test_a_countermeasure_entry_changes_no_summary(store_copy):
    from pipelines.ingest.countermeasures import record_countermeasure

    before = assert_fresh(store_copy)
    record_countermeasure(date(2024, 6, 1), "梱包不良", "物流部", "緩衝材を増やした", store=store_copy)
    assert assert_fresh(store_copy) == before


def test_a_load_killed_mid_way_leaves_the_summaries_as_they_were(generated, store_copy, tmp_path):
    before = assert_fresh(store_copy)
    export = _reload_overlapping(generated, tmp_path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(export), str(store_copy)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(child, "paused", timeout=120)   # every row and summary written, not committed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert assert_fresh(store_copy) == before


def test_a_store_of_schema_2_gets_its_summaries_from_the_migration(store_copy):
    con = duckdb.connect(str(store_copy))
    expected = _rows(con)
    for table in summaries.TABLES:
        con.execute(f"DROP TABLE {table}")   # fixed names
    con.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    with db.writer(store_copy) as con:
        assert _rows(con) == expected
        assert db.meta(con, "schema_version") == str(db.SCHEMA_VERSION)
