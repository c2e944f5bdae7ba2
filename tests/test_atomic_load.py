"""A load killed in the middle leaves the store exactly as it was, and the next load says so.

The child process loads with LoadOptions(pause_before_commit=…): every row is written inside the
open transaction, then it sleeps. It announces the pause on stdout (by wrapping time.sleep for
that one duration), so the test kills it at the right moment without guessing with timeouts.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import LoadOptions, load_file

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "data" / "exports"
PAUSE = 37.0  # seconds; a value nothing else sleeps for

CHILD = f"""
import sys, time
from pipelines.ingest.load import LoadOptions, load_file

_sleep = time.sleep
def sleep(seconds):
    if seconds == {PAUSE}:
        print("paused", flush=True)  # all rows written, COMMIT not yet run
    _sleep(seconds)
time.sleep = sleep

load_file(sys.argv[1], sys.argv[2], LoadOptions(pause_before_commit={PAUSE}))
print("committed", flush=True)
"""


def state(store: Path) -> dict[str, object]:
    """What a user sees of the data: row counts of every data table and a checksum of cases."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        counts = {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # fixed names
                  for table in ("cases", "case_events", "case_terms", "rejected_rows")}
        checksum = con.execute("SELECT md5(string_agg(CAST(c AS VARCHAR), chr(10) ORDER BY case_id)) FROM cases c")
        return {**counts, "cases_checksum": checksum.fetchone()[0]}
    finally:
        con.close()


def wait_for_line(proc: subprocess.Popen, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == wanted:
                return
            if line == "":  # the child exited before pausing
                break
    proc.kill()
    _, err = proc.communicate()
    pytest.fail(f"the loading child never reached the pause:\n{err}")


# (file loaded first, file whose load is killed, its accounting when loaded again afterwards)
KILLED = [
    ("salesforce_ja_cp932.csv", "update_newer_export.csv", dict(inserted=1, updated=5, unchanged=2, rejected=0)),
    ("salesforce_ja_cp932.csv", "mixed_bad_rows.csv", dict(inserted=8, updated=0, unchanged=0, rejected=6)),
]


@pytest.mark.parametrize(("first", "killed", "accounting"), KILLED)
def test_killed_load_leaves_the_store_unchanged(store, first, killed, accounting):
    load_file(EXPORTS / first, store, LoadOptions())
    before = state(store)

    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(EXPORTS / killed), str(store)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for_line(proc, "paused", timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    assert state(store) == before

    result = load_file(EXPORTS / killed, store, LoadOptions())
    assert {k: getattr(result, k) for k in accounting} == accounting
    con = duckdb.connect(str(store), read_only=True)
    try:
        history = con.execute("SELECT file_name, status, message FROM import_batches WHERE pid = ?",
                              [proc.pid]).fetchall()
    finally:
        con.close()
    assert [(name, status) for name, status, _ in history] == [(killed, "interrupted")]
    assert "中断" in history[0][2]  # the history page tells the user the load was cut off
