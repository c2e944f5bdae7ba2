"""Build the case-identity and header fixtures in this folder, byte for byte.

    .venv/bin/python tests/data/identity/make_fixtures.py

Each file imitates the column layout of a real export (see tests/data/README.md for which and
where the layout is documented); every row is written here by hand or by a small rule below.
No row comes from a real export: all names, numbers, companies and complaints are invented.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write(name: str, header: list[str], rows: list[list[str]], encoding: str = "utf-8", newline: str = "\r\n") -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    (HERE / name).write_bytes(buffer.getvalue().encode(encoding))


# ---------------------------------------------------------------- CFPB consumer complaint database

CFPB_HEADER = ["Date received", "Product", "Sub-product", "Issue", "Sub-issue", "Consumer complaint narrative",
               "Company public response", "Company", "State", "ZIP code", "Tags", "Consumer consent provided?",
               "Submitted via", "Date sent to company", "Company response to consumer", "Timely response?",
               "Consumer disputed?", "Complaint ID"]
SAME_WORDS = "I was charged a late fee even though I paid on time. I want the fee removed."
CFPB_ROWS = [
    # date, product, sub-product, issue, narrative, company, state, via, response, complaint id
    ("2024-03-04", "Credit card", "General-purpose credit card", "Fees or interest", SAME_WORDS, "Northwind Bank",
     "CA", "Web", "Closed with monetary relief", "8412301"),
    ("2024-03-04", "Checking or savings account", "Checking account", "Managing an account", SAME_WORDS,
     "Contoso Credit Union", "TX", "Web", "Closed with explanation", "8412302"),
    ("2024-03-04", "Mortgage", "Conventional home mortgage", "Trouble during payment process",
     "My escrow payment went up twice this year and nobody can explain why.", "Fabrikam Home Loans", "FL",
     "Web", "Closed with explanation", "8412307"),
    ("2024-03-05", "Debt collection", "Medical debt", "Attempts to collect debt not owed",
     "A collector keeps calling about a hospital bill that my insurance already paid.", "Tailspin Recovery",
     "NY", "Web", "In progress", "8412315"),
    ("2024-03-05", "Credit reporting", "Credit reporting", "Incorrect information on your report", "",
     "Litware Reporting", "OH", "Phone", "Closed with explanation", "8412320"),
    ("2024-03-06", "Credit card", "Store credit card", "Problem with a purchase shown on your statement",
     "A purchase I returned in January is still on my statement and accruing interest.", "Northwind Bank", "WA",
     "Web", "Closed with non-monetary relief", "8412333"),
    ("2024-03-06", "Student loan", "Federal student loan servicing", "Dealing with your lender or servicer",
     "My income-driven repayment application has been pending for five months.", "Adatum Servicing", "IL",
     "Web", "In progress", "8412341"),
    ("2024-03-07", "Money transfer, virtual currency, or money service", "Mobile or digital wallet",
     "Fraud or scam", "Someone took money from my wallet app and the company says it cannot help.",
     "Woodgrove Pay", "GA", "Web", "Closed with explanation", "8412356"),
    ("2024-03-07", "Vehicle loan or lease", "Loan", "Struggling to pay your loan", "", "Proseware Auto Finance",
     "AZ", "Referral", "Closed with explanation", "8412360"),
    ("2024-03-08", "Credit card", "General-purpose credit card", "Fees or interest", SAME_WORDS, "Northwind Bank",
     "CA", "Web", "Closed with monetary relief", "8412371"),
]


def cfpb_row(date, product, sub_product, issue, narrative, company, state, via, response, complaint_id):
    consent = "Consent provided" if narrative else "Consent not provided"
    public = "Company has responded to the consumer and the CFPB and chooses not to provide a public response"
    return [date, product, sub_product, issue, "", narrative, public, company, state, "9XXXX", "", consent, via,
            date, response, "Yes", "N/A", complaint_id]


def cfpb() -> None:
    rows = [cfpb_row(*r) for r in CFPB_ROWS]
    write("cfpb_complaints.csv", CFPB_HEADER, rows, newline="\n")
    # The same data published without the Complaint ID column, with one row repeated exactly
    # (a true copy): identical wording on the same day from other companies stays separate.
    without = [r[:-1] for r in rows] + [rows[2][:-1]]
    write("cfpb_no_id.csv", CFPB_HEADER[:-1], without, newline="\n")


# ---------------------------------------------------------------- ServiceNow incident list export

def servicenow() -> None:
    header = ["number", "opened_at", "short_description", "description", "caller_id", "priority", "state",
              "category", "assignment_group", "sys_updated_on", "closed_at", "close_notes", "contact_type"]
    rows = [
        ["INC0010041", "2024-03-04 09:12:33", "Cannot log in to the order portal",
         "Since this morning the portal says my password expired, but the reset mail never arrives.", "Mina Ortiz",
         "3 - Moderate", "Resolved", "Software", "Service Desk", "2024-03-04 11:40:02", "2024-03-04 11:40:02",
         "Reset mail was blocked by a filter; whitelisted the sender.", "Email"],
        ["INC0010042", "2024-03-04 10:05:10", "Printer on 3F jams",
         "The shared printer on the third floor jams on every second page.", "Kenji Sato", "4 - Low",
         "In Progress", "Hardware", "Field Services", "2024-03-05 08:00:00", "", "", "Phone"],
        ["INC0010045", "2024-03-05 14:22:51", "Invoice PDF shows wrong tax",
         "The invoice PDF generated for order 5512 shows 8% tax instead of 10%.", "Aiko Brown", "2 - High",
         "Resolved", "Billing", "Finance Apps", "2024-03-06 09:30:00", "2024-03-06 09:30:00",
         "Tax table updated; invoice re-issued.", "Self-service"],
        ["INC0010049", "2024-03-06 08:01:07", "VPN drops every hour",
         "VPN disconnects roughly every hour and the client needs a restart.", "Mina Ortiz", "3 - Moderate",
         "New", "Network", "Network", "2024-03-06 08:01:07", "", "", "Phone"],
        ["INC0010050", "2024-03-06 16:45:00", "Mailbox full",
         "Mailbox quota reached, cannot receive customer mails.", "Luis Garcia", "2 - High", "Closed", "Email",
         "Service Desk", "2024-03-07 10:00:00", "2024-03-07 10:00:00", "Quota raised to 100 GB.", "Chat"],
    ]
    write("servicenow_incident.csv", header, rows)


# ---------------------------------------------------------------- Salesforce case report (US locale)

def salesforce() -> None:
    header = ["Case Number", "Date/Time Opened", "Subject", "Description", "Status", "Priority", "Case Origin",
              "Account Name", "Contact Name", "Case Owner", "Date/Time Closed"]
    rows = [
        ["00001026", "3/4/2024 9:12 AM", "Blender lid cracked", "The lid of the blender cracked after two uses.",
         "Closed", "Medium", "Email", "Harbor Kitchens", "Dana White", "Support Queue", "3/5/2024 4:30 PM"],
        ["00001027", "3/4/2024 1:47 PM", "Missing screws", "The shelf kit arrived without the small screws.",
         "Closed", "Low", "Phone", "Harbor Kitchens", "Sam Lee", "Support Queue", "3/4/2024 3:02 PM"],
        ["00001031", "3/5/2024 10:03 AM", "Refund not received",
         "I returned the kettle two weeks ago and have not received my refund.", "Escalated", "High", "Web",
         "Blue Yonder Retail", "Priya Natarajan", "Billing Team", ""],
        ["00001032", "3/6/2024 12:15 AM", "Wrong color delivered", "Ordered navy, received black.", "New",
         "Medium", "Web", "Blue Yonder Retail", "Tom Becker", "Support Queue", ""],
    ]
    write("salesforce_case_report.csv", header, rows)


# ---------------------------------------------------------------- NYC 311 service requests

def nyc311() -> None:
    header = ["Unique Key", "Created Date", "Closed Date", "Agency", "Agency Name", "Complaint Type", "Descriptor",
              "Location Type", "Incident Zip", "Incident Address", "City", "Status", "Resolution Description",
              "Borough", "Open Data Channel Type"]
    agencies = [("NYPD", "New York City Police Department", "Noise - Residential", "Loud Music/Party"),
                ("DSNY", "Department of Sanitation", "Missed Collection", "Trash"),
                ("HPD", "Department of Housing Preservation and Development", "HEAT/HOT WATER",
                 "ENTIRE BUILDING")]
    rows = []
    for n in range(12):
        agency, name, complaint, descriptor = agencies[n % 3]
        day = 4 + n // 4
        rows.append([str(60123400 + 17 * n), f"03/{day:02d}/2024 {1 + n % 12:02d}:{(7 * n) % 60:02d}:00 {'PM' if n % 2 else 'AM'}",
                     "", agency, name, complaint, descriptor, "Residential Building/House", "10001",
                     f"{100 + n} EXAMPLE STREET", "NEW YORK", "Open" if n % 4 else "Closed",
                     "The agency reviewed this request." if n % 4 == 0 else "", "MANHATTAN",
                     ["PHONE", "ONLINE", "MOBILE"][n % 3]])
    write("nyc311_requests.csv", header, rows)


# ---------------------------------------------------------------- Japanese CRM monthly exports

CRM_HEADER = ["No.", "受付日", "受付チャネル", "お客様名", "電話番号", "商品名", "問い合わせ内容", "対応状況"]
PRODUCTS = ["加湿器 KX-200", "電気ケトル Ⅱ", "ｺｰﾋｰﾒｰｶｰ CM-5", "空気清浄機 AP-9"]
COMPLAINTS = [
    "電源を入れても{p}が動きません。購入して{n}日目です。",
    "{p}のフタが閉まりにくく、水がこぼれます～",
    "{p}の説明書に①②の手順が載っていません。",
    "注文した{p}がまだ届きません。㈱ミナト運輸の追跡番号も更新されていません。",
]
CUSTOMERS = ["山田 花子", "髙橋 一郎", "佐藤 美咲", "鈴木 健", "田中 ゆかり", "伊藤 翔"]


def crm_rows(month: int, count: int, seed: int) -> list[list[str]]:
    """One month's export: No. restarts at 1; everything else differs from month to month."""
    rows = []
    for k in range(count):
        i = seed + k
        product = PRODUCTS[i % len(PRODUCTS)]
        text = COMPLAINTS[i % len(COMPLAINTS)].format(p=product, n=2 + i)
        rows.append([str(k + 1), f"2025/{month}/{1 + (3 * k) % 27}", ["電話", "メール", "Web"][i % 3],
                     CUSTOMERS[i % len(CUSTOMERS)], f"090-0000-{1000 + i:04d}", product, text,
                     "完了" if k % 2 else "対応中"])
    return rows


def crm_monthly() -> None:
    write("crm_2025_01.csv", CRM_HEADER, crm_rows(1, 6, 0), encoding="cp932")
    write("crm_2025_02.csv", CRM_HEADER, crm_rows(2, 5, 100), encoding="cp932")
    # A year of monthly exports joined into one file (each month numbered from 1 again); the
    # March export repeats one February case exactly (still open): a true copy under another No.
    year = []
    for month in range(1, 13):
        rows = crm_rows(month, 4, 10 * month)
        if month == 3:
            copy = list(year[4])          # February's first case, as exported again in March
            copy[0] = "5"
            rows.append(copy)
        year += rows
    write("crm_2025_year.csv", CRM_HEADER, year, encoding="cp932")


# ---------------------------------------------------------------- an ID reused after a system change

HELPDESK_HEADER = ["受付番号", "受付日時", "受付チャネル", "問い合わせ内容", "対応状況"]


def helpdesk() -> None:
    first = [
        ["1001", "2024/11/05 10:00", "電話", "洗濯機の排水ホースから水漏れがします。", "完了"],
        ["1002", "2024/11/05 14:30", "メール", "ポイントの付与が反映されていません。", "完了"],
        ["1003", "2024/11/06 09:15", "Web", "冷蔵庫の製氷機が動かなくなりました。", "対応中"],
        ["1004", "2024/11/07 11:20", "電話", "延長保証の加入状況を確認したい。", "完了"],
        ["1005", "2024/11/08 16:45", "メール", "配送日時の変更をお願いしたい。", "完了"],
    ]
    # After the move to a new help desk the numbering started again at 1001: 1001, 1002 and 1004 are
    # other customers' cases (another date, another text); 1003 is the same case, now done; 1005 is
    # unchanged; 1006 is new.
    second = [
        ["1001", "2025/01/10 09:05", "Web", "エアコンのリモコンが反応しません。", "対応中"],
        ["1002", "2025/01/10 13:40", "電話", "請求書の宛名を変更したい。", "完了"],
        ["1003", "2024/11/06 09:15", "Web", "冷蔵庫の製氷機が動かなくなりました。", "完了"],
        ["1004", "2025/01/12 15:00", "メール", "掃除機のバッテリーがすぐ切れる。", "対応中"],
        ["1005", "2024/11/08 16:45", "メール", "配送日時の変更をお願いしたい。", "完了"],
        ["1006", "2025/01/13 10:10", "電話", "電子レンジの扉が閉まらない。", "対応中"],
    ]
    write("helpdesk_2024.csv", HELPDESK_HEADER, first)
    write("helpdesk_2025.csv", HELPDESK_HEADER, second)


def tickets_one_reused() -> None:
    """120 tickets with unique IDs, except T-0050, which an agent typed again on an unrelated case,
    and T-0060, exported twice (the second time with its new status: the same case)."""
    rows = []
    for n in range(1, 121):
        rows.append([f"T-{n:04d}", f"2025/02/{1 + n % 28} {8 + n % 10}:{n % 60:02d}", "Web",
                     f"チケット{n}: {COMPLAINTS[n % 4].format(p=PRODUCTS[n % 4], n=n)}", "対応中"])
    rows.append(["T-0050", "2025/03/03 11:11", "電話", "請求額が二重になっています。至急確認してください。", "対応中"])
    again = list(rows[59])
    again[4] = "完了"
    rows.append(again)
    write("tickets_one_reused.csv", HELPDESK_HEADER, rows)


# ---------------------------------------------------------------- customer columns that are not customers

def office_requests() -> None:
    """A city office's complaint log: 申出者 names the office that took the call, not the caller."""
    header = ["受付番号", "受付日", "申出者", "相談内容"]
    rows = [[f"S-{300 + n}", f"2025/5/{1 + n % 28}", "市民相談課",
             (f"{['道路の陥没', '街灯の故障', 'ごみの不法投棄', '公園の遊具の破損', '騒音'][n % 5]}について（{n}件目の申出）。"
             f"早急な対応を求めます。")] for n in range(30)]
    write("office_requests.csv", header, rows)


def reseller_accounts() -> None:
    """A reseller's export: 顧客ID is the reseller's one account; the buyers differ by e-mail."""
    header = ["受付番号", "受付日", "顧客ID", "メールアドレス", "問い合わせ内容"]
    rows = [[f"R-{500 + n}", f"2025/6/{1 + n % 28}", "AC-0001", f"buyer{n % 12}@example.jp",
             f"購入した{PRODUCTS[n % 4]}について：{['初期不良', '付属品不足', '配送遅延'][n % 3]}（{n}）"] for n in range(24)]
    write("reseller_accounts.csv", header, rows)


# ---------------------------------------------------------------- consumer-affairs open data (no ID)

def consumer_affairs() -> None:
    """An open-data table of consumer consultations (one row per consultation, no ID column).
    Rows 1 and 2 share the day and the wording but concern other products and prefectures; row 6
    is an exact copy of row 3 (published twice)."""
    header = ["受付年月日", "商品・役務等", "相談概要", "相談者年代", "都道府県"]
    same = "解約を申し出たが、事業者と連絡がつかない。"
    rows = [
        ["2024/07/01", "インターネット通信サービス", same, "40歳代", "東京都"],
        ["2024/07/01", "健康食品", same, "70歳以上", "大阪府"],
        ["2024/07/01", "化粧品", "定期購入だと知らずに申し込んだ。２回目の請求が届いた。", "20歳代", "福岡県"],
        ["2024/07/02", "賃貸アパート", "退去時の原状回復費用が高額だ。", "30歳代", "北海道"],
        ["2024/07/02", "健康食品", same, "70歳以上", "大阪府"],
        ["2024/07/01", "化粧品", "定期購入だと知らずに申し込んだ。２回目の請求が届いた。", "20歳代", "福岡県"],
    ]
    write("consumer_affairs.csv", header, rows)


if __name__ == "__main__":
    cfpb()
    servicenow()
    salesforce()
    nyc311()
    crm_monthly()
    helpdesk()
    tickets_one_reused()
    office_requests()
    reseller_accounts()
    consumer_affairs()
