"""Loading every fixture export: exact row accounting, dates, rejects, idempotent reloads, refusals, CLI.

The fixtures and their expectations (tests/data/exports/expected.json) are made by
tests/data/exports/make_fixtures.py; every number asserted here comes from that file.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from helpers import query

from pipelines.ingest.load import LoadOptions, LoadResult, load_file
from pipelines.store.errors import RefusedFile

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "data" / "exports"
EXPECTED: dict[str, dict] = json.loads((EXPORTS / "expected.json").read_text(encoding="utf-8"))
GOOD = [name for name, e in EXPECTED.items() if not e["refused"]]
BAD = [name for name, e in EXPECTED.items() if e["refused"]]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


# ---------------------------------------------------------------- reading the fixtures ourselves


@dataclass(frozen=True)
class FileRow:
    line: int                 # line of the file where the record starts (header = 1)
    cells: dict[str, str]


def read_fixture(name: str) -> list[FileRow]:
    """The data rows of a good fixture, read independently of the loader."""
    e = EXPECTED[name]
    path = EXPORTS / name
    if e["encoding"] == "xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        table = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        return [FileRow(number, dict(zip(table[0], row))) for number, row in enumerate(table[1:], start=2)]
    text = path.read_bytes().decode(e["encoding"]).removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=e["delimiter"])
    header = next(reader)
    rows, line = [], reader.line_num + 1
    for cells in reader:
        rows.append(FileRow(line, dict(zip(header, cells))))
        line = reader.line_num + 1
    return rows


def snapshot(store: Path) -> dict[str, list[tuple]]:
    """Everything a user can see of the loaded data (not import history)."""
    return {
        "cases": query(store, "SELECT * FROM cases ORDER BY case_id"),
        "case_events": query(store, "SELECT * FROM case_events ORDER BY case_id, seq, source"),
        "case_terms": query(store, "SELECT * FROM case_terms ORDER BY case_id, idx"),
    }


# ---------------------------------------------------------------- one load (and reload) per file


@dataclass
class Loaded:
    store: Path
    first: LoadResult
    before_reload: dict[str, list[tuple]]
    reload: LoadResult
    after_reload: dict[str, list[tuple]]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Load a good file (after the file it follows) into its own store, then load it again."""
    cache: dict[str, Loaded | BaseException] = {}

    def load(name: str) -> Loaded:
        if name not in cache:
            try:
                cache[name] = _load_twice(name, tmp_path_factory.mktemp("store") / "store.duckdb")
            except Exception as exc:  # every test of a file that cannot load fails the same way
                cache[name] = exc
        if isinstance(cache[name], BaseException):
            raise cache[name]
        return cache[name]

    return load


def _load_twice(name: str, store: Path) -> Loaded:
    e = EXPECTED[name]
    if e["loads_after"]:
        load_file(EXPORTS / e["loads_after"], store, LoadOptions())
    options = LoadOptions(kind=e["kind"])
    first = load_file(EXPORTS / name, store, options)
    before = snapshot(store)
    again = load_file(EXPORTS / name, store, options)
    return Loaded(store, first, before, again, snapshot(store))


@pytest.mark.parametrize("name", GOOD)
def test_every_row_is_accounted_for(loaded, name):
    e, result = EXPECTED[name], loaded(name).first
    assert result.status == "done"
    assert result.encoding == e["encoding"]
    got = (result.rows_read, result.inserted, result.updated, result.unchanged, result.duplicate, result.rejected)
    assert got == (e["rows"], e["inserted"], e["updated"], e["unchanged"], e["duplicates"], e["rejected"])
    assert result.accounted()


@pytest.mark.parametrize("name", GOOD)
def test_import_history_shows_the_same_counts(loaded, name):
    result = loaded(name).first
    row = query(loaded(name).store,
                "SELECT status, file_name, encoding, rows_read, rows_inserted, rows_updated, rows_unchanged, "
                "rows_duplicate, rows_rejected FROM import_batches WHERE batch_id = ?", [result.batch_id])
    assert row == [("done", name, result.encoding, result.rows_read, result.inserted, result.updated,
                    result.unchanged, result.duplicate, result.rejected)]


@pytest.mark.parametrize("name", GOOD)
def test_received_dates_are_the_japan_calendar_dates(loaded, name):
    """Each row's case (or event) is filed on the Asia/Tokyo date of its received column."""
    e, run = EXPECTED[name], loaded(name)
    rows = read_fixture(name)
    assert len(rows) == len(e["received_on"])
    if e["kind"] == "events":
        stored = query(run.store, "SELECT case_id, strftime(\"at\", '%Y-%m-%d') FROM case_events WHERE batch_id = ?",
                       [run.first.batch_id])
        id_header = run.first.mapping["case_id"]
        wanted = [(row.cells[id_header], day) for row, day in zip(rows, e["received_on"])]
        assert sorted(stored) == sorted(wanted)
        return
    stored = dict(query(run.store, "SELECT case_id, strftime(received_at, '%Y-%m-%d') FROM cases"))
    # A mapped ID column that is not used as the case ID (a row counter: excel_unicode_text's "No.") counts as none.
    id_header = run.first.mapping.get("case_id") if run.first.identity != "generated" else None
    if id_header is None:
        # No IDs in the file: compare the dates of the cases this load wrote with the rows' dates,
        # less the repeated rows (duplicates).
        written = Counter(day for (day,) in query(
            run.store, "SELECT strftime(received_at, '%Y-%m-%d') FROM cases WHERE batch_id = ?", [run.first.batch_id]))
        wanted = Counter(day for day in e["received_on"] if day)
        assert not written - wanted
        assert sum((wanted - written).values()) == e["duplicates"]
        return
    dated_but_rejected = 0
    for row, day in zip(rows, e["received_on"]):
        case_id = row.cells[id_header].strip()
        if day is None:
            assert case_id not in stored, f"line {row.line}: an unreadable date must not become a case"
        elif case_id not in stored:
            dated_but_rejected += 1  # rejected for another reason (an empty text)
        else:
            assert stored[case_id] == day, f"line {row.line}: case {case_id}"
    assert dated_but_rejected == e["reject_reasons"].count("empty_text")


def _reason_matches(kind: str, reason: str) -> bool:
    if kind == "date":
        return "日付" in reason or "受付日時" in reason
    if kind == "empty_text":
        return "空" in reason and "受付日時" not in reason
    raise AssertionError(f"unknown reject reason in expected.json: {kind}")


@pytest.mark.parametrize("name", [n for n in GOOD if EXPECTED[n]["rejected"]])
def test_rejected_rows_say_why_in_japanese_and_where(loaded, name):
    e, run = EXPECTED[name], loaded(name)
    rejects = query(run.store, "SELECT line, reason, raw FROM rejected_rows WHERE batch_id = ? ORDER BY line",
                    [run.first.batch_id])
    assert len(rejects) == len(e["reject_reasons"])
    for (line, reason, raw), kind in zip(rejects, e["reject_reasons"]):
        assert _reason_matches(kind, reason), (line, reason, kind)
    # The line numbers point at the rows that did not become cases, so the user can find them.
    id_header = run.first.mapping["case_id"]
    stored = {case_id for (case_id,) in query(run.store, "SELECT case_id FROM cases")}
    missing = [row for row in read_fixture(name) if row.cells[id_header] not in stored]
    assert [line for line, _, _ in rejects] == [row.line for row in missing]
    assert [json.loads(raw)[id_header] for _, _, raw in rejects] == [row.cells[id_header] for row in missing]


@pytest.mark.parametrize("name", [n for n in GOOD if EXPECTED[n]["kind"] == "cases"])
def test_dry_run_validation_agrees_with_the_load(loaded, name):
    """The upload page's validation report (no store written) counts what the load then does."""
    from pipelines.ingest.preview import validate_file

    e, run = EXPECTED[name], loaded(name)
    report = validate_file(EXPORTS / name, "cases", run.first.mapping)
    first = run.first
    assert report.rows == e["rows"]
    assert report.valid - report.duplicates == first.inserted + first.updated + first.unchanged
    assert (report.duplicates, sum(report.reasons.values())) == (first.duplicate, first.rejected)
    assert list(report.sample["行番号"]) == sorted(report.sample["行番号"])[:50]


@pytest.mark.parametrize("name", GOOD)
def test_reloading_the_same_file_changes_nothing(loaded, name):
    e, run = EXPECTED[name], loaded(name)
    again = run.reload
    distinct = e["inserted"] + e["updated"] + e["unchanged"]
    got = (again.rows_read, again.inserted, again.updated, again.unchanged, again.duplicate, again.rejected)
    assert got == (e["rows"], 0, 0, distinct, e["duplicates"], e["rejected"])
    assert again.accounted()
    assert run.after_reload == run.before_reload


# ---------------------------------------------------------------- mapping

# (file, field, header the field must come from; None = the field must stay unmapped)
MAPPED = [
    ("salesforce_ja_cp932.csv", "case_id", "ケース番号"),
    ("salesforce_ja_cp932.csv", "received_at", "作成日"),
    ("salesforce_ja_cp932.csv", "text", "説明"),
    ("salesforce_ja_cp932.csv", "closed_at", "完了日"),
    ("zendesk_en_utf8.csv", "received_at", "Created at"),
    ("zendesk_en_utf8.csv", "text", "Description"),
    ("zendesk_en_utf8.csv", "closed_at", "Solved at"),
    ("kintone_bom_wareki.csv", "response", "対応内容"),
    ("kintone_bom_wareki.csv", "updated_at", "更新日時"),
    ("generic_ja.xlsx", "route", "対応経路"),
    ("tsv_utf8.tsv", "received_at", "タイムスタンプ"),
    ("tsv_utf8.tsv", "text", "ご意見・ご要望"),
    ("pipe_cp932.txt", "case_id", "受付NO"),
    ("no_case_id.csv", "case_id", None),
    ("excel_unicode_text.txt", "text", "内容"),
    ("excel_unicode_text.txt", "response", None),   # 対応者 is the staff member, not what was done
    ("excel_unicode_text.txt", "status", "状態"),
]


@pytest.mark.parametrize(("name", "field", "header"), MAPPED)
def test_columns_land_in_the_right_fields(loaded, name, field, header):
    assert loaded(name).first.mapping.get(field) == header


# ---------------------------------------------------------------- refused files


# (file, words the Japanese message must contain, words the English message must contain)
REFUSALS = [
    ("empty.csv", ["空"], ["empty"]),
    ("header_only.csv", ["データ行"], ["no data rows"]),
    ("binary.csv", ["PNG"], ["binary", "CSV"]),
    ("not_a_table.csv", ["表"], ["not a table"]),
    ("no_date_column.csv", ["受付日時"], ["received_at", "--mapping"]),
    ("no_text_column.csv", ["問い合わせ内容"], ["text", "--mapping"]),
]


def test_every_bad_fixture_has_a_refusal_row():
    assert sorted(name for name, _, _ in REFUSALS) == sorted(BAD)


@pytest.mark.parametrize(("name", "ja_words", "en_words"), REFUSALS)
def test_unusable_file_is_refused_with_a_reason_and_recorded(store, name, ja_words, en_words):
    e = EXPECTED[name]
    with pytest.raises(RefusedFile) as refused:
        load_file(EXPORTS / name, store, LoadOptions(kind=e["kind"]))
    assert refused.value.code == e["refusal"]
    assert [w for w in ja_words if w not in refused.value.message_ja()] == []
    assert [w for w in en_words if w not in refused.value.message_en()] == []
    assert query(store, "SELECT count(*) FROM cases") == [(0,)]
    history = query(store, "SELECT file_name, status, message FROM import_batches")
    assert history == [(name, "refused", refused.value.message_ja())]
    assert JAPANESE.search(history[0][2])


# ---------------------------------------------------------------- the command line


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", "ingest", *args], cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def test_cli_prints_a_json_summary_per_file_and_refusals_in_english(store):
    files = ["salesforce_ja_cp932.csv", "binary.csv", "mixed_bad_rows.csv"]
    done = run_cli(*[str(EXPORTS / name) for name in files], "--db", str(store))
    assert done.returncode == 2  # one of the files was unusable; the others still loaded
    summaries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [Path(s["file"]).name for s in summaries] == ["salesforce_ja_cp932.csv", "mixed_bad_rows.csv"]
    for summary in summaries:
        e = EXPECTED[Path(summary["file"]).name]
        assert (summary["encoding"], summary["rows_read"], summary["inserted"], summary["duplicate"],
                summary["rejected"]) == (e["encoding"], e["rows"], e["inserted"], e["duplicates"], e["rejected"])
    error = next(line for line in done.stderr.splitlines() if "binary.csv" in line)
    assert "is not a table but a binary file" in error
    assert "Traceback" not in done.stderr
    assert "6 row(s) rejected" in done.stderr
    assert query(store, "SELECT count(*) FROM cases") == [(12 + 8,)]
