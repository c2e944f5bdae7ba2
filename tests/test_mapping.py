"""Header mapping: which column of an export holds which field (pipelines.ingest.mapping).

The headers below are those of the real exports in tests/data/exports and of the bundled presets
in data/mappings; a wrong guess here is a wrong column on every page.
"""
from __future__ import annotations

import json

import pytest

from pipelines.ingest.mapping import auto_map, fields_for, header_score, load_preset, normalize_header, presets, resolve
from pipelines.store.errors import RefusedFile
from pipelines.store.settings import MAPPINGS_DIR

PRESETS = sorted(p.stem for p in MAPPINGS_DIR.glob("*.json"))


def _headers(header: list[str], columns: dict[str, int]) -> dict[str, str]:
    return {field: header[index] for field, index in columns.items()}


# ---------------------------------------------------------------- normalize_header

# (as written in a file, the key it is compared by)
HEADER_KEYS = [
    ("お問い合わせ内容（詳細）", "お問い合わせ内容詳細"),   # full-width brackets go
    ("【件名】", "件名"),
    ("Created At", "createdat"),                        # case and spaces
    ("ＩＤ", "id"),                                       # full-width Latin
    ("ｶﾃｺﾞﾘ", "カテゴリ"),                                # half-width kana
    (" 受付日時 ", "受付日時"),
    ("受付_日時", "受付日時"),
    ("ご意見・ご要望", "ご意見ご要望"),
    ("所有者: 氏名", "所有者氏名"),                        # Salesforce's owner column
    ("E-mail", "e-mail"),                               # a hyphen is kept
    ("", ""),
]


@pytest.mark.parametrize(("header", "key"), HEADER_KEYS)
def test_normalize_header(header, key):
    assert normalize_header(header) == key


def test_headers_written_differently_map_to_the_same_field():
    assert auto_map(["ｶﾃｺﾞﾘ", "【受付日時】", "問い合わせ内容（詳細）"]) == {"category": 0, "received_at": 1, "text": 2}


# ---------------------------------------------------------------- auto_map on real exports

# (the header row of an export, kind, what auto detection maps)
AUTO = [
    pytest.param(["ケース番号", "件名", "説明", "状況", "優先度", "発生源", "作成日", "完了日", "取引先名", "所有者: 氏名",
                  "製品", "原因"], "cases",
                 {"case_id": "ケース番号", "subject": "件名", "text": "説明", "status": "状況", "priority": "優先度",
                  "channel": "発生源", "received_at": "作成日", "closed_at": "完了日", "customer_name": "取引先名",
                  "department": "所有者: 氏名", "product": "製品", "cause": "原因"}, id="salesforce_ja"),
    pytest.param(["Id", "Subject", "Description", "Status", "Priority", "Via", "Created at", "Updated at", "Solved at",
                  "Requester", "Requester email", "Group", "Assignee", "Tags"], "cases",
                 {"case_id": "Id", "subject": "Subject", "text": "Description", "status": "Status", "priority": "Priority",
                  "channel": "Via", "received_at": "Created at", "updated_at": "Updated at", "closed_at": "Solved at",
                  "customer_name": "Requester", "customer_email": "Requester email", "department": "Group"},
                 id="zendesk"),
    pytest.param(["レコード番号", "受付日", "受付方法", "会員番号", "商品名", "問い合わせ内容", "対応状況", "担当部署", "対応内容",
                  "完了日", "更新日時"], "cases",
                 {"case_id": "レコード番号", "received_at": "受付日", "channel": "受付方法", "customer_id": "会員番号",
                  "product": "商品名", "text": "問い合わせ内容", "status": "対応状況", "department": "担当部署",
                  "response": "対応内容", "closed_at": "完了日", "updated_at": "更新日時"}, id="kintone"),
    pytest.param(["チケットID", "作成日時", "チャネル", "件名", "本文", "ステータス"], "cases",
                 {"case_id": "チケットID", "received_at": "作成日時", "channel": "チャネル", "subject": "件名", "text": "本文",
                  "status": "ステータス"}, id="ticket-export"),
    pytest.param(["タイムスタンプ", "店舗", "区分", "ご意見・ご要望", "対応状況"], "cases",
                 {"received_at": "タイムスタンプ", "category": "区分", "text": "ご意見・ご要望", "status": "対応状況"},
                 id="survey-form"),
    pytest.param(["受付NO", "受付日", "受付区分", "得意先名", "申出内容", "処理区分"], "cases",
                 {"case_id": "受付NO", "received_at": "受付日", "category": "受付区分", "text": "申出内容"},
                 id="legacy-pipe-export"),
    pytest.param(["受付番号", "受付日", "受付チャネル", "氏名", "電話番号", "メールアドレス", "問い合わせ内容"], "cases",
                 {"case_id": "受付番号", "received_at": "受付日", "channel": "受付チャネル", "customer_name": "氏名",
                  "customer_phone": "電話番号", "customer_email": "メールアドレス", "text": "問い合わせ内容"},
                 id="contact-columns"),
    pytest.param(["ケース番号", "日時", "移管元", "移管先", "対応区分", "メモ"], "events",
                 {"case_id": "ケース番号", "at": "日時", "from_department": "移管元", "to_department": "移管先",
                  "action": "対応区分", "note": "メモ"}, id="events"),
]


@pytest.mark.parametrize(("header", "kind", "expected"), AUTO)
def test_auto_map_on_real_export_headers(header, kind, expected):
    assert _headers(header, auto_map(header, kind)) == expected


def test_an_exact_header_wins_over_one_that_only_contains_it():
    header = ["問い合わせ内容詳細", "問い合わせ内容"]
    assert _headers(header, auto_map(header)) == {"text": "問い合わせ内容"}


def test_a_header_containing_an_alias_is_found():
    header = ["受付日時（JST）", "お客様の声（原文）"]
    assert _headers(header, auto_map(header)) == {"received_at": "受付日時（JST）", "text": "お客様の声（原文）"}


# Rows sharing an order number would collapse into one case: an ID header names the case as a whole term.
@pytest.mark.parametrize("other", ["注文番号", "郵便番号", "Notes", "Android version", "Phone No", "Caller ID",
                                   "Consumer consent provided?", "incident_zip", "商品管理番号", "行番号"])
def test_other_numbers_are_not_taken_for_the_case_id(other):
    assert "case_id" not in auto_map(["受付日時", "問い合わせ内容", other])


# ---------------------------------------------------------------- presets

@pytest.mark.parametrize("name", PRESETS)
def test_load_preset_of_each_bundled_preset(name):
    loaded_name, spec = load_preset(name)
    kind = spec.get("kind", "cases")
    assert loaded_name == name
    assert spec["label"], "the upload page lists presets by their Japanese label"
    assert set(spec["fields"]) <= set(fields_for(kind)), "a preset names only fields of its kind"
    assert presets()[name] == spec


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("choice", [0, -1], ids=["first-name", "last-name"])
def test_a_preset_maps_every_header_it_names(name, choice):
    """A file whose headers are any of a preset's names gets every field of the preset."""
    _, spec = load_preset(name)
    kind = spec.get("kind", "cases")
    header = [names[choice] for names in spec["fields"].values()]
    mapping = resolve(header, kind, spec, name)
    assert mapping.as_headers() == {field: names[choice] for field, names in spec["fields"].items()}
    assert (mapping.name, mapping.kind, mapping.extras) == (name, kind, [])


def test_a_preset_decides_which_column_is_the_text():
    """Auto detection reads 内容 as the text; the Salesforce preset says the text is 説明."""
    header = ["ケース番号", "作成日", "件名", "内容", "説明"]
    assert _headers(header, auto_map(header))["text"] == "内容"
    mapping = resolve(header, "cases", load_preset("salesforce_ja")[1], "salesforce_ja")
    assert mapping.as_headers()["text"] == "説明"
    assert [header[i] for i in mapping.extras] == ["内容"], "the other column is kept as an extra"


def test_load_preset_from_a_json_file(tmp_path):
    path = tmp_path / "my_shop.json"
    path.write_text(json.dumps({"fields": {"text": "声"}}, ensure_ascii=False), encoding="utf-8")
    assert load_preset(str(path)) == ("my_shop", {"fields": {"text": "声"}})


def test_load_preset_finds_a_mapping_saved_in_the_store_first():
    saved = {"received_at": "いつ", "text": "声"}
    assert load_preset("店舗アンケート", {"店舗アンケート": saved}.get) == ("店舗アンケート", saved)
    assert load_preset("kintone", {}.get)[1] == presets()["kintone"], "no saved mapping: the preset"


def test_an_unknown_preset_is_refused_with_the_known_ones():
    with pytest.raises(RefusedFile) as refused:
        load_preset("salesforce")
    for name in PRESETS:
        assert name in refused.value.ja and name in refused.value.en
    assert "salesforce" in refused.value.ja


# ---------------------------------------------------------------- resolve with {field: header}

UNGUESSABLE = ["管理コード", "発生した日", "いただいた声", "店舗"]


def test_a_field_header_dict_maps_headers_auto_detection_cannot_guess():
    with pytest.raises(RefusedFile):
        resolve(UNGUESSABLE, "cases")
    mapping = resolve(UNGUESSABLE, "cases", {"case_id": "管理コード", "received_at": "発生した日", "text": "いただいた声"},
                      "手動")
    assert mapping.as_headers() == {"case_id": "管理コード", "received_at": "発生した日", "text": "いただいた声"}
    assert [UNGUESSABLE[i] for i in mapping.extras] == ["店舗"]


def test_a_field_header_dict_compares_headers_as_normalized_and_takes_the_first_present():
    header = ["【発生した日】", "いただいた声"]
    spec = {"received_at": "発生した日", "text": ["本文", "いただいた 声"], "unknown_field": "店舗"}
    assert resolve(header, "cases", spec).as_headers() == {"received_at": "【発生した日】", "text": "いただいた声"}


def test_an_explicit_choice_wins_and_auto_detection_fills_the_rest():
    header = ["受付番号", "受付日", "問い合わせ内容", "備考"]
    mapping = resolve(header, "cases", {"text": "備考"})
    assert mapping.as_headers() == {"case_id": "受付番号", "received_at": "受付日", "text": "備考"}
    assert [header[i] for i in mapping.extras] == ["問い合わせ内容"]


def test_a_subject_alone_is_enough_text():
    assert resolve(["受付日", "件名"], "cases").as_headers() == {"received_at": "受付日", "subject": "件名"}


# ---------------------------------------------------------------- refused: what is missing

# (header, kind, error code, words the Japanese message must contain, words the English one must contain)
MISSING = [
    pytest.param(["受付番号", "受付日", "対応状況", "担当部署", "優先度"], "cases", "no_text_column",
                 ["必須の列「問い合わせ内容」", "受付番号、受付日、対応状況、担当部署、優先度"],
                 ["text not found", "受付番号, 受付日, 対応状況, 担当部署, 優先度"], id="no-text"),
    pytest.param(["問い合わせ番号", "問い合わせ内容", "受付チャネル", "対応状況"], "cases", "no_date_column",
                 ["必須の列「受付日時」", "問い合わせ番号、問い合わせ内容"], ["received_at not found"], id="no-date"),
    pytest.param(["店舗", "メモ"], "cases", "no_text_column",
                 ["「受付日時・問い合わせ内容」", "店舗、メモ"], ["received_at, text not found"], id="neither"),
    pytest.param([], "cases", "no_text_column", ["ファイルの列: （なし）"], ["received_at, text"], id="no-columns"),
    pytest.param(["ケース番号", "日時", "メモ"], "events", "missing_field",
                 ["必須の列「移管先」", "ケース番号、日時、メモ"], ["to_department not found"], id="events-no-destination"),
    pytest.param(["実施日", "内容"], "countermeasures", "missing_field",
                 ["必須の列「対象（原因・テーマ・商品）」"], ["target not found"], id="countermeasures-no-target"),
]


@pytest.mark.parametrize(("header", "kind", "code", "ja_words", "en_words"), MISSING)
def test_a_file_missing_required_fields_is_refused_saying_which(header, kind, code, ja_words, en_words):
    with pytest.raises(RefusedFile) as refused:
        resolve(header, kind)
    error = refused.value
    assert error.code == code
    assert [w for w in ja_words if w not in error.message_ja()] == []
    assert [w for w in en_words if w not in error.message_en()] == []


def test_the_refusal_says_how_to_fix_it():
    with pytest.raises(RefusedFile) as refused:
        resolve(["受付番号", "受付日", "対応状況"], "cases")
    assert "列の対応づけ" in refused.value.hint_ja and "お問い合わせ内容" in refused.value.hint_ja
    assert '--mapping' in refused.value.hint_en and '{"text": "<your header>"}' in refused.value.hint_en


def test_an_events_export_loaded_as_cases_is_refused_as_events():
    with pytest.raises(RefusedFile) as refused:
        resolve(["ケース番号", "日時", "移管元", "移管先", "対応区分", "メモ"], "cases")
    assert "移管記録" in refused.value.ja and "「対応履歴（移管記録）」を選んで" in refused.value.hint_ja
    assert "hand-off events" in refused.value.en and "--events" in refused.value.hint_en


# ---------------------------------------------------------------- header_score

@pytest.mark.parametrize(("row", "score"), [
    (["レコード番号", "受付日", "受付方法", "会員番号", "商品名", "問い合わせ内容"], 6),
    (["Id", "Subject", "Description", "Tags"], 3),
    (["101", "令和7年4月1日", "2025-04-01 15:20", "はちみつが白く固まっています。"], 0),
    (["問い合わせ一覧（2025年4月分）"], 0),
    ([], 0),
])
def test_header_score_counts_known_header_names(row, score):
    assert header_score(row) == score


def test_the_header_row_outscores_a_title_row_above_it():
    rows = [["お客様相談室 問い合わせ一覧"], [], ["受付番号", "受付日", "問い合わせ内容"], ["K-1", "2025/04/01", "届かない"]]
    assert max(range(len(rows)), key=lambda i: header_score(rows[i])) == 2
