"""Build the malformed-export fixtures in this folder, byte for byte, and expected.json.

    .venv/bin/python tests/data/malformed/make_fixtures.py

One small file per way an export arrives broken (tests/test_malformed.py loads each). Every file is
shaped like an export a consultation desk really hands over — a legacy CRM writing CP932 without
quotes, a help desk's English-header export, a ServiceNow incident list, a Salesforce report (every
field quoted), an Excel register written by a generator — and then broken the way such files break.
All wording is invented for this project; nothing is copied from a real export.

expected.json lists, per file, the accounting the load must reach and the texts of the good rows,
which must be stored whole (after the same normalization every text gets).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------- a legacy CRM (CP932, CRLF, no quotes)

LEGACY_HEADER = ["受付番号", "受付日時", "受付チャネル", "商品名", "問い合わせ内容", "対応状況"]
LEGACY_ROWS = [
    ("U-20250401", "2025/04/01 09:12", "電話", "加湿器Ⅱ", "電源ボタンを押しても反応しません～", "対応中"),
    ("U-20250402", "2025/04/01 10:40", "メール", "電気ケトル", "①注文の到着遅れ ②連絡なし の2点について説明を求めます", "新規"),
    ("U-20250403", "2025/04/02 13:05", "Web", "炊飯器", "髙品質をうたっているのに内釜のコーティングが1か月ではがれました", "完了"),
    ("U-20250404", "2025/04/02 15:30", "電話", "ｽﾏｰﾄｽﾋﾟｰｶｰ", "ｱﾌﾟﾘの初期設定が途中で止まります", "対応中"),
    ("U-20250405", "2025/04/03 11:00", "メール", "㈱ミナト電機製ヒーター", "延長保証に入っているはずなのに修理代を請求されました", "新規"),
    ("U-20250406", "2025/04/04 09:45", "電話", "空気清浄機", "フィルターの交換時期の表示が消えません", "完了"),
    ("U-20250407", "2025/04/04 16:20", "Web", "電気ケトル", "注ぎ口から水が漏れてテーブルが濡れました", "新規"),
    ("U-20250408", "2025/04/05 10:10", "メール", "炊飯器", "保温にすると異音がします", "対応中"),
]


def legacy(rows) -> bytes:
    """The legacy CRM writes every cell as is, comma between, CRLF after: no quoting at all."""
    lines = [",".join(LEGACY_HEADER)] + [",".join(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def legacy_extra_comma() -> tuple[bytes, dict]:
    """A customer typed commas into the text; unquoted, they make 8 fields of a 6-field record."""
    rows = list(LEGACY_ROWS)
    rows[3] = ("U-20250404", "2025/04/02 15:30", "Web", "宅配便", "届かない,本当に困っています,返金してください", "新規")
    good = [r for i, r in enumerate(rows) if i != 3]
    return legacy(rows), {"rows_read": 8, "inserted": 7, "rejected": 1, "recovered": 0,
                          "texts": [r[4] for r in good], "rejected_lines": [5]}


def legacy_missing_fields() -> tuple[bytes, dict]:
    """A record that stops after three of its six fields (the program that wrote it crashed mid-row)."""
    rows = list(LEGACY_ROWS)
    rows[5] = ("U-20250406", "2025/04/04 09:45", "電話")
    good = [r for i, r in enumerate(rows) if i != 5]
    return legacy(rows), {"rows_read": 8, "inserted": 7, "rejected": 1, "recovered": 0,
                          "texts": [r[4] for r in good], "rejected_lines": [7]}


def legacy_stray_quote() -> tuple[bytes, dict]:
    """A text that begins with a quotation mark the unquoting CRM wrote as is: `"至急"と…`. DuckDB's
    strict reader rejects it (a quote followed by more text); read as plain text it is whole."""
    rows = list(LEGACY_ROWS)
    rows[2] = ("U-20250403", "2025/04/02 13:05", "Web", "炊飯器", '"至急"と書いたのに3日たっても返信がありません', "新規")
    return legacy(rows), {"rows_read": 8, "inserted": 8, "rejected": 0, "recovered": 1,
                          "texts": [r[4] for r in rows], "rejected_lines": []}


def legacy_mixed_line_endings() -> tuple[bytes, dict]:
    """Two monthly exports joined into one file: April's from the Windows client (CRLF), May's from
    the nightly batch on a Linux server (LF); and in April one text with a line break the CRM did
    not quote (a bare LF inside a CRLF record)."""
    april = legacy(LEGACY_ROWS[:5]).replace("ｱﾌﾟﾘの初期設定が".encode("cp932"), "ｱﾌﾟﾘの初期設定が\n".encode("cp932"))
    may_rows = [(f"U-2025050{i}", f"2025/05/0{i} 10:00", channel, product, text, status)
                for i, (_, _, channel, product, text, status) in enumerate(LEGACY_ROWS[5:], start=1)]
    may = "".join(",".join(row) + "\n" for row in may_rows).encode("cp932")
    texts = [r[4] for r in LEGACY_ROWS[:5]] + [r[4] for r in may_rows]
    texts[3] = texts[3].replace("ｱﾌﾟﾘの初期設定が", "ｱﾌﾟﾘの初期設定が\n")
    return april + may, {"rows_read": 8, "inserted": 8, "rejected": 0, "recovered": 1, "texts": texts,
                         "rejected_lines": []}


# ---------------------------------------------------------------- a help desk (English headers, UTF-8, LF)

HELPDESK_HEADER = ["Id", "Subject", "Description", "Status", "Priority", "Via", "Created at", "Group"]
HELPDESK_ROWS = [
    ("30101", "定期便の配送日変更", "次回の定期便を1週間後にずらしたいのですが、マイページに変更ボタンがありません。",
     "open", "normal", "Web form", "2025-04-07T09:02:00+09:00", "配送窓口"),
    ("30102", "二重引き落とし", "1回しか購入していないのに、4,980円が2回引き落とされています。\n明細を添付します。",
     "pending", "high", "Email", "2025-04-07T10:15:00+09:00", "請求窓口"),
    ("30103", "アプリにログインできない", "パスワードを再設定してもログインできません。",
     "open", "normal", "Mobile", "2025-04-07T11:40:00+09:00", "アプリ窓口"),
    ("30104", "返品の送料", "不良品なのに返品の送料がこちら負担と言われました。",
     "open", "high", "Email", "2025-04-08T08:55:00+09:00", "返品窓口"),
    ("30105", "ポイントの失効", "ポイントの有効期限が予告なく短くなりました～",
     "solved", "low", "Web form", "2025-04-08T13:20:00+09:00", "会員窓口"),
    ("30106", "梱包について", '箱に「天地無用」と書いてあるのに、"逆さま"で届きました。',
     "open", "normal", "Email", "2025-04-09T09:30:00+09:00", "配送窓口"),
    ("30107", "交換品の到着", "交換品はいつ届きますか。\n連絡をお待ちしています。",
     "pending", "normal", "Email", "2025-04-09T17:05:00+09:00", "返品窓口"),
]


def helpdesk_csv(rows) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HELPDESK_HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def helpdesk_unclosed_quote() -> tuple[bytes, dict]:
    """Ticket 30104's description was pasted with a leading quotation mark and the exporter wrote it
    unescaped: a quoted field that never closes, swallowing the tickets after it."""
    text = helpdesk_csv(HELPDESK_ROWS)
    broken = "30104,返品の送料,不良品なのに返品の送料がこちら負担と言われました。,"
    assert broken in text
    text = text.replace(broken, '30104,返品の送料,"不良品なのに返品の送料がこちら負担と言われました。,')
    good = [r for r in HELPDESK_ROWS if r[0] != "30104"]
    return text.encode("utf-8"), {"rows_read": 7, "inserted": 6, "rejected": 1, "recovered": 1,
                                  "texts": [r[2] for r in good], "rejected_lines": [5]}


# ---------------------------------------------------------------- ServiceNow incident list (English)

SERVICENOW_HEADER = ["number", "opened_at", "short_description", "description", "priority", "state",
                     "assignment_group", "contact_type"]
SERVICENOW_ROWS = [
    ("INC0020011", "2025-04-01 09:12:33", "Order portal login fails", "Password reset mail never arrives.",
     "3 - Moderate", "Resolved", "Service Desk", "Email"),
    ("INC0020012", "2025-04-01 10:05:10", "Invoice total is wrong", "The April invoice charges the old plan.",
     "2 - High", "In Progress", "Billing", "Phone"),
    ("INC0020013", "2025-04-02 14:30:00", "Delivery damaged", "The box arrived crushed on one side.",
     "3 - Moderate", "New", "Logistics", "Web"),
    ("INC0020014", "2025-04-02 16:45:21", "Wrong monitor size", 'Ordered a 24 inch model but the label says 27"',
     "4 - Low", "New", "Logistics", "Email"),
    ("INC0020015", "2025-04-03 08:20:00", "App crashes on start", "Crashes right after the splash screen.",
     "2 - High", "New", "Mobile", "Web"),
    ("INC0020016", "2025-04-03 11:11:11", "Refund not received", "Refund promised on 3/28 has not arrived.",
     "3 - Moderate", "In Progress", "Billing", "Phone"),
]


def servicenow_quote_closed_late() -> tuple[bytes, dict]:
    """INC0020013's description opens a quote it never closes; DuckDB's reader closes it at the inch
    mark of INC0020014 (`27"` right before a comma) and, the field count matching, keeps one record
    with the two mixed — no error at all. The check for a line that starts like a record inside a
    cell catches it."""
    # This list's exporter writes cells as they are (no cell needs quoting but the inch mark's).
    text = "".join(",".join(row) + "\n" for row in [SERVICENOW_HEADER, *SERVICENOW_ROWS])
    text = text.replace("Delivery damaged,The box", 'Delivery damaged,"The box')
    good = [r for r in SERVICENOW_ROWS if r[0] != "INC0020013"]
    return text.encode("utf-8"), {"rows_read": 6, "inserted": 5, "rejected": 1, "recovered": 1,
                                  "texts": [r[3] for r in good], "rejected_lines": [4]}


# ---------------------------------------------------------------- Salesforce report (CP932, all quoted)

SALESFORCE_HEADER = ["ケース番号", "件名", "説明", "状況", "優先度", "発生源", "作成日"]
SALESFORCE_ROWS = [
    ("00004101", "異物混入", "購入したお茶のペットボトルに黒い粒が浮いていました。\n開封前から見えていました。",
     "対応中", "高", "電話", "2025/04/10 9:05"),
    ("00004102", "配送遅延", "注文から10日たっても届きません。", "新規", "中", "Web", "2025/04/10 11:30"),
    ("00004103", "請求の誤り", "解約した月の利用料が請求されています～", "完了", "中", "メール", "2025/04/11 14:00"),
    ("00004104", "部品の欠品", "組み立て家具のネジが2本足りません。", "新規", "低", "Web", "2025/04/12 10:20"),
    ("00004105", "初期不良", "電源を入れても画面がつきません。\n別のコンセントでも同じです。\n交換を希望します。",
     "新規", "高", "電話", "2025/04/12 16:45"),
]


def salesforce_truncated() -> tuple[bytes, dict]:
    """The download stopped in the middle of the last record's multi-line description: its quote
    never closes, and the file ends without a line break."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows([SALESFORCE_HEADER, *SALESFORCE_ROWS])
    text = buffer.getvalue()
    cut = text.index("別のコンセントでも")
    good = SALESFORCE_ROWS[:-1]
    return text[:cut].replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode("cp932"), {
        "rows_read": 5, "inserted": 4, "rejected": 1, "recovered": 0,
        "texts": [r[2].replace("\n", "\r\n") for r in good],   # line breaks in cells are CRLF too
        "rejected_lines": [6]}


# ---------------------------------------------------------------- NUL bytes (UTF-8 with BOM)

def nul_bytes() -> tuple[bytes, dict]:
    """A fixed-width mainframe extract converted to CSV: two texts keep the NUL padding of their field."""
    rows = [list(r) for r in LEGACY_ROWS[:6]]
    rows[1][4] += "\x00\x00\x00"
    rows[4][4] = rows[4][4][:8] + "\x00" + rows[4][4][8:]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([LEGACY_HEADER, *rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8"), {
        "rows_read": 6, "inserted": 6, "rejected": 0, "recovered": 2,
        "texts": [r[4].replace("\x00", "") for r in rows], "rejected_lines": []}


# ---------------------------------------------------------------- an .xlsx whose declared size is stale

def stale_dimension_xlsx() -> tuple[bytes, dict]:
    """A register written by a report generator that fills the sheet row by row but leaves the
    <dimension> it wrote first (A1:F3): a reader that trusts it sees 2 of the 10 cases."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "受付台帳"
    sheet.append(LEGACY_HEADER)
    rows = LEGACY_ROWS + [("U-20250409", "2025/04/06 09:00", "電話", "電気ケトル", "ふたが閉まりにくくなりました", "新規"),
                          ("U-20250410", "2025/04/06 15:30", "Web", "加湿器Ⅱ", "タンクの目盛りが読みにくいです", "完了")]
    for number, received, channel, product, text, status in rows:
        sheet.append([number, dt.datetime.strptime(received, "%Y/%m/%d %H:%M"), channel, product, text, status])
    book.properties.created = dt.datetime(2025, 4, 11, 9, 0, 0)
    raw = io.BytesIO()
    book.save(raw)
    source = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content, count = re.subn(rb'<dimension ref="A1:F11"\s*/>', b'<dimension ref="A1:F3"/>', content)
                assert count == 1
            if info.filename == "docProps/core.xml":   # openpyxl stamps the time of saving
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-04-11T09:00:00Z", content)
            pinned = zipfile.ZipInfo(info.filename, date_time=(2025, 4, 11, 9, 0, 0))
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = info.external_attr
            target.writestr(pinned, content)
    return out.getvalue(), {"rows_read": 10, "inserted": 10, "rejected": 0, "recovered": 0,
                            "texts": [r[4] for r in rows], "rejected_lines": []}


FIXTURES = {
    "legacy_crm_extra_comma_cp932.csv": legacy_extra_comma,
    "legacy_crm_missing_fields_cp932.csv": legacy_missing_fields,
    "legacy_crm_stray_quote_cp932.csv": legacy_stray_quote,
    "legacy_crm_mixed_line_endings_cp932.csv": legacy_mixed_line_endings,
    "helpdesk_unclosed_quote.csv": helpdesk_unclosed_quote,
    "servicenow_quote_closed_late.csv": servicenow_quote_closed_late,
    "salesforce_truncated_cp932.csv": salesforce_truncated,
    "mainframe_nul_bytes.csv": nul_bytes,
    "generator_stale_dimension.xlsx": stale_dimension_xlsx,
}


def main() -> None:
    expected = {}
    for name, make in FIXTURES.items():
        data, expect = make()
        (HERE / name).write_bytes(data)
        expected[name] = expect
    (HERE / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(FIXTURES)} fixtures and expected.json to {HERE}")


if __name__ == "__main__":
    main()
