"""Background jobs (pipelines.jobs.runner): the upload page starts a real child process and polls
its progress file; these tests do the same on tiny files in a throw-away store."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.jobs.runner import (
    JobSpec,
    job_file,
    read,
    recent,
    start,
    start_refusal_record,
    sweep_uploads,
    uploads_dir,
)
from pipelines.reports.shared import import_history, overview
from pipelines.store import journal
from pipelines.store.access import LOCAL_USER
from pipelines.store.settings import jobs_dir

FINISHED = ("done", "failed")
CASES = [["受付番号", "受付日時", "問い合わせ内容", "商品名"],
         ["J-1", "2025/04/01 09:00", "注文した加湿器がまだ届きません。", "加湿器"],
         ["J-2", "2025/04/02 10:30", "請求額が二重になっています。", "光回線プランⅡ"],
         ["J-3", "2025/04/03 14:00", "箱が潰れていました。交換してほしいです。", "加湿器"]]
NO_DATE = [["問い合わせ番号", "問い合わせ内容"], ["Q-1", "シャンプーの香りが強すぎます。"]]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    return path


def _wait(store: Path, job_id: str, seconds: float = 120.0) -> dict:
    """Poll the job's progress file as the upload page does, until the child says it finished."""
    deadline = time.monotonic() + seconds
    path = job_file(store, job_id)
    while time.monotonic() < deadline:
        state = read(path)
        if state and state["status"] in FINISHED:
            return state
        time.sleep(0.2)
    log = path.with_suffix(".log")
    pytest.fail(f"job {job_id} did not finish in {seconds:.0f} s; its log:\n"
                f"{log.read_text(encoding='utf-8') if log.exists() else '(none)'}")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> dict:
    """Two jobs run at once, each into its own store: a good upload and a refused one."""
    folder = tmp_path_factory.mktemp("jobs")
    good_store, bad_store = folder / "good" / "store.duckdb", folder / "bad" / "store.duckdb"
    good = JobSpec(files=[str(_write_csv(folder / "upload-1.csv", CASES))], display_names=["4月分の問い合わせ.csv"],
                   kinds=["cases"], store=str(good_store))
    bad = JobSpec(files=[str(_write_csv(folder / "upload-2.csv", NO_DATE))], display_names=["日付のない一覧.csv"],
                  kinds=["cases"], store=str(bad_store))
    started = {"good": (good_store, start(good, actor=LOCAL_USER)), "bad": (bad_store, start(bad, actor=LOCAL_USER))}
    return {name: (store, job_id, _wait(store, job_id)) for name, (store, job_id) in started.items()}


def test_a_job_spec_gets_its_own_id():
    first, second = (JobSpec(files=[], display_names=[], kinds=[]) for _ in range(2))
    assert first.job_id != second.job_id and len(first.job_id) == 12


def test_start_writes_a_queued_job_the_page_can_read_at_once(tmp_path):
    store = tmp_path / "store.duckdb"
    spec = JobSpec(files=[str(_write_csv(tmp_path / "c.csv", CASES))], display_names=["c.csv"], kinds=["cases"],
                   store=str(store))
    job_id = start(spec, actor=LOCAL_USER)
    state = read(job_file(store, job_id))
    assert state["status"] in ("queued", "running", "done")
    assert state["spec"]["display_names"] == ["c.csv"] and state["created_at"]
    _wait(store, job_id)   # do not leave the child writing into tmp_path after the test


def test_a_finished_job_reports_what_it_loaded(jobs):
    state = jobs["good"][2]
    assert (state["status"], state["phase"], state["errors"]) == ("done", "完了", [])
    [loaded] = state["results"]
    assert loaded["file"] == "4月分の問い合わせ.csv", "the name the user uploaded, not the temporary file"
    assert (loaded["kind"], loaded["rows_read"], loaded["inserted"], loaded["rejected"]) == ("cases", 3, 3, 0)
    assert state["pid"] != os.getpid() and state["finished_at"] >= state["started_at"]


def test_a_finished_job_passes_on_everything_the_load_reported(jobs):
    """The page shows what the load says beyond its counts (the case identity it used, conflicts):
    every LoadResult field reaches the job's results, but the phase timings."""
    [loaded] = jobs["good"][2]["results"]
    assert (loaded["status"], loaded["encoding"], loaded["file_name"]) == ("done", "utf-8-sig", "4月分の問い合わせ.csv")
    assert loaded["mapping"]["received_at"] == "受付日時"
    assert loaded["identity"] == "受付番号" and "「受付番号」をケース番号として使いました" in loaded["identity_reason_ja"]
    assert "seconds" not in loaded


def test_the_job_wrote_into_its_store_and_analysed_it(jobs):
    store, _, state = jobs["good"]
    assert overview(store).cases == 3
    assert state["analysis"]["coverage"] > 0, "the loaded cases were tagged with themes"
    history = import_history(store)
    assert list(zip(history["ファイル名"], history["状態"], history["追加"])) == [("4月分の問い合わせ.csv", "完了", 3)]


def test_a_refused_file_reports_a_japanese_error(jobs):
    store, _, state = jobs["bad"]
    assert (state["status"], state["results"]) == ("failed", [])
    [error] = state["errors"]
    assert error["file"] == "日付のない一覧.csv"
    assert "必須の列「受付日時」が見つかりません" in error["message"]
    assert "問い合わせ番号、問い合わせ内容" in error["message"], "it names the columns the file has"
    history = import_history(store)
    assert list(zip(history["ファイル名"], history["状態"])) == [("日付のない一覧.csv", "受付不可")]


def test_a_file_refused_on_the_upload_page_is_recorded_by_a_job(tmp_path):
    """The upload page refuses some files before any load starts; a job writes them into the history."""
    store = tmp_path / "store.duckdb"
    saved = tmp_path / "upload-3.pdf"
    saved.write_bytes(b"%PDF-1.4 not a table")
    message = "「見積書.pdf」は表のファイルではなくPDFです。\n問い合わせの一覧を CSV か Excel (.xlsx) で書き出してください。"
    state = _wait(store, start_refusal_record(saved, "見積書.pdf", "cases", message, store=store, actor=LOCAL_USER))
    assert (state["status"], state["errors"]) == ("done", [])
    [recorded] = state["results"]
    assert (recorded["file"], recorded["kind"], recorded["message"]) == ("見積書.pdf", "refusal", message)
    history = import_history(store)
    assert list(zip(history["番号"], history["ファイル名"], history["種類"], history["状態"], history["メッセージ"],
                    history["形式"])) == [(recorded["batch_id"], "見積書.pdf", "ケース", "受付不可", message, "")]
    assert history["sha256"][0] and history["読込行数"][0] == 0


def test_a_refusal_after_reading_keeps_the_files_format(tmp_path):
    store = tmp_path / "store.duckdb"
    saved = _write_csv(tmp_path / "upload-4.csv", NO_DATE)
    _wait(store, start_refusal_record(saved, "日付のない一覧.csv", "cases", "必須の列「受付日時」が見つかりません。",
                                      ("utf-8-sig", "csv", ","), store=store, actor=LOCAL_USER))
    history = import_history(store)
    assert list(zip(history["状態"], history["形式"], history["文字コード"])) == [
        ("受付不可", "CSV（カンマ区切り）", "UTF-8 (BOM付き)")]


def test_recent_lists_the_jobs_of_its_store_only(jobs):
    for name, (store, job_id, _) in jobs.items():
        assert [state["spec"]["job_id"] for state in recent(store)] == [job_id], name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _job_state(store: Path, job_id: str, status: str, pid: int, age_seconds: float) -> None:
    folder = jobs_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    path = job_file(store, job_id)
    path.write_text(json.dumps({"spec": {"job_id": job_id}, "status": status, "pid": pid, "results": [],
                                "errors": []}), encoding="utf-8")
    when = time.time() - age_seconds
    os.utime(path, (when, when))


def test_recent_reports_a_dead_running_job_as_interrupted(tmp_path):
    store = tmp_path / "store.duckdb"
    _job_state(store, "killed", "running", _dead_pid(), age_seconds=60)
    _job_state(store, "alive", "running", os.getpid(), age_seconds=30)
    _job_state(store, "just-started", "queued", 0, age_seconds=0)   # the child has not written its pid yet
    assert {s["spec"]["job_id"]: s["status"] for s in recent(store)} == {
        "killed": "interrupted", "alive": "running", "just-started": "queued"}
    assert [s["spec"]["job_id"] for s in recent(store)] == ["just-started", "alive", "killed"], "newest first"


def test_recent_of_a_store_without_jobs_is_empty(tmp_path):
    assert recent(tmp_path / "store.duckdb") == []


# ---------------------------------------------------------------- uploads and killed jobs (issue 13)

def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("受付番号,受付日時,問い合わせ内容\r\n")
        for i in range(rows):
            out.write(f"U-{i},2025/05/{1 + i % 28:02d} 10:00,届いた加湿器の箱が潰れていて本体にも傷がありました。注文番号{i}。\r\n")
    return path


def test_uploads_are_deleted_once_their_job_ends_loaded_or_refused(tmp_path):
    store = tmp_path / "store.duckdb"
    uploads = uploads_dir(store)
    uploads.mkdir(parents=True)
    loaded = _write_csv(uploads / "aaa-cases.csv", CASES)
    refused = _write_csv(uploads / "bbb-no-date.csv", NO_DATE)
    own = _write_csv(tmp_path / "mine.csv", CASES)   # a file that is not an upload stays
    _wait(store, start(JobSpec(files=[str(loaded), str(own)], display_names=["a.csv", "mine.csv"],
                               kinds=["cases", "cases"], store=str(store)), actor=LOCAL_USER))
    _wait(store, start_refusal_record(refused, "日付のない一覧.csv", "cases", "必須の列「受付日時」が見つかりません。",
                                      store=store, actor=LOCAL_USER))
    assert not loaded.exists() and not refused.exists(), "no raw upload is kept"
    assert own.exists()
    assert {"a.csv", "日付のない一覧.csv"} <= set(import_history(store)["ファイル名"])


def test_an_upload_never_loaded_is_swept_after_the_retention(tmp_path, monkeypatch):
    store = tmp_path / "store.duckdb"
    uploads = uploads_dir(store)
    uploads.mkdir(parents=True)
    stale, fresh = _write_csv(uploads / "old.csv", CASES), _write_csv(uploads / "new.csv", CASES)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    monkeypatch.setenv("KAKEHASHI_UPLOAD_MAX_AGE", "60")
    assert sweep_uploads(store) == [stale] and fresh.exists()


def test_a_killed_load_job_reads_as_interrupted_and_the_next_job_sweeps_its_upload_and_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))   # the children's scratch folders
    (tmp_path / "tmp").mkdir()
    store = tmp_path / "store.duckdb"
    uploads = uploads_dir(store)
    uploads.mkdir(parents=True)
    big = _big_csv(uploads / "ccc-big.csv", 120_000)
    job_id = start(JobSpec(files=[str(big)], display_names=["大きな一覧.csv"], kinds=["cases"], store=str(store)),
                   actor=LOCAL_USER)
    deadline = time.monotonic() + 90
    while not list((tmp_path / "tmp").glob("kakehashi-work-load-*")):
        assert time.monotonic() < deadline, "the job never started its load"
        time.sleep(0.02)
    pid = read(job_file(store, job_id))["pid"]
    os.killpg(pid, 9)   # kill -9 the job and its workers (it runs in a session of its own)
    while _alive(pid):
        time.sleep(0.05)
    history = import_history(store)
    assert list(zip(history["ファイル名"], history["状態"])) == [("大きな一覧.csv", "中断")], "never 実行中"
    assert big.exists() and list((tmp_path / "tmp").glob("kakehashi-work-load-*"))
    _wait(store, start(JobSpec(files=[str(_write_csv(uploads / "ddd-small.csv", CASES))], display_names=["小.csv"],
                               kinds=["cases"], store=str(store)), actor=LOCAL_USER))
    assert not big.exists(), "the killed job's upload is deleted by the next job"
    assert not list((tmp_path / "tmp").glob("kakehashi-work-*")), "its scratch folder was swept"
    assert list(uploads.iterdir()) == []
    statuses = dict(zip(import_history(store)["ファイル名"], import_history(store)["状態"]))
    assert statuses == {"大きな一覧.csv": "中断", "小.csv": "完了"}


def _alive(pid: int) -> bool:
    return journal.pid_alive(pid)
