"""AppTest of データ取り込み (pages/upload.py): checking a file before loading it — the rows it
would load and reject, the automatic column mapping with example values, the format in an
analyst's words, a refused file in Japanese and recorded in 取り込み履歴, an events file, and what
a finished load reports (its rejected rows as a table, the case identity it used).
(AppTest cannot drive a file uploader: the tests hand the page a saved file, as the page allows;
tests/test_browser.py uploads through the real file input.)"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from pipelines.ingest import preview
from pipelines.jobs.runner import job_file, recent
from pipelines.reports.shared import import_history
from pipelines.store.settings import jobs_dir

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"
# Each test opens the page on its own store (conftest's `store`): a file the page refuses is recorded
# in the store it shows, which must never be the session's shared exports_store.


def _stage(at, name: str):
    at.session_state["upload_staged"] = (str(EXPORTS / name), name)
    return at.run()


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def _finished(store: Path, seconds: float = 60.0) -> list[dict]:
    """The store's jobs once none of them is still queued or running (the page does not wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = recent(store)
        if states and all(s["status"] in ("done", "failed") for s in states):
            return states
        time.sleep(0.2)
    pytest.fail(f"jobs of {store} did not finish: {recent(store)}")


def test_upload_page_validates_and_reports_rejects(store, open_page):
    at = _stage(open_page(store, "upload"), "mixed_bad_rows.csv")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"データ行": "14", "取り込める行": "8", "ファイル内の重複": "0", "除外される行": "6"}
    assert at.selectbox(key="map_cases_received_at_自動判定").value == "受付日"
    sample = at.dataframe[3].value       # the rows that would be rejected, with their fields
    assert list(sample.columns) == ["行番号", "理由", "受付番号", "受付日", "チャネル", "問い合わせ内容", "対応状況"]
    assert sample.set_index("受付番号").at["K-0103", "受付日"] == "不明"


def test_each_mapped_field_shows_its_column_and_three_example_values(store, open_page):
    at = _stage(open_page(store, "upload"), "mixed_bad_rows.csv")
    assert not at.exception
    mapped = at.dataframe[1].value.set_index("項目")
    assert mapped.at["受付日時", "ファイルの列"] == "受付日"
    assert mapped.at["受付日時", "値の例"] == "2025/04/01 ／ 不明 ／ 2025/04/02"
    assert mapped.at["受付チャネル", "値の例"] == "電話 ／ メール ／ Web"
    assert mapped.at["問い合わせ内容", "値の例"].startswith("電子レンジで温めたら容器が溶けました。")
    assert "商品名" not in mapped.index, "a field the file does not fill is not listed"


def _stage_file(at, path: Path):
    at.session_state["upload_staged"] = (str(path), path.name)
    return at.run()


def test_the_previews_warnings_about_a_chosen_column_are_shown(store, open_page, tmp_path):
    # 対応内容 holds dates (an export's 完了日時 under a misleading name); 対応メモ holds the responses.
    rows = [f"K-{i:04d},2025/04/{i:02d},電話,電源が入りません（{i}件目）,2025/04/{i + 1:02d},交換品を送付しました"
            for i in range(1, 9)]
    path = tmp_path / "response_dates.csv"
    path.write_text("受付番号,受付日,チャネル,問い合わせ内容,対応内容,対応メモ\n" + "\n".join(rows) + "\n", encoding="utf-8")
    at = _stage_file(open_page(store, "upload"), path)
    assert not at.exception
    assert [w.value for w in at.warning if "対応内容" in w.value] == [
        "対応内容: 「対応内容」の値の多くは日付です（8 / 8 行）。対応内容ではなく完了日時や更新日時の列ではありませんか。"]
    mapped = at.dataframe[1].value.set_index("項目")
    assert mapped.at["対応内容", "注意"].startswith("⚠") and mapped.at["受付チャネル", "注意"] == ""
    # Another column chosen instead: the warning was about the first one, and goes.
    at.selectbox(key="map_cases_response_自動判定").set_value("対応メモ").run()
    assert not at.exception
    assert not [w for w in at.warning if "日付です" in w.value]
    assert at.dataframe[1].value.set_index("項目").at["対応内容", "値の例"] == "交換品を送付しました"


def test_choosing_not_used_takes_a_field_out_of_the_mapping(store, open_page):
    at = _stage(open_page(store, "upload"), "mixed_bad_rows.csv")
    at.selectbox(key="map_cases_channel_自動判定").set_value("（使わない）").run()
    assert not at.exception
    assert "受付チャネル" not in set(at.dataframe[1].value["項目"])


def test_the_format_is_told_in_an_analysts_words(store, open_page):
    at = _stage(open_page(store, "upload"), "salesforce_ja_cp932.csv")
    assert not at.exception
    shown = _markdown(at)
    assert "形式: **CSV（カンマ区切り）**" in shown and "文字コード: **Shift_JIS (CP932)**" in shown
    assert "cp932" not in shown
    at = _stage(at, "generic_ja.xlsx")
    assert not at.exception
    shown = _markdown(at)
    assert "形式: **Excel (.xlsx)**" in shown
    assert "区切り" not in shown and "文字コード" not in shown, "a workbook has neither"


def test_a_refused_file_is_explained_in_japanese_and_recorded_once(tmp_path, open_page):
    store = tmp_path / "store.duckdb"
    at = _stage(open_page(store, "upload"), "no_text_column.csv")
    assert not at.exception
    assert any("問い合わせ内容" in e.value and "見つかりません" in e.value for e in at.error)
    assert any("取り込み履歴に記録しました" in c.value for c in at.caption)
    at.run()                                   # a rerun (any widget change) records nothing more
    assert not at.exception
    [job] = _finished(store)
    assert job["results"][0]["kind"] == "refusal"
    history = import_history(store)
    assert list(zip(history["ファイル名"], history["状態"], history["形式"], history["文字コード"])) == [
        ("no_text_column.csv", "受付不可", "CSV（カンマ区切り）", "UTF-8")]
    assert "必須の列「問い合わせ内容」が見つかりません" in history["メッセージ"][0]


def test_a_file_that_is_not_a_table_is_recorded_with_its_reason(tmp_path, open_page):
    store = tmp_path / "store.duckdb"
    at = _stage(open_page(store, "upload"), "binary.csv")
    assert not at.exception
    assert any("PNG 画像" in e.value for e in at.error)
    assert not at.dataframe, "nothing of the file is shown"
    _finished(store)
    history = import_history(store)
    assert list(zip(history["ファイル名"], history["状態"], history["形式"])) == [("binary.csv", "受付不可", "")]
    assert "表のファイルではなくPNG 画像です" in history["メッセージ"][0]


def test_a_failure_of_the_check_itself_is_told_and_recorded_not_a_traceback(tmp_path, open_page, monkeypatch):
    monkeypatch.setenv("KAKEHASHI_MAX_ROWS", "lots")          # a broken setting, not the file's fault
    store = tmp_path / "store.duckdb"
    at = _stage(open_page(store, "upload"), "mixed_bad_rows.csv")
    assert not at.exception
    assert any("予期しないエラー" in e.value and "KAKEHASHI_MAX_ROWS" in e.value for e in at.error)
    monkeypatch.delenv("KAKEHASHI_MAX_ROWS")       # the job that records it must read the store
    _finished(store)
    assert list(import_history(store)["状態"]) == ["受付不可"]


def test_the_server_never_parses_the_file(store, open_page, monkeypatch):
    # The checking process reads it: in this (the server's) process, opening it would fail.
    def not_here(*args, **kwargs):
        raise AssertionError("the upload page parsed a file inside the Streamlit server")

    from pipelines.ingest import sources
    monkeypatch.setattr(sources, "open_source", not_here)
    monkeypatch.setattr(preview, "open_source", not_here)
    at = _stage(open_page(store, "upload"), "mixed_bad_rows.csv")
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["データ行"] == "14"


def test_a_hostile_workbook_is_checked_without_padding_and_one_past_a_limit_is_refused(tmp_path, open_page, monkeypatch):
    from test_limits import HEADER, case_rows, xlsx

    store = tmp_path / "store.duckdb"
    huge = tmp_path / "huge_dimension.xlsx"
    huge.write_bytes(xlsx([HEADER, *case_rows(5)], dimension="A1:XFD1048576"))
    started = time.monotonic()
    at = _stage_file(open_page(store, "upload"), huge)
    assert not at.exception and not at.error and time.monotonic() - started < 60
    assert {m.label: m.value for m in at.metric}["データ行"] == "5"
    monkeypatch.setenv("KAKEHASHI_MAX_ROWS", "4")
    at = _stage_file(at, huge)
    assert not at.exception
    assert any("行数の上限（4 行）" in e.value and "KAKEHASHI_MAX_ROWS" in e.value for e in at.error)
    monkeypatch.delenv("KAKEHASHI_MAX_ROWS")
    _finished(store)
    history = import_history(store)
    assert list(history["状態"]) == ["受付不可"] and "行数の上限" in history["メッセージ"][0]


def test_upload_page_kind_switch_to_events(store, open_page):
    at = open_page(store, "upload")
    at.radio(key="upload_kind").set_value("events").run()
    at = _stage(at, "events_ja.csv")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["データ行"] == "12" and metrics["除外される行"] == "0"


def _finished_job(store: Path, result: dict) -> None:
    """A finished load's progress file, as the job runner writes it."""
    folder = jobs_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    job_file(store, "finished").write_text(json.dumps({
        "spec": {"job_id": "finished", "display_names": [result["file"]]}, "status": "done", "phase": "完了",
        "results": [result], "errors": []}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def loaded_with_rejects(exports_store, tmp_path) -> tuple[Path, dict]:
    store = tmp_path / "store.duckdb"
    shutil.copy(exports_store, store)
    history = import_history(store)
    batch_id = int(history.loc[history["ファイル名"] == "mixed_bad_rows.csv", "番号"].iloc[0])
    result = {"file": "mixed_bad_rows.csv", "kind": "cases", "batch_id": batch_id, "rows_read": 14, "inserted": 8,
              "updated": 0, "unchanged": 0, "duplicate": 0, "rejected": 6}
    return store, result


def test_a_finished_load_shows_its_rejected_rows_as_a_table(loaded_with_rejects, open_page):
    store, result = loaded_with_rejects
    _finished_job(store, result)
    at = open_page(store, "upload")
    assert not at.exception
    assert any("除外 6" in s.value for s in at.success)
    rejected = at.dataframe[0].value
    assert list(rejected.columns) == ["行番号", "理由", "受付番号", "受付日", "チャネル", "問い合わせ内容", "対応状況"]
    assert len(rejected) == 6
    row = rejected.set_index("受付番号").loc["K-0103"]
    assert (row["受付日"], row["理由"]) == ("不明", "受付日時「不明」を日付として読めません")
    assert not rejected.apply(lambda column: column.astype(str).str.startswith("{")).any().any(), "no raw JSON"
    assert at.get("download_button"), "the CSV download stays"


def test_a_finished_load_says_which_case_identity_it_used(loaded_with_rejects, open_page):
    store, result = loaded_with_rejects
    _finished_job(store, {
        **result, "identity": "受付番号", "identity_reason_ja": "見出しがケース番号を表し、値がファイル内で一意です。",
        "conflicts": 1, "conflict_examples": [{"line": 3, "case_id": "K-0102", "kept_as": "K-0102~20250401",
                                               "received": "2025-04-01", "other_received": "2025-03-02"}],
        "customer_notes_ja": ["「担当機関」は値の種類が少ないため、お客様の識別には使いませんでした。"]})
    at = open_page(store, "upload")
    assert not at.exception
    shown = _markdown(at)
    assert "ケースの見分け方: 見出しがケース番号を表し、値がファイル内で一意です。" in shown
    assert "重なった行: 1 行。上書きせず、派生 ID（番号~受付日）で別のケースとして保存しました。" in shown
    assert "お客様の識別には使いませんでした" in shown
    examples = at.dataframe[0].value
    assert examples.iloc[0].tolist() == [3, "K-0102", "K-0102~20250401", "2025-04-01", "2025-03-02"]


def test_generated_case_ids_are_named_as_such(loaded_with_rejects, open_page):
    store, result = loaded_with_rejects
    _finished_job(store, {**result, "identity": "generated"})
    at = open_page(store, "upload")
    assert not at.exception
    assert "ケースの見分け方: 各行の全項目から生成した ID" in _markdown(at)


def test_rows_a_load_repaired_are_told(loaded_with_rejects, open_page):
    store, result = loaded_with_rejects
    _finished_job(store, {**result, "recovered": 1,
                          "notes": ["12 行目: 閉じていない引用符を直して 1 行として読みました。"]})
    at = open_page(store, "upload")
    assert not at.exception
    shown = _markdown(at)
    assert "修復して読み込んだ行: 1 行" in shown and "閉じていない引用符を直して 1 行として読みました。" in shown


def test_a_load_without_identity_fields_shows_no_identity_line(loaded_with_rejects, open_page):
    store, result = loaded_with_rejects
    _finished_job(store, result)
    at = open_page(store, "upload")
    assert not at.exception
    assert "ケースの見分け方" not in _markdown(at)
