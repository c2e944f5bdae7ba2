"""Case identity you can trust (issue 12, item 1): an ID column is used only when its values behave
like IDs; generated IDs merge only true copies; an ID that arrives again for a different case is a
conflict, kept apart and reported, never an overwrite; a "customer" column with one value for many
rows is not a customer.

Fixtures: tests/data/identity (tests/data/README.md says which real export each imitates).
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import query

from pipelines.ingest.identity import IdStats, customer_verdict, judge_id_column
from pipelines.ingest.load import LoadOptions, LoadResult, load_file
from pipelines.ingest.preview import check_mapping, inspect_file, validate_file

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = ROOT / "tests" / "data" / "identity"


def load(store: Path, name: str) -> LoadResult:
    result = load_file(IDENTITY / name, store, LoadOptions(workers=1, morphology=False))
    assert result.status == "done" and result.accounted()
    return result


def rows_of(name: str, encoding: str = "utf-8") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((IDENTITY / name).read_bytes().decode(encoding), newline="")))


def counts(result: LoadResult) -> tuple[int, ...]:
    return result.rows_read, result.inserted, result.updated, result.unchanged, result.duplicate, result.rejected


# ---------------------------------------------------------------- the value rule, table-driven

# (what the ID column's values look like, used as the case ID?, words the reason must contain)
ID_VALUES = [
    pytest.param(IdStats(rows=120, distinct=120, counter_rows=0, conflicting_ids=0), True, "unique", id="unique"),
    pytest.param(IdStats(rows=6, distinct=6, counter_rows=6, conflicting_ids=0), False, "row counter",
                 id="row-counter"),
    pytest.param(IdStats(rows=100, distinct=100, counter_rows=96, conflicting_ids=0), False, "row counter",
                 id="counter-with-a-few-gaps"),
    pytest.param(IdStats(rows=49, distinct=5, counter_rows=5, conflicting_ids=4), False, "shared by different cases",
                 id="restarting-counter"),
    pytest.param(IdStats(rows=122, distinct=120, counter_rows=0, conflicting_ids=1), True, "kept apart",
                 id="one-reused-id-in-120"),
    pytest.param(IdStats(rows=12, distinct=11, counter_rows=0, conflicting_ids=1), False, "shared by different cases",
                 id="one-reused-id-in-12"),
    pytest.param(IdStats(rows=1, distinct=1, counter_rows=1, conflicting_ids=0), True, "unique", id="one-row"),
]


@pytest.mark.parametrize(("stats", "used", "words"), ID_VALUES)
def test_an_id_column_is_used_only_when_its_values_behave_like_ids(stats, used, words):
    verdict = judge_id_column("受付番号", stats)
    assert verdict.usable is used
    assert words in verdict.en and "受付番号" in verdict.ja


# (rows with a value, distinct values, used to identify customers?): more than 20 rows a value is too few values
@pytest.mark.parametrize(("rows", "distinct", "used"), [(935, 1, False), (30, 1, False), (21, 1, False), (19, 1, True),
                                                         (1000, 49, False), (1000, 50, True), (1000, 700, True)])
def test_a_customer_column_with_very_few_values_for_many_rows_is_not_a_customer(rows, distinct, used):
    verdict = customer_verdict("customer_name", "申出者", rows, distinct)
    assert verdict.usable is used
    assert used or f"{distinct:,} distinct value(s) over {rows:,} rows" in verdict.en


# ---------------------------------------------------------------- monthly exports numbered from 1

def test_a_later_monthly_export_does_not_overwrite_the_earlier_one(tmp_path):
    """Jan and Feb both number their rows 1, 2, 3…: the old loader overwrote January's cases."""
    store = tmp_path / "store.duckdb"
    january = load(store, "crm_2025_01.csv")
    before = query(store, "SELECT case_id, received_at, text, batch_id FROM cases ORDER BY case_id")
    february = load(store, "crm_2025_02.csv")
    assert counts(january) == (6, 6, 0, 0, 0, 0)
    assert counts(february) == (5, 5, 0, 0, 0, 0), "no February row updates a January case"
    assert (january.identity, february.identity) == ("generated", "generated")
    assert "row counter" in february.identity_reason_en and "No." in february.identity_reason_en
    assert "行番号" in february.identity_reason_ja
    after = query(store, "SELECT case_id, received_at, text, batch_id FROM cases WHERE batch_id = ? ORDER BY case_id",
                  [january.batch_id])
    assert after == before, "January's cases are untouched"
    assert query(store, "SELECT count(*) FROM cases") == [(11,)]
    # The row number is still there to look up, under its header.
    numbers = sorted(json.loads(e)["No."] for (e,) in query(store, "SELECT extra FROM cases WHERE batch_id = ?",
                                                             [february.batch_id]))
    assert numbers == ["1", "2", "3", "4", "5"]


def test_a_year_of_monthly_exports_in_one_file_keeps_every_case(tmp_path):
    store = tmp_path / "store.duckdb"
    result = load(store, "crm_2025_year.csv")
    rows = rows_of("crm_2025_year.csv", "cp932")
    distinct = {(r["受付日"], r["問い合わせ内容"], r["お客様名"]) for r in rows}
    assert len(rows) == 49 and len(distinct) == 48
    assert counts(result) == (49, 48, 0, 0, 1, 0), "only the case exported again in March merges"
    assert result.identity == "generated"
    assert "shared by different cases" in result.identity_reason_en
    assert query(store, "SELECT count(DISTINCT (received_at, text)) FROM cases") == [(48,)]


def test_generated_ids_merge_only_true_copies(tmp_path):
    """Same wording, same day, other company or prefecture: separate complaints (the old ID hashed
    only date + text + channel and merged them)."""
    store = tmp_path / "store.duckdb"
    cfpb = load(store, "cfpb_no_id.csv")
    assert counts(cfpb) == (11, 8, 0, 0, 1, 2)
    same = "I was charged a late fee even though I paid on time. I want the fee removed."
    assert query(store, "SELECT count(*) FROM cases WHERE text = ?", [same]) == [(3,)]
    affairs = load(store, "consumer_affairs.csv")
    assert counts(affairs) == (6, 5, 0, 0, 1, 0)
    assert query(store, "SELECT count(*) FROM cases WHERE text = ?", ["解約を申し出たが、事業者と連絡がつかない。"]) == [(3,)]
    assert all(case_id.startswith("R-") for (case_id,) in query(store, "SELECT case_id FROM cases"))


def test_generated_ids_are_stable_on_reload(tmp_path):
    store = tmp_path / "store.duckdb"
    load(store, "crm_2025_year.csv")
    before = query(store, "SELECT * FROM cases ORDER BY case_id")
    again = load(store, "crm_2025_year.csv")
    assert counts(again) == (49, 0, 0, 48, 1, 0)
    assert query(store, "SELECT * FROM cases ORDER BY case_id") == before


# ---------------------------------------------------------------- conflicts: kept apart, reported

def test_an_id_arriving_again_for_a_different_case_is_kept_apart_and_reported(tmp_path):
    store = tmp_path / "store.duckdb"
    first = load(store, "helpdesk_2024.csv")
    stored_2024 = dict(query(store, "SELECT case_id, text FROM cases"))
    second = load(store, "helpdesk_2025.csv")
    assert first.identity == second.identity == "受付番号"
    # 1001, 1002, 1004: other cases under reused numbers (kept apart); 1003: the same case, now done
    # (an update); 1005: unchanged; 1006: new.
    assert counts(second) == (6, 4, 1, 1, 0, 0)
    assert second.conflicts == 3
    assert [(e["line"], e["case_id"], e["kept_as"], e["received"], e["other_received"])
            for e in second.conflict_examples] == [
        (2, "1001", "1001~20250110", "2025-01-10", "2024-11-05"),
        (3, "1002", "1002~20250110", "2025-01-10", "2024-11-05"),
        (5, "1004", "1004~20250112", "2025-01-12", "2024-11-07")]
    cases = dict(query(store, "SELECT case_id, text FROM cases"))
    for number in ("1001", "1002", "1004"):
        assert cases[number] == stored_2024[number], f"{number}: the 2024 case is not overwritten"
    assert cases["1001~20250110"] == "エアコンのリモコンが反応しません。"
    assert query(store, "SELECT status FROM cases WHERE case_id = '1003'") == [("完了",)], "a real update still updates"
    extra = query(store, "SELECT extra FROM cases WHERE case_id = '1004~20250112'")[0][0]
    assert json.loads(extra)["受付番号"] == "1004", "the export's own number is kept"
    # The batch record says it too (the import history page reads it).
    assert query(store, "SELECT identity, rows_conflict, conflict_examples IS NOT NULL, identity_reason "
                        "FROM import_batches WHERE batch_id = ?", [second.batch_id])[0][:3] == ("受付番号", 3, True)
    assert "派生ID" in second.identity_reason_ja and "1001~20250110" in second.identity_reason_ja
    assert "nothing was overwritten" in second.identity_reason_en


def test_reloading_after_a_conflict_changes_nothing(tmp_path):
    store = tmp_path / "store.duckdb"
    load(store, "helpdesk_2024.csv")
    load(store, "helpdesk_2025.csv")
    before = query(store, "SELECT * FROM cases ORDER BY case_id")
    again = load(store, "helpdesk_2025.csv")
    assert counts(again) == (6, 0, 0, 6, 0, 0)
    assert query(store, "SELECT * FROM cases ORDER BY case_id") == before


def test_an_id_reused_within_one_file_is_kept_apart_and_the_column_stays_the_id(tmp_path):
    store = tmp_path / "store.duckdb"
    result = load(store, "tickets_one_reused.csv")
    assert result.identity == "受付番号"
    assert counts(result) == (122, 121, 0, 0, 1, 0), "T-0060 exported twice is one case (a duplicate)"
    assert result.conflicts == 1 and result.conflict_examples[0]["kept_as"] == "T-0050~20250303"
    assert "1 shared by different cases" in result.identity_reason_en
    assert query(store, "SELECT strftime(received_at, '%Y-%m-%d') FROM cases WHERE case_id = 'T-0050'") == [("2025-02-23",)]
    assert query(store, "SELECT text FROM cases WHERE case_id = 'T-0050~20250303'") == [
        ("請求額が二重になっています。至急確認してください。",)]
    assert query(store, "SELECT status FROM cases WHERE case_id = 'T-0060'") == [("完了",)], "the last row of a case wins"


def test_the_cli_prints_the_identity_and_the_conflicts(tmp_path):
    store = tmp_path / "store.duckdb"
    done = subprocess.run([sys.executable, "-m", "pipelines", "ingest", str(IDENTITY / "helpdesk_2024.csv"),
                           str(IDENTITY / "helpdesk_2025.csv"), "--db", str(store), "--quiet", "--workers", "1"],
                          check=False, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    summaries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(s["identity"], s["conflicts"], s["inserted"]) for s in summaries] == [("受付番号", 0, 5), ("受付番号", 3, 4)]
    assert "case identity: '受付番号' was used as the case ID" in done.stderr
    assert "line 2: '1001' received 2025-01-10" in done.stderr and "kept as '1001~20250110'" in done.stderr


def test_the_dry_run_counts_what_the_load_does(tmp_path):
    """The upload page's validation (no store) agrees with a load into an empty store."""
    for name in ("tickets_one_reused.csv", "crm_2025_year.csv", "cfpb_no_id.csv"):
        result = load(tmp_path / f"{name}.duckdb", name)
        report = validate_file(IDENTITY / name, "cases", result.mapping)
        assert (report.rows, report.duplicates) == (result.rows_read, result.duplicate), name
        assert report.valid - report.duplicates == result.inserted, name


# ---------------------------------------------------------------- customers that are not customers

def test_an_office_column_is_not_taken_for_the_customer(tmp_path):
    store = tmp_path / "store.duckdb"
    result = load(store, "office_requests.csv")
    assert result.mapping["customer_name"] == "申出者"
    assert query(store, "SELECT count(customer_key), count(*) FROM cases") == [(0, 30)], \
        "30 requests are not 30 contacts of one customer"
    assert len(result.customer_notes_en) == 1 and "1 distinct value(s) over 30 rows" in result.customer_notes_en[0]
    assert "申出者" in result.customer_notes_ja[0]
    assert "申出者" in query(store, "SELECT identity_reason FROM import_batches")[0][0]


def test_a_single_account_id_gives_way_to_the_buyers_e_mail(tmp_path):
    store = tmp_path / "store.duckdb"
    result = load(store, "reseller_accounts.csv")
    assert "顧客ID" in result.customer_notes_ja[0]
    keys = query(store, "SELECT count(DISTINCT customer_key), bool_and(starts_with(customer_key, 'K-')) FROM cases")
    assert keys == [(12, True)], "twelve buyers, told apart by e-mail"
    assert {json.loads(e)["顧客ID"] for (e,) in query(store, "SELECT extra FROM cases")} == {"AC-0001"}


def test_an_agency_column_is_the_department_not_the_customer(tmp_path):
    store = tmp_path / "store.duckdb"
    result = load(store, "nyc311_requests.csv")
    assert result.mapping["department"] == "Agency" and "customer_name" not in result.mapping
    assert query(store, "SELECT count(customer_key), count(DISTINCT department) FROM cases") == [(0, 3)]


# ---------------------------------------------------------------- what the upload page shows first

def test_the_preview_shows_three_samples_per_field_and_warns_about_suspicious_choices():
    year = inspect_file(IDENTITY / "crm_2025_year.csv")
    by_field = {c.field: c for c in year.checks}
    assert by_field["received_at"].samples == ("2025/1/1", "2025/1/4", "2025/1/7")
    assert len(by_field["text"].samples) == 3 and by_field["text"].label == "問い合わせ内容"
    assert by_field["case_id"].warnings_ja and "別々のケース" in by_field["case_id"].warnings_ja[0]
    assert list(year.warnings) == ["case_id"], "the page reads Inspection.warnings: {field: [Japanese]}"
    office = inspect_file(IDENTITY / "office_requests.csv")
    assert "1 種類の値しかない" in office.warnings["customer_name"][0]
    assert inspect_file(IDENTITY / "cfpb_complaints.csv").warnings == {}


def test_the_preview_warns_about_a_response_column_holding_dates(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("受付番号,受付日,問い合わせ内容,回答\n" + "".join(
        f"A-{n},2025/4/{n},商品{n}が届きません,2025/4/{n + 1}\n" for n in range(1, 9)), encoding="utf-8")
    checks = {c.field: c for c in inspect_file(path).checks}
    assert checks["response"].samples == ("2025/4/2", "2025/4/3", "2025/4/4")
    assert "日付" in checks["response"].warnings_ja[0] and "dates" in checks["response"].warnings_en[0]
    chosen = check_mapping(path, "cases", {"received_at": "受付日", "text": "問い合わせ内容", "response": None})
    assert [c.field for c in chosen] == ["received_at", "text"], "a field the page unset is not checked"
