"""Writes the recurrence fixtures (run once; the CSVs are committed as bytes).

cases.csv (UTF-8 with BOM), 2024-10-01 … 2025-08-31, with the desk's own cause column:
- キャップ不良: one case a day; after the countermeasure of 2025-03-03, one every fourth day
  (a countermeasure that works);
- 異物混入: one case a day throughout (a countermeasure that fails: no drop);
- 梱包不良: one a day; one every fourth day after 2025-03-03; from 2025-06-01 five every four days
  (a countermeasure that worked, then the cause returned at 1.25 times the old rate);
- 配送遅延: every other day (background);
- customer KC9000001 writes five times about a billing error, each within 30 days of the previous
  contact (the repeat customer); KC9000002 three times about delivery within 30 days; KC9000003
  three times about delivery, 40+ days apart (not a chain);
- near duplicates: KC9000010 writes and then calls about one leaking cap (reworded); two posts
  without a customer ID with near-identical text on the same product and day; KC9000011 writes
  twice about unrelated things; two different known customers send the same text.
countermeasures.csv (CP932): the three countermeasures above plus targets that exercise matching
(wareki date, half-width kana, full-width digits, a theme, a product, a target that matches nothing).
events.csv (CP932): hand-offs of the repeat customer's cases.
no_customer.csv (UTF-8): an export with no customer column at all (the page must say so).
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = date(2024, 10, 1), date(2025, 8, 31)
MEASURE = date(2025, 3, 3)
RETURN = date(2025, 6, 1)
GREEN_TEA, DRESSING, HONEY = "はるかぜ緑茶 500ml", "無添加ドレッシング 和風たまねぎ", "髙橋農園の国産はちみつⅡ 300g"

TEXTS = {
    "キャップ不良": "{p}のキャップが緩く、開ける前から中身が少しこぼれていました。",
    "異物混入": "{p}に黒い異物が入っていました。どういう管理をしているのでしょうか。",
    "梱包不良": "届いた段ボールが潰れていて、{p}の箱も凹んでいました。",
    "配送遅延": "指定日を過ぎても{p}が届きません。いつ届くのか教えてください。",
}
CASE_HEADER = ["ケース番号", "受付日時", "受付チャネル", "顧客ID", "商品名", "原因", "問い合わせ内容", "対応状況"]


def days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def background_rows() -> list[list[str]]:
    rows = []
    for n, day in enumerate(days(START, END)):
        before = day < MEASURE
        plan = {
            "キャップ不良": 1 if before else int(n % 4 == 0),
            "異物混入": 1,
            "梱包不良": 1 if before else (int(n % 4 == 0) if day < RETURN else 1 + int(n % 4 == 0)),
            "配送遅延": int(n % 2 == 0),
        }
        for cause, count in plan.items():
            for k in range(count):
                product = (GREEN_TEA, DRESSING, HONEY)[(n + k) % 3]
                rows.append([f"{day:%Y/%m/%d} {9 + k + len(rows) % 8}:{(n * 7 + k) % 60:02d}", "電話",
                             "", product, cause, TEXTS[cause].format(p=product), "完了"])
    return rows


def planted_rows() -> list[list[str]]:
    billing = ("定期便の請求金額が違います。確認してください。",
               "前回も連絡しましたが、請求金額がまだ直っていません。",
               "3回目です。また同じ請求の誤りがあります。いい加減にしてください。",
               "何度も言っているのに請求が直りません！消費者センターに相談します。",
               "5回目の連絡です。請求の誤りについて責任者から説明してください。")
    rows = [[f"2025/{d} 10:00", ch, "KC9000001", GREEN_TEA, "請求誤り", text, "対応中"]
            for d, ch, text in zip(("07/01", "07/08", "07/20", "08/02", "08/15"),
                                   ("メール", "電話", "電話", "電話", "手紙"), billing)]
    delivery = "注文した{p}がまだ届きません。配送状況を確認してください。"
    rows += [[f"2025/{d} 14:00", "Webフォーム", "KC9000002", DRESSING, "配送遅延", delivery.format(p=DRESSING), "完了"]
             for d in ("06/02", "06/20", "07/10")]
    rows += [[f"2025/{d} 15:00", "メール", "KC9000003", HONEY, "配送遅延", delivery.format(p=HONEY), "完了"]
             for d in ("04/01", "05/15", "06/30")]
    rows += [
        ["2025/08/10 11:00", "メール", "KC9000010", GREEN_TEA, "",
         "お茶のキャップが緩くて、冷蔵庫の中で漏れてしまいました。交換をお願いします。", "対応中"],
        ["2025/08/12 16:30", "電話", "KC9000010", GREEN_TEA, "",
         "先日連絡したお茶のキャップが緩くて漏れてしまった件で、交換の品がまだ届いていません。", "対応中"],
        ["2025/08/20 09:10", "SNS", None, DRESSING, "",
         "無添加ドレッシングのボトルを開けたら、ふたの内側に黒いカビのようなものが付いていました。"
         "子どもが食べてしまったので心配です。至急回答ください。", "未対応"],
        ["2025/08/20 09:40", "Webフォーム", None, DRESSING, "",
         "ドレッシングのボトルを開けたら、ふたの内側に黒いカビのようなものが付いていました。"
         "子どもが食べてしまったので心配です。至急回答をください。", "未対応"],
        ["2025/08/05 13:00", "メール", "KC9000011", HONEY, "", "はちみつの請求金額が二重になっています。", "完了"],
        ["2025/08/07 13:00", "電話", "KC9000011", HONEY, "", "はちみつの配達が予定より三日遅れています。", "完了"],
        ["2025/08/25 10:00", "チャット", "KC9000020", GREEN_TEA, "",
         "緑茶のラベルの原材料表示が小さくて読めません。もう少し大きくしてほしいです。", "完了"],
        ["2025/08/25 10:30", "チャット", "KC9000021", GREEN_TEA, "",
         "緑茶のラベルの原材料表示が小さくて読めません。もう少し大きくしてほしいです。", "完了"],
    ]
    return rows


def write_cases() -> None:
    rows = background_rows() + planted_rows()
    rows.sort(key=lambda r: datetime.strptime(r[0], "%Y/%m/%d %H:%M"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CASE_HEADER)
    for number, row in enumerate(rows, 1):
        # "" gets a customer of its own; None stays empty (a sender the export does not identify).
        customer = "" if row[2] is None else row[2] or f"KC{number:07d}"
        writer.writerow([f"F-{number:05d}", row[0], row[1], customer, *row[3:]])
    (HERE / "cases.csv").write_bytes(out.getvalue().encode("utf-8-sig"))


def write_countermeasures() -> None:
    rows = [
        ["実施日", "対象", "担当部署", "内容"],
        ["2025/03/03", "キャップ不良", "製造部", "キャップ締めトルクを再設定①"],
        ["2025年3月3日", "異物混入", "品質保証部", "㈱髙島製作所の検査機Ⅱを導入～"],
        ["R7.3.3", " 梱包不良 ", "物流部", "ｶﾞﾑﾃｰﾌﾟと緩衝材を強化"],
        ["2025/04/01", "はるかぜ緑茶　５００ｍｌ", "製造部", "充填ラインを点検"],
        ["2025/05/01", "容器 ・ 包装", "品質保証部", "包材の仕様を見直し"],
        ["2025/05/01", "宇宙人の襲来", "総務部", "一致しない対象"],
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (HERE / "countermeasures.csv").write_bytes(out.getvalue().encode("cp932"))


def write_events() -> None:
    cases = [row for row in csv.reader(io.StringIO((HERE / "cases.csv").read_text(encoding="utf-8-sig")))
             if row[3] == "KC9000001"]
    rows = [["ケース番号", "日時", "移管元", "移管先", "対応区分", "メモ"]]
    for case_id, received, *_ in cases:
        rows.append([case_id, received, "お客様相談室", "経理部", "移管", "請求内容の確認を依頼"])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (HERE / "events.csv").write_bytes(out.getvalue().encode("cp932"))


def write_no_customer() -> None:
    rows = [["受付日時", "商品名", "問い合わせ内容"]]
    for n in range(8):
        rows.append([f"2025/08/{n + 1:02d} 10:00", GREEN_TEA, TEXTS["キャップ不良" if n % 2 else "配送遅延"].format(p=GREEN_TEA)])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (HERE / "no_customer.csv").write_bytes(out.getvalue().encode("utf-8"))


if __name__ == "__main__":
    write_no_customer()
    write_cases()
    write_countermeasures()
    write_events()
