"""Headers in any language (issue 12, item 4): English and Japanese help-desk, CRM and public
complaint exports are mapped by meaning, whole terms only; a mapping can unset a field; a refusal
says what each column could be; US dates in those exports are read.

Header rows are those of the fixtures in tests/data/identity (see tests/data/README.md for the
exports they imitate).
"""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.ingest.mapping import auto_map, column_roles, header_terms, is_case_id_header, resolve, saved_mapping
from pipelines.store import db
from pipelines.store.errors import RefusedFile

IDENTITY = Path(__file__).resolve().parent / "data" / "identity"


def header_of(name: str) -> list[str]:
    with (IDENTITY / name).open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def mapped(header: list[str], kind: str = "cases") -> dict[str, str]:
    return {field: header[index] for field, index in auto_map(header, kind).items()}


# ---------------------------------------------------------------- header_terms

# (as written in an export, its terms)
TERMS = [
    ("Date/Time Opened", ("date", "time", "opened")),
    ("opened_at", ("opened", "at")),
    ("CaseNumber", ("case", "number")),
    ("TicketID", ("ticket", "id")),
    ("Consumer consent provided?", ("consumer", "consent", "provided")),
    ("incident_zip", ("incident", "zip")),
    ("受付日時（JST）", ("受付日時", "jst")),
    ("お問合せ内容【詳細】", ("問い合わせ内容", "詳細")),   # お dropped, 問合せ spelled 問い合わせ
    ("ご意見・ご要望", ("意見", "要望")),                  # the middle dot separates terms
    ("受付No.", ("受付", "no")),
    ("ｶﾃｺﾞﾘ", ("カテゴリ",)),
    ("Ticket #", ("ticket", "#")),
    ("", ()),
]


@pytest.mark.parametrize(("header", "terms"), TERMS)
def test_header_terms(header, terms):
    assert header_terms(header) == terms


# ---------------------------------------------------------------- what a case ID header is

CASE_IDS = ["受付番号", "問い合わせ番号", "お問合せ番号", "ケース番号", "チケットID", "受付No.", "受付NO", "案件番号",
            "レコード番号", "相談番号", "整理番号", "Case Number", "case_number", "CaseNumber", "Ticket ID", "Ticket #",
            "Complaint ID", "Incident Number", "Service Request ID", "SR Number", "Issue key", "Unique Key", "number",
            "Id", "ID", "No", "No.", "番号"]
NOT_CASE_IDS = ["注文番号", "郵便番号", "電話番号", "顧客番号", "会員番号", "商品管理番号", "Caller ID", "caller_id",
                "Consumer consent provided?", "incident_zip", "Incident Zip", "Phone No", "Requester id", "Account ID",
                "Order Number", "Android version", "Notes", "行番号", "連番", "Row", "ZIP code"]


@pytest.mark.parametrize("header", CASE_IDS)
def test_headers_that_name_a_case_identifier(header):
    assert is_case_id_header(header)


@pytest.mark.parametrize("header", NOT_CASE_IDS)
def test_headers_that_only_contain_an_identifier_word(header):
    assert not is_case_id_header(header)
    assert "case_id" not in auto_map(["受付日時", "問い合わせ内容", header])


# ---------------------------------------------------------------- exports mapped by meaning

# (fixture, what auto detection maps; every other column stays an extra)
EXPORTS = [
    pytest.param("cfpb_complaints.csv",
                 {"case_id": "Complaint ID", "received_at": "Date received", "text": "Consumer complaint narrative",
                  "channel": "Submitted via", "product": "Product", "category": "Issue",
                  "response": "Company response to consumer"}, id="cfpb"),
    pytest.param("servicenow_incident.csv",
                 {"case_id": "number", "received_at": "opened_at", "subject": "short_description",
                  "text": "description", "customer_name": "caller_id", "priority": "priority", "category": "category",
                  "department": "assignment_group", "updated_at": "sys_updated_on", "closed_at": "closed_at",
                  "response": "close_notes", "channel": "contact_type"}, id="servicenow"),
    pytest.param("salesforce_case_report.csv",
                 {"case_id": "Case Number", "received_at": "Date/Time Opened", "subject": "Subject",
                  "text": "Description", "status": "Status", "priority": "Priority", "channel": "Case Origin",
                  "customer_name": "Contact Name", "department": "Case Owner", "closed_at": "Date/Time Closed"},
                 id="salesforce-en"),
    pytest.param("nyc311_requests.csv",
                 {"case_id": "Unique Key", "received_at": "Created Date", "closed_at": "Closed Date",
                  "department": "Agency", "category": "Complaint Type", "text": "Descriptor", "status": "Status",
                  "response": "Resolution Description", "channel": "Open Data Channel Type"}, id="nyc311"),
    pytest.param("consumer_affairs.csv",
                 {"received_at": "受付年月日", "product": "商品・役務等", "text": "相談概要"}, id="consumer-affairs"),
    pytest.param("crm_2025_01.csv",
                 {"case_id": "No.", "received_at": "受付日", "channel": "受付チャネル", "customer_name": "お客様名",
                  "customer_phone": "電話番号", "product": "商品名", "text": "問い合わせ内容", "status": "対応状況"},
                 id="japanese-crm"),
]


@pytest.mark.parametrize(("name", "expected"), EXPORTS)
def test_export_headers_are_mapped_by_meaning(name, expected):
    header = header_of(name) if name != "crm_2025_01.csv" else \
        next(csv.reader((IDENTITY / name).read_bytes().decode("cp932").splitlines()))
    assert mapped(header) == expected


# (header row of a documented export, what auto detection maps)
MORE = [
    pytest.param(["Id", "Requester", "Requester id", "Requester email", "Submitter", "Assignee", "Group", "Subject",
                  "Tags", "Status", "Priority", "Via", "Ticket type", "Created at", "Updated at", "Organization",
                  "Due date", "Solved at", "Resolution time", "Satisfaction Score", "Description"],
                 {"case_id": "Id", "customer_name": "Requester", "customer_id": "Requester id",
                  "customer_email": "Requester email", "department": "Group", "subject": "Subject",
                  "status": "Status", "priority": "Priority", "channel": "Via", "category": "Ticket type",
                  "received_at": "Created at", "updated_at": "Updated at", "closed_at": "Solved at",
                  "text": "Description"}, id="zendesk-full"),
    pytest.param(["Issue key", "Summary", "Description", "Created", "Updated", "Resolved", "Status", "Priority",
                  "Reporter"],
                 {"case_id": "Issue key", "subject": "Summary", "text": "Description", "received_at": "Created",
                  "updated_at": "Updated", "status": "Status", "priority": "Priority"}, id="jira-like"),
    pytest.param(["お問い合わせID", "受付日時", "お名前", "メールアドレス", "件名", "お問い合わせ内容", "回答内容", "回答日"],
                 {"case_id": "お問い合わせID", "received_at": "受付日時", "customer_name": "お名前",
                  "customer_email": "メールアドレス", "subject": "件名", "text": "お問い合わせ内容",
                  "response": "回答内容"}, id="web-form"),
]


@pytest.mark.parametrize(("header", "expected"), MORE)
def test_more_export_headers(header, expected):
    assert mapped(header) == expected


# (header, the field it must NOT become)
TRAPS = [
    ("Agency Name", "customer_name"),        # "name" inside it: an agency is not a customer
    ("Street Name", "customer_name"),
    ("Park Facility Name", "customer_name"),
    ("Timely response?", "response"),       # a Yes/No column
    ("Resolution time", "response"),        # a duration
    ("Date sent to company", "received_at"),
    ("Due Date", "received_at"),
    ("Opened By", "received_at"),
    ("Company", "customer_name"),           # CFPB: the company complained about
    ("State", "status"),                    # a US state in CFPB and 311 exports
    ("Location Type", "category"),
    ("対応者", "response"),                  # the staff member, not what was done
    ("担当者氏名", "customer_name"),
]


@pytest.mark.parametrize(("header", "field"), TRAPS)
def test_a_word_inside_a_header_does_not_make_it_that_field(header, field):
    assert mapped(["問い合わせ内容", header]).get(field) != header
    assert mapped(["Description", header]).get(field) != header


# ---------------------------------------------------------------- a mapping can unset a choice

@pytest.mark.parametrize("unset", [None, []], ids=["null", "empty-list"])
def test_a_mapping_can_unset_an_automatic_choice(unset):
    header = ["受付日", "問い合わせ内容", "お客様名", "商品名"]
    assert resolve(header, "cases").as_headers()["customer_name"] == "お客様名"
    mapping = resolve(header, "cases", {"customer_name": unset})
    assert "customer_name" not in mapping.columns
    assert [header[i] for i in mapping.extras] == ["お客様名"], "the column is kept as an extra (masked at load)"
    assert mapping.as_headers()["product"] == "商品名", "the other automatic choices stay"


def test_an_unset_field_stays_unset_in_a_saved_mapping(tmp_path):
    """Saved for next month, the mapping still says 申出者 is not the customer."""
    store = tmp_path / "store.duckdb"
    first = load_file(IDENTITY / "office_requests.csv", store,
                      LoadOptions(workers=1, morphology=False, mapping={"customer_name": None}, save_mapping_as="市の月次"))
    assert "customer_name" not in first.mapping and first.customer_notes_ja == []
    assert saved_mapping("市の月次", store)["customer_name"] is None
    again = load_file(IDENTITY / "office_requests.csv", store, LoadOptions(workers=1, morphology=False, mapping="市の月次"))
    assert "customer_name" not in again.mapping and again.unchanged == 30


def test_unsetting_a_required_field_is_refused():
    with pytest.raises(RefusedFile) as refused:
        resolve(["受付日", "問い合わせ内容"], "cases", {"text": None})
    assert refused.value.code == "no_text_column"


# ---------------------------------------------------------------- refusals say what each column could be

def test_a_refusal_lists_each_column_with_the_roles_it_could_play():
    header = ["Reference", "When it happened", "What the customer said", "Agency"]
    sample = [["A-17", "2024-03-04 09:00", "The parcel arrived open and two items were missing.", "DOT"],
              ["B-02", "2024-03-05 10:30", "Nobody answered the phone for two days in a row.", "DSNY"]]
    with pytest.raises(RefusedFile) as refused:
        resolve(header, "cases", None, sample=sample)
    error = refused.value
    assert "When it happened→受付日時・完了日時・更新日時" in error.ja
    assert "What the customer said→問い合わせ内容・対応内容" in error.ja
    assert "Agency→担当部署" in error.ja and "Reference→？" in error.ja
    assert "When it happened → received_at/closed_at/updated_at" in error.en
    assert "What the customer said → text/response" in error.en


def test_column_roles_by_header_alone():
    assert column_roles(["Date received", "Complaint ID", "Tags"]) == [["received_at"], ["case_id"], []]


def test_a_refused_english_file_is_recorded_with_its_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Reference,When it happened,What the customer said\nA-17,2024-03-04,"
                    "The parcel arrived open and two items were missing.\n", encoding="utf-8")
    with pytest.raises(RefusedFile) as refused:
        load_file(path, tmp_path / "store.duckdb", LoadOptions(workers=1, morphology=False))
    assert "What the customer said → text/response" in refused.value.message_en()
    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    try:
        (message,) = con.execute("SELECT message FROM import_batches WHERE status = 'refused'").fetchone()
    finally:
        con.close()
    assert "What the customer said→問い合わせ内容・対応内容" in message


# ---------------------------------------------------------------- US dates in English exports

US_DATES = [
    ("03/04/2024 09:12:33 PM", "2024-03-04 21:12:33"),
    ("03/04/2024 12:05:00 AM", "2024-03-04 00:05:00"),
    ("3/4/2024 9:12 AM", "2024-03-04 09:12:00"),
    ("3/4/2024", "2024-03-04 00:00:00"),
    ("13/04/2024", None),                   # no thirteenth month: unreadable, not guessed
]


@pytest.mark.parametrize(("text", "expected"), US_DATES)
def test_us_month_first_dates_are_read(text, expected):
    con = duckdb.connect(":memory:")
    try:
        db.install_macros(con)
        (value,) = con.execute("SELECT strftime(kk_ts(?), '%Y-%m-%d %H:%M:%S')", [text]).fetchone()
    finally:
        con.close()
    assert value == expected


# ---------------------------------------------------------------- English exports load

# (fixture, rows, cases stored, rows rejected)
LOADS = [
    ("cfpb_complaints.csv", 10, 8, 2),          # two complaints without a narrative
    ("servicenow_incident.csv", 5, 5, 0),
    ("salesforce_case_report.csv", 4, 4, 0),
    ("nyc311_requests.csv", 12, 12, 0),
]


@pytest.mark.parametrize(("name", "rows", "stored", "rejected"), LOADS)
def test_english_exports_load_with_their_own_ids_and_dates(tmp_path, name, rows, stored, rejected):
    store = tmp_path / "store.duckdb"
    result = load_file(IDENTITY / name, store, LoadOptions(workers=1, morphology=False))
    assert (result.rows_read, result.inserted, result.rejected) == (rows, stored, rejected)
    assert result.identity == result.mapping["case_id"]
    con = duckdb.connect(str(store), read_only=True)
    try:
        ids = {r[0] for r in con.execute("SELECT case_id FROM cases").fetchall()}
        first = con.execute("SELECT min(received_at) FROM cases").fetchone()[0]
    finally:
        con.close()
    with (IDENTITY / name).open(encoding="utf-8", newline="") as fh:
        file_ids = {row[result.mapping["case_id"]] for row in csv.DictReader(fh)}
    assert ids <= file_ids and len(ids) == stored
    assert first.year == 2024 and first.month == 3
