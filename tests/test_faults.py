"""Every fault is a message (issue 13, item 4): a damaged store (truncated, overwritten mid-file), a
read-only or missing folder, a full disk and a lock held too long each give an English CLI message
with exit code 2 and what to do, a Japanese page message, and a line in 取り込み履歴 — also when the
store itself could not record it (the attempts journal) and when the load was killed. A waiting
writer is not starved by readers; a killed load's scratch folder is swept by the next one."""
from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.reports.shared import import_history, overview
from pipelines.store import db, journal, scratch
from pipelines.store.errors import StoreBusy, StoreFault

ROOT = Path(__file__).resolve().parent.parent
CASES = [["受付番号", "受付日時", "問い合わせ内容", "商品名"],
         ["F-1", "2025/04/01 09:00", "注文した加湿器がまだ届きません。", "加湿器"],
         ["F-2", "2025/04/02 10:30", "請求額が二重になっています。", "光回線プランⅡ"]]
MORE = [CASES[0], ["F-3", "2025/04/03 14:00", "箱が潰れていました。交換してほしいです。", "加湿器"]]


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    return path


def _big_csv(path: Path, rows: int) -> Path:
    """An export large enough that its load takes a while (and writes megabytes)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("受付番号,受付日時,問い合わせ内容,商品名\r\n")
        for i in range(rows):
            out.write(f"B-{i},2025/05/{1 + i % 28:02d} 10:00,"
                      f"届いた加湿器の箱が潰れていて、本体にも傷がありました。交換をお願いします。注文番号{i}。,加湿器\r\n")
    return path


def _env(tmp_path: Path, **extra: str) -> dict:
    # The journal's fallback and the scratch folders in the test's own folders.
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state"),
            "TMPDIR": str(tmp_path / "tmp"), **extra}


def _cli(tmp_path: Path, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=_env(tmp_path, **env), check=False)


def _ingest(tmp_path: Path, store: Path, export: Path, **env: str) -> subprocess.CompletedProcess:
    return _cli(tmp_path, "ingest", str(export), "--db", str(store), "--quiet", "--workers", "1", **env)


@pytest.fixture(autouse=True)
def _journal_fallback_in_tmp(tmp_path, monkeypatch):
    # The journal's per-user fallback, as the CLI children of these tests see it (_env).
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def store(tmp_path) -> Path:
    store = tmp_path / "store.duckdb"
    load_file(_csv(tmp_path / "first.csv", CASES), store, LoadOptions(workers=1))
    return store


def _said_no_traceback(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


# ---------------------------------------------------------------- a damaged store

def _overwrite_middle(store: Path) -> None:
    size = store.stat().st_size
    with store.open("r+b") as out:
        out.seek(size // 2)
        out.write(os.urandom(min(200_000, size // 4)))


@pytest.fixture
def bigger_store(tmp_path) -> Path:
    """A store with enough rows that its middle holds table data."""
    store = tmp_path / "store.duckdb"
    load_file(_big_csv(tmp_path / "big.csv", 3000), store, LoadOptions(workers=1, morphology=False))
    return store


def test_a_store_overwritten_mid_file_is_refused_before_anything_is_written(bigger_store, tmp_path, open_page):
    _overwrite_middle(bigger_store)
    before = bigger_store.read_bytes()
    done = _ingest(tmp_path, bigger_store, _csv(tmp_path / "more.csv", MORE))
    _said_no_traceback(done, "is damaged", "Restore it from a backup")
    assert bigger_store.read_bytes() == before, "the damaged store was not written"
    checked = _cli(tmp_path, "check", "--db", str(bigger_store))
    _said_no_traceback(checked, "is damaged")
    # Whether the history's own blocks were hit depends on the layout: either way the page lists the
    # attempt (from the store, or from the journal under the fault's message).
    at = open_page(bigger_store, "history")
    assert not at.exception
    attempts = at.dataframe[0].value
    newest = attempts.iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("more.csv", "失敗"), "the journal still lists the attempt"
    assert "壊れている" in newest["メッセージ"]


def test_a_truncated_store_is_a_message_in_the_cli_and_on_the_pages(store, tmp_path, open_page):
    with store.open("r+b") as out:
        out.truncate(20_000)    # a copy cut short: the headers, none of the blocks
    done = _ingest(tmp_path, store, _csv(tmp_path / "more.csv", MORE))
    _said_no_traceback(done, "is damaged")
    with pytest.raises(StoreFault) as raised:
        overview(store)
    assert raised.value.code == "store_corrupt" and "壊れている" in raised.value.message_ja()
    for page in ("home", "history"):
        at = open_page(store, page)
        assert not at.exception
        assert any("壊れている" in e.value for e in at.error), [e.value for e in at.error]
    attempts = at.dataframe[0].value   # 取り込み履歴 still lists what the journal knows
    assert (attempts.iloc[0]["ファイル名"], attempts.iloc[0]["状態"]) == ("more.csv", "失敗")


def test_check_passes_on_a_sound_store(store, tmp_path):
    done = _cli(tmp_path, "check", "--db", str(store))
    assert done.returncode == 0 and "checksum matched" in done.stderr, done.stderr


# ---------------------------------------------------------------- folders: missing, read-only

def test_a_missing_store_folder_is_a_message(tmp_path, open_page):
    store = tmp_path / "not-mounted" / "store.duckdb"
    done = _ingest(tmp_path, store, _csv(tmp_path / "cases.csv", CASES))
    _said_no_traceback(done, "does not exist", "mkdir -p")
    assert not store.parent.exists(), "no empty store started in a mistyped place"
    at = open_page(store, "home")
    assert not at.exception
    assert any("見つかりません" in e.value for e in at.error)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder the store cannot be written in: a read-only tmpfs as root, else chmod 555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder, lambda: folder.chmod(0o555)
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True, check=False).returncode:
        pytest.skip("root without mount: cannot make a read-only folder")

    def make_read_only():
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    yield folder, make_read_only
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_folder_is_a_message_and_the_attempt_is_in_the_history(read_only_folder, tmp_path, open_page):
    folder, make_read_only = read_only_folder
    store = folder / "store.duckdb"
    load_file(_csv(tmp_path / "first.csv", CASES), store, LoadOptions(workers=1))
    make_read_only()
    done = _ingest(tmp_path, store, _csv(tmp_path / "more.csv", MORE))
    _said_no_traceback(done, "read-only", "pass a writable --db PATH")
    assert overview(store).cases == 2, "the store still reads"
    history = import_history(store)
    newest = history.iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("more.csv", "失敗")
    assert "書き込めません" in newest["メッセージ"]
    at = open_page(store, "history")
    assert not at.exception
    assert "more.csv" in set(at.dataframe[0].value["ファイル名"])


# ---------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB filesystem (tmpfs, as root); None when it cannot be mounted (then RLIMIT_FSIZE)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
                                            capture_output=True, check=False).returncode == 0:
        yield folder, None
        subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    yield folder, 3_000_000


LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from pipelines.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_full_disk_is_a_message_the_store_is_unchanged_and_the_attempt_recorded(small_disk, tmp_path):
    folder, file_limit = small_disk
    store = folder / "store.duckdb"
    load_file(_csv(tmp_path / "first.csv", CASES), store, LoadOptions(workers=1))
    big = _big_csv(tmp_path / "big.csv", 40_000)
    args = ["ingest", str(big), "--db", str(store), "--quiet", "--workers", "1"]
    if file_limit is None:
        done = _cli(tmp_path, *args)
    else:
        done = subprocess.run([sys.executable, "-c", LIMITED, str(file_limit), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env=_env(tmp_path), check=False)
    _said_no_traceback(done, "disk", "Free some space")
    assert overview(store).cases == 2, "the load was rolled back"
    newest = import_history(store).iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("big.csv", "失敗")
    assert "空き容量" in newest["メッセージ"]


# ---------------------------------------------------------------- a lock held too long

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_lock_timeout_is_a_message_and_a_failed_attempt_folded_in_at_the_next_write(store, tmp_path):
    # Held until killed: on a busy host the CLI alone can take a minute to reach the store.
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store), "900"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = _ingest(tmp_path, store, _csv(tmp_path / "more.csv", MORE), KAKEHASHI_LOCK_WAIT="1")
    finally:
        holder.kill()
        holder.wait()
    _said_no_traceback(done, "stayed locked by another process", "run the command again")
    newest = import_history(store).iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("more.csv", "失敗")
    assert "更新中" in newest["メッセージ"]
    load_file(_csv(tmp_path / "again.csv", MORE), store, LoadOptions(workers=1))
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("SELECT file_name, status, message FROM import_batches ORDER BY batch_id").fetchall()
    assert [r[:2] for r in rows] == [("first.csv", "done"), ("more.csv", "failed"), ("again.csv", "done")]
    assert "更新中" in rows[1][2], "the journal's attempt is in import_batches now, with its reason"


# ---------------------------------------------------------------- killed loads

def _tmp_folders(tmp_path: Path) -> list[Path]:
    return sorted(f for f in (tmp_path / "tmp").glob("kakehashi-*") if f.is_dir())


def test_a_load_killed_during_decode_is_interrupted_and_its_scratch_folder_swept(store, tmp_path):
    big = _big_csv(tmp_path / "huge.csv", 150_000)
    child = subprocess.Popen([sys.executable, "-m", "pipelines", "ingest", str(big), "--db", str(store), "--quiet",
                              "--workers", "1"], cwd=ROOT, env=_env(tmp_path), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    # Killed once the load has written its first work file (the decode), before its batch row exists.
    while not any(p.name != scratch.OWNER for f in _tmp_folders(tmp_path) if f.name.startswith("kakehashi-work-load")
                  for p in f.iterdir()):
        assert child.poll() is None and time.monotonic() < deadline, "the load never started its work"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = [f for f in _tmp_folders(tmp_path) if f.name.startswith("kakehashi-work-load")]
    assert left, "kill -9 leaves the folder (nothing in the process runs)"
    newest = import_history(store).iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("huge.csv", "中断"), "not lost, not 実行中"
    done = _ingest(tmp_path, store, _csv(tmp_path / "more.csv", MORE))
    assert done.returncode == 0, done.stderr
    assert not any(f.exists() for f in left), "the next load swept the killed load's folder"
    assert _tmp_folders(tmp_path) == [], "and left none of its own"
    with duckdb.connect(str(store), read_only=True) as con:
        statuses = dict(con.execute("SELECT file_name, status FROM import_batches").fetchall())
    assert statuses["huge.csv"] == "interrupted" and statuses["more.csv"] == "done"


KILLED_MID_LOAD = """
import sys
from pathlib import Path
from pipelines.ingest.load import LoadOptions, load_file

def progress(phase, done, total):
    print(phase, flush=True)

load_file(Path(sys.argv[1]), sys.argv[2], LoadOptions(workers=1, progress=progress, pause_before_commit=120))
"""


def test_a_batch_whose_process_was_killed_reads_as_interrupted_not_running(store, tmp_path):
    export = _csv(tmp_path / "more.csv", MORE)
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_LOAD, str(export), str(store)], cwd=ROOT,
                             env=_env(tmp_path), stdout=subprocess.PIPE, text=True)
    for line in child.stdout:
        if line.strip() == "tokenize":
            break
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT status FROM import_batches WHERE file_name = 'more.csv'").fetchone()[0] == "running"
    newest = import_history(store).iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("more.csv", "中断")
    assert "中断" in newest["メッセージ"]
    assert overview(store).cases == 2, "a killed load changes nothing"


# ---------------------------------------------------------------- writers are not starved

READERS = """
import sys, time
from pipelines.store import db
from pipelines.store.errors import StoreBusy
end = time.monotonic() + float(sys.argv[2])
print("reading", flush=True)
while time.monotonic() < end:
    try:
        with db.reader(sys.argv[1], wait_seconds=0.5) as con:
            con.execute("SELECT count(*) FROM cases").fetchall()
            time.sleep(0.3)     # a page's queries keep the file this long
    except StoreBusy:
        time.sleep(0.05)
"""


def test_a_waiting_writer_gets_in_while_readers_keep_coming(store, tmp_path):
    readers = [subprocess.Popen([sys.executable, "-c", READERS, str(store), "20"], cwd=ROOT, env=_env(tmp_path),
                                stdout=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        for reader in readers:
            assert reader.stdout.readline().strip() == "reading"
        time.sleep(1.0)
        started = time.monotonic()
        with db.writer(store, wait_seconds=15) as con:
            waited = time.monotonic() - started
            con.execute("INSERT INTO saved_mappings VALUES ('x', 'cases', '{}', now())")
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()
    assert waited < 3.0, f"the writer waited {waited:.1f} s behind readers"
    assert not db.writer_waiting(store), "its marker is gone"


def test_readers_keep_away_while_a_writer_waits(store, tmp_path):
    marker = db.jobs_dir(store) / f"{db.WRITER_WAITING}{os.getppid()}"   # a living process that is not us
    marker.touch()
    try:
        assert db.store_version(store) == "busy" and db.store_busy(store)
        with pytest.raises(StoreBusy), db.reader(store, wait_seconds=0.2):
            pass
    finally:
        marker.unlink()
    assert db.store_version(store) != "busy"


def test_a_dead_writers_marker_is_ignored_and_removed(store):
    marker = db.jobs_dir(store) / f"{db.WRITER_WAITING}{2**22 + 12345}"
    marker.touch()
    assert not db.writer_waiting(store) and not marker.exists()


# ---------------------------------------------------------------- scratch folders

def test_a_scratch_folder_is_removed_on_exit_and_an_abandoned_one_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "root", lambda: tmp_path)
    with scratch.work_folder("load") as folder:
        (folder / "decoded.csv").write_text("受付番号\n", encoding="utf-8")
        assert scratch.sweep(tmp_path) == [], "a folder in use is never swept"
    assert not folder.exists()
    legacy = tmp_path / "kakehashi-abc123"
    legacy.mkdir()
    os.utime(legacy, (time.time() - scratch.LEGACY_AGE_SECONDS - 60,) * 2)
    fresh = tmp_path / "kakehashi-preview-new"
    fresh.mkdir()
    assert scratch.sweep(tmp_path) == [legacy] and fresh.exists()


def test_the_journal_reads_a_start_without_an_end_from_a_dead_process_as_interrupted(tmp_path):
    store = tmp_path / "store.duckdb"
    journal.append(store, {"id": "a1", "event": "start", "pid": 2**22 + 4321, "started_at": dt.datetime.now().isoformat(),
                           "file_name": "x.csv", "kind": "cases"})
    (entry,) = journal.attempts(store)
    assert entry["status"] == "interrupted" and "中断" in entry["message"]
