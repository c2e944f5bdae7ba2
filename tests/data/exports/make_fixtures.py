"""Build the case-export fixtures in this folder, byte for byte, and their expected.json.

    .venv/bin/python tests/data/exports/make_fixtures.py

The committed bytes are what the tests read; this script documents how each file was made and
re-creates the same bytes on every run (the xlsx included: its zip timestamps are pinned).

Each file imitates one real way a consultation desk hands us its cases. Every data row carries
the outcome the loader must reach for it (insert, duplicate, update, unchanged, reject:<reason>)
and the Asia/Tokyo calendar date it must read from the received-date column; expected.json is
counted from those tags, so the numbers cannot drift from the rows.

All names, addresses, phone numbers, e-mail addresses and companies are invented
(every e-mail address is on an example.* domain).
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
TOKYO = ZoneInfo("Asia/Tokyo")
# The characters that break naive decoders; every good file carries the ones its encoding allows.
# 〜 (U+301C) and − (U+2212) are kept out of CP932 files: the codec maps them to ～/－ on encode,
# so they would not survive a round trip.
HARD_CHARS_CP932 = ["①", "㈱", "髙", "Ⅱ", "～"]
HARD_CHARS_UNICODE = HARD_CHARS_CP932 + ["〜"]
HALF_WIDTH_KANA = re.compile(r"[\uff66-\uff9f]")
FULL_WIDTH_DIGIT = re.compile(r"[０-９]")


@dataclass(frozen=True)
class Row:
    """One data row and what the loader must do with it."""

    cells: tuple
    received_on: str | None  # Asia/Tokyo date in the received-date column; None if unreadable
    outcome: str = "insert"  # insert | duplicate | update | unchanged | reject:<reason>


@dataclass
class Fixture:
    name: str
    data: bytes
    encoding: str | None  # how to decode it: utf-8, utf-8-sig, cp932, utf-16, xlsx
    delimiter: str | None
    rows: list[Row] | None  # None when the file is not a table at all
    header: list[str] | None = None
    kind: str = "cases"
    refusal: str | None = None
    loads_after: str | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- writing helpers


def delimited(header, rows, *, delimiter=",", newline="\r\n", quote_all=False) -> str:
    """Header and rows as delimited text, quoted like the exporting program quotes."""
    buffer = io.StringIO(newline="")
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    writer.writerows(row.cells for row in rows)
    return buffer.getvalue()


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le")  # Excel writes little-endian with a BOM
    return text.encode(encoding)  # strict: an unencodable character is a bug in this script


def jst_date(iso_timestamp: str) -> str:
    return datetime.fromisoformat(iso_timestamp).astimezone(TOKYO).date().isoformat()


def sf_time(moment: datetime) -> str:
    """Salesforce's Japanese locale: 2025/04/01 9:05 (hour not zero-padded)."""
    return f"{moment:%Y/%m/%d} {moment.hour}:{moment:%M}"


def excel_serial(moment: datetime) -> float:
    """Days since 1899-12-30, as Excel stores dates; rounded so openpyxl writes it back exactly."""
    return round((moment - datetime(1899, 12, 30)).total_seconds() / 86400, 10)


# ---------------------------------------------------------------- good files


SF_HEADER = ["ケース番号", "件名", "説明", "状況", "優先度", "発生源", "作成日", "完了日",
             "取引先名", "所有者: 氏名", "製品", "原因"]

# case number -> fields; 作成日 and 完了日 are datetimes (None = not closed).
SF_CASES = {
    "00001001": ("ペットボトルに黒い異物",
                 "4月1日にスーパーで購入した緑茶（500ml×24本入り）の1本に、黒い粒のような異物が浮いていました。\n"
                 "開封前から見えていたので、製造時に入ったのではないかと思います。\n"
                 "残りの23本も飲んでよいのか不安です。返金と原因の説明をお願いします。",
                 "完了", "高", "電話", datetime(2025, 4, 1, 9, 5), datetime(2025, 4, 8, 17, 30),
                 "", "髙橋 健", "緑茶 500ml", "製造工程（原料の焦げ）"),
    "00001002": ("化粧水で頬が赤くなった",
                 "スキンケアローションⅡを使い始めて３日目から、両頬が赤くなってかゆみが出ました。\n"
                 "皮膚科では「接触皮膚炎」と言われました。全成分の一覧を送ってください、と強い口調。",
                 "対応中", "高", "メール", datetime(2025, 4, 1, 10, 42), None,
                 "", "佐藤 花子", "スキンケアローションⅡ", ""),
    "00001003": ("請求が二重になっている",
                 "3月分の請求で①基本料金、②オプション料金のうち、②の「ｾｷｭﾘﾃｨﾊﾟｯｸ」が2回計上され、"
                 "1,100円多く引き落とされています。明細の画面ショットもあります。",
                 "完了", "中", "Web", datetime(2025, 4, 2, 14, 10), datetime(2025, 4, 3, 11, 0),
                 "", "鈴木 一郎", "光回線プランⅡ", "請求システムの設定誤り"),
    "00001004": ("注文から10日経っても届かない",
                 "3月24日に注文した電気ケトルが、１０日経っても届きません。\r\n"
                 "追跡番号で調べると「発送準備中」のままです。\r\n"
                 "キャンセルするか、いつ届くのか教えてください。",
                 "新規", "中", "Web", datetime(2025, 4, 3, 8, 58), None,
                 "", "お客様相談室キュー", "電気ケトル KT-210", ""),
    "00001005": ("賞味期限の印字が読めない",
                 "缶詰の底の賞味期限がかすれて読めません。「2025.10～2025.12」のどれかに見えます。"
                 "いつまで食べられるか、製造所固有記号から調べてもらえますか。",
                 "対応中", "低", "電話", datetime(2025, 4, 3, 16, 20), None,
                 "", "髙橋 健", "さば水煮缶 190g", ""),
    "00001006": ("詰め替え後にポンプが押せない",
                 "ﾎﾞﾃﾞｨｿｰﾌﾟの詰め替え用を本体に入れたところ、ポンプが固くなって押せなくなりました。\n"
                 "本体ごと交換してほしいです。",
                 "完了", "低", "メール", datetime(2025, 4, 4, 9, 0), datetime(2025, 4, 5, 10, 15),
                 "", "佐藤 花子", "ボディソープ 詰め替え 400ml", "ポンプ部品の不良"),
    "00001007": ("Webで解約できない",
                 "マイページから解約しようとすると「エラー（E-203）」と出て先に進めません。"
                 "電話も30分待ってつながりませんでした。\n"
                 "\"至急\"と件名に書いたメールにも返信がありません。このまま翌月分を請求されたら困ります。",
                 "エスカレーション", "高", "Web", datetime(2025, 4, 4, 22, 47), None,
                 "", "鈴木 一郎", "光回線プランⅡ", ""),
    "00001008": ("納品数が発注より少ない",
                 "㈱はなみずき食品様より：4月3日納品分のケース数が、発注20ケースに対して18ケースしかなかった。\n"
                 "週末の売り出しに間に合わせたいので、本日中に不足分を届けてほしい、とのこと。",
                 "完了", "高", "電話", datetime(2025, 4, 5, 11, 30), datetime(2025, 4, 5, 15, 45),
                 "㈱はなみずき食品", "山口 亮", "緑茶 500ml", "出荷時の数量確認漏れ"),
    "00001009": ("アレルギー表示の確認",
                 "クッキー詰め合わせを食べた子ども（5歳）の口の周りが赤くなりました。"
                 "表示は「小麦・卵・乳」ですが、くるみが入っていないか確認したいです。"
                 "同じ工場でナッツ類を扱っていますか？",
                 "対応中", "高", "電話", datetime(2025, 4, 6, 13, 5), None,
                 "", "髙橋 健", "クッキー詰め合わせ 18枚", ""),
    "00001010": ("キャンペーンのポイントが付かない",
                 "キャンペーン期間（4/1～4/7）に3,000円以上購入したのに、５００ポイントが付与されていません。"
                 "ｸｰﾎﾟﾝ併用が原因ですか？",
                 "完了", "低", "Web", datetime(2025, 4, 7, 19, 12), datetime(2025, 4, 9, 10, 0),
                 "", "佐藤 花子", "オンラインストア", "付与バッチの遅延"),
    "00001011": ("自宅で圏外になる",
                 "自宅マンションの３階で、４月に入ってから急に圏外になることが増えました。\n"
                 "機種はｽﾏｰﾄﾌｫﾝ Ⅱ、再起動しても改善しません。\n"
                 "在宅勤務のWeb会議が何度も切れて困っています。",
                 "対応中", "中", "電話", datetime(2025, 4, 8, 10, 1), None,
                 "", "鈴木 一郎", "モバイル回線", ""),
    "00001012": ("返品の送料は誰が負担？",
                 "サイズ違いで返品したいのですが、送料はこちらの負担になりますか？"
                 "髙い送料を払うくらいなら交換にしたいです。",
                 "新規", "低", "メール", datetime(2025, 4, 9, 9, 35), None,
                 "", "お客様相談室キュー", "ストレッチパンツ M", ""),
}


def sf_row(case_no: str, fields: tuple, outcome: str = "insert") -> Row:
    subject, body, status, priority, origin, created, closed, account, owner, product, cause = fields
    cells = (case_no, subject, body, status, priority, origin, sf_time(created),
             sf_time(closed) if closed else "", account, owner, product, cause)
    return Row(cells, created.date().isoformat(), outcome)


def salesforce_ja_cp932() -> Fixture:
    """Salesforce report export, Japanese locale: CP932, CRLF, every field quoted.

    説明 holds newlines inside quotes (LF, and CRLF in case 00001004), commas and a doubled quote;
    case numbers keep their leading zeros only if read as text.
    """
    rows = [sf_row(case_no, fields) for case_no, fields in SF_CASES.items()]
    text = delimited(SF_HEADER, rows, quote_all=True)
    return Fixture("salesforce_ja_cp932.csv", encode(text, "cp932"), "cp932", ",", rows, SF_HEADER)


def update_newer_export() -> Fixture:
    """A week-later export of the same Salesforce report, same shape, rows in a different order.

    Five open cases are now 完了 with a 完了日 and a 原因 (updated), two are byte-for-byte the same
    (unchanged), and one case is new (inserted).
    """
    closed = {
        "00001002": (datetime(2025, 4, 10, 16, 0), "体質によるもの（製品の異常なし）"),
        "00001004": (datetime(2025, 4, 10, 9, 30), "倉庫システムの出荷指示漏れ"),
        "00001005": (datetime(2025, 4, 9, 15, 0), "印字機のインク不足"),
        "00001007": (datetime(2025, 4, 11, 12, 0), "解約画面の不具合（E-203）"),
        "00001009": (datetime(2025, 4, 10, 11, 20), "アレルゲン混入なし（製造ライン確認済み）"),
    }

    def now_closed(case_no: str) -> Row:
        old = SF_CASES[case_no]
        closed_at, cause = closed[case_no]
        return sf_row(case_no, old[:2] + ("完了",) + old[3:6] + (closed_at,) + old[7:10] + (cause,),
                      "update")

    new_case = ("定期便の配達日を変更できない",
                "定期便の次回お届け日を４月２０日から２５日に変更したいのに、①マイページ②アプリのどちらでも"
                "変更ボタンが押せません。㈱はなみずき食品の緑茶の定期便です。",
                "新規", "中", "Web", datetime(2025, 4, 10, 8, 15), None,
                "", "お客様相談室キュー", "定期便サービス", "")
    rows = [
        now_closed("00001007"),
        now_closed("00001002"),
        sf_row("00001010", SF_CASES["00001010"], "unchanged"),
        now_closed("00001004"),
        sf_row("00001013", new_case, "insert"),
        now_closed("00001005"),
        sf_row("00001011", SF_CASES["00001011"], "unchanged"),
        now_closed("00001009"),
    ]
    text = delimited(SF_HEADER, rows, quote_all=True)
    return Fixture("update_newer_export.csv", encode(text, "cp932"), "cp932", ",", rows, SF_HEADER,
                   loads_after="salesforce_ja_cp932.csv")


def events_ja() -> Fixture:
    """Hand-off events between departments for cases of salesforce_ja_cp932.csv (CP932, quoted)."""
    header = ["ケース番号", "日時", "移管元", "移管先", "対応区分", "メモ"]
    events = [
        ("00001001", datetime(2025, 4, 1, 9, 20), "お客様相談室", "品質保証部", "移管", "現品回収を手配。残り23本も回収。"),
        ("00001001", datetime(2025, 4, 2, 10, 0), "品質保証部", "製造部", "調査依頼", "LOT 2503-221 の製造記録と異物検査を依頼"),
        ("00001001", datetime(2025, 4, 7, 16, 0), "製造部", "品質保証部", "回答", "異物は原料由来の焦げと判明。①ろ過工程②目視検査を強化"),
        ("00001001", datetime(2025, 4, 8, 9, 0), "品質保証部", "お客様相談室", "回答", "報告書をお客様へ送付（４月８日発送）"),
        ("00001002", datetime(2025, 4, 1, 11, 0), "お客様相談室", "品質保証部", "移管", "全成分表と使用状況を共有"),
        ("00001002", datetime(2025, 4, 3, 14, 30), "品質保証部", "お客様相談室", "差し戻し", "使用量・使用期間の聞き取りが不足。再確認を依頼"),
        ("00001004", datetime(2025, 4, 3, 9, 10), "お客様相談室", "物流部", "調査依頼", "倉庫で出荷指示の状況を確認"),
        ("00001007", datetime(2025, 4, 5, 9, 0), "お客様相談室", "システム部", "移管", "E-203 の再現手順を添付。ｽﾏﾎ版のみ発生"),
        ("00001007", datetime(2025, 4, 6, 13, 0), "システム部", "お客様相談室", "回答", "4/6 12:00 修正リリース済み。～4/6の解約希望者は手動で受付"),
        ("00001008", datetime(2025, 4, 5, 11, 40), "お客様相談室", "営業部", "移管", "㈱はなみずき食品の担当営業へ連絡"),
        ("00001008", datetime(2025, 4, 5, 12, 10), "営業部", "物流部", "調査依頼", "不足2ケースの追加便を手配（Ⅱ便）"),
        ("00001009", datetime(2025, 4, 6, 13, 30), "お客様相談室", "品質保証部", "移管", "髙橋より：アレルゲン（くるみ）混入の可能性を確認"),
    ]
    rows = [Row((case_no, sf_time(at), *rest), at.date().isoformat()) for case_no, at, *rest in events]
    text = delimited(header, rows, quote_all=True)
    return Fixture("events_ja.csv", encode(text, "cp932"), "cp932", ",", rows, header,
                   kind="events", loads_after="salesforce_ja_cp932.csv")


def zendesk_en_utf8() -> Fixture:
    """Zendesk ticket export: English headers, UTF-8 without BOM, LF, ISO 8601 timestamps.

    Offsets are +09:00 or Z; ticket 20456 was created 2025-04-03T16:20Z, which is already
    2025-04-04 in Tokyo, so a loader that keeps UTC dates files it on the wrong day.
    """
    header = ["Id", "Subject", "Description", "Status", "Priority", "Via", "Created at",
              "Updated at", "Solved at", "Requester", "Requester email", "Group", "Assignee", "Tags"]
    tickets = [
        ("20451", "注文した加湿器が届かない",
         "4月1日に注文した加湿器がまだ届きません。\n配送状況は「配達中」のまま３日経っています～",
         "open", "normal", "Web form", "2025-04-01T09:05:00+09:00", "2025-04-02T10:00:00+09:00", "",
         "山口 結衣", "yui.yamaguchi@example.com", "配送窓口", "Kenji Mori", "配送遅延 加湿器"),
        ("20452", "同じ金額が2回引き落とされた",
         "クレジットカードで1回しか購入していないのに、4,980円が2回引き落とされています！！至急確認してください。",
         "solved", "high", "Email", "2025-04-01T02:30:00Z", "2025-04-02T06:00:00Z", "2025-04-02T06:00:00Z",
         "石井 陸", "riku.ishii@example.com", "請求窓口", "Aya Sato", "二重請求 返金"),
        ("20453", "クーポンが使えない",
         "「ＳＰＲＩＮＧ２０２５」のクーポンコードを入れると『対象外』と表示されます。対象商品はﾜｲﾔﾚｽｲﾔﾎﾝⅡです。",
         "pending", "normal", "Chat", "2025-04-02T12:40:00+09:00", "2025-04-02T13:10:00+09:00", "",
         "大野 蓮", "ren.ono@example.com", "EC窓口", "Kenji Mori", "クーポン"),
        ("20454", "ログインできません",
         "パスワード再設定のメールが届かず、２日間ログインできません😢 迷惑メールフォルダも確認済みです。",
         "open", "urgent", "Web form", "2025-04-02T23:55:00+09:00", "2025-04-03T09:00:00+09:00", "",
         "西田 葵", "aoi.nishida@example.com", "EC窓口", "Aya Sato", "ログイン パスワード"),
        ("20455", "口紅の色が写真と違う",
         "リップ（No.③ ローズ）の色が、商品ページの写真よりかなり暗いです〜。開封済みでも返品できますか？",
         "solved", "low", "Email", "2025-04-03T10:15:00+09:00", "2025-04-04T09:00:00+09:00",
         "2025-04-04T09:00:00+09:00", "村上 芽依", "mei.murakami@example.com", "化粧品窓口", "Yuki Abe",
         "返品 色違い"),
        ("20456", "決済が完了したかわからない",
         "夜中にアプリが落ちて、決済が完了したかどうかわかりません。\n注文履歴にも出てきません。",
         "new", "high", "Mobile", "2025-04-03T16:20:00Z", "2025-04-03T16:20:00Z", "",
         "岡田 湊", "minato.okada@example.com", "EC窓口", "", "決済 アプリ"),
        ("20457", "投稿したレビューが消えた",
         "先週投稿したレビュー（★1）が削除されています。①削除の理由②再投稿できるか、を説明してください。",
         "open", "normal", "Web form", "2025-04-04T18:30:00+09:00", "2025-04-05T10:00:00+09:00", "",
         "藤井 颯", "hayate.fujii@example.com", "EC窓口", "Yuki Abe", "レビュー"),
        ("20458", "グラスが割れて届いた",
         "箱が潰れていて、中のグラス（２個セット）のうち１個が割れていました。写真を送ります。",
         "solved", "normal", "Phone call (incoming)", "2025-04-05T11:00:00+09:00",
         "2025-04-05T15:30:00+09:00", "2025-04-05T15:30:00+09:00",
         "今井 紬", "tsumugi.imai@example.com", "配送窓口", "Kenji Mori", "破損 配送"),
        ("20459", "定期便を解約したい",
         "定期便（毎月15日〜）を解約したいのですが、マイページに解約ボタンが見当たりません。",
         "closed", "low", "Email", "2025-04-06T00:10:00Z", "2025-04-07T01:00:00Z", "2025-04-07T01:00:00Z",
         "原田 樹", "itsuki.harada@example.com", "EC窓口", "Aya Sato", "定期便 解約"),
        ("20460", "充電ケーブルが入っていない",
         "モバイルバッテリーⅡ型を購入しましたが、充電ケーブルが同梱されていませんでした。"
         "㈱ミナト電機の説明書にはケーブル付属と書いてあります。",
         "open", "normal", "Web form", "2025-04-07T14:45:00+09:00", "2025-04-07T14:45:00+09:00", "",
         "髙田 陽菜", "hina.takada@example.com", "家電窓口", "", "付属品 同梱漏れ"),
    ]
    rows = [Row(ticket, jst_date(ticket[6])) for ticket in tickets]
    text = delimited(header, rows, newline="\n")
    return Fixture("zendesk_en_utf8.csv", encode(text, "utf-8"), "utf-8", ",", rows, header)


def kintone_bom_wareki() -> Fixture:
    """kintone app export: UTF-8 with BOM, CRLF, all quoted, dates typed by hand in many forms.

    和暦 (令和7年, R7., R07., 平成31年4月30日 = the last Heisei day, 令和元年5月1日 = the first
    Reiwa day, H30.), full-width digits, a weekday in brackets, and one plain ISO-ish date.
    """
    header = ["レコード番号", "受付日", "受付方法", "会員番号", "商品名", "問い合わせ内容", "対応状況",
              "担当部署", "対応内容", "完了日", "更新日時"]
    records = [
        ("令和7年4月1日", "2025-04-01", "電話", "0012345", "国産はちみつ 300g",
         "はちみつが白く固まっています。傷んでいるのでしょうか。", "完了", "お客様相談室",
         "結晶化であり品質に問題ない旨を説明。湯せんの方法をご案内。", "令和7年4月1日", "2025-04-01 15:20"),
        ("R7.4.2", "2025-04-02", "メール", "0023456", "化粧用コットン 80枚",
         "コットンの中に糸くずのような異物が入っていました。", "対応中", "品質保証部", "現品回収中", "",
         "2025-04-03 10:05"),
        ("平成31年4月30日", "2019-04-30", "電話", "0000789", "防災用保存水 2L",
         "保存水の賞味期限を確認したい（Ⅱ期製造分）。", "完了", "お客様相談室", "ロット表示の見方をご案内",
         "平成31年4月30日", "2019-04-30 17:45"),
        ("令和元年5月1日", "2019-05-01", "FAX", "0000790", "記念ラベル 緑茶",
         "改元記念ラベルの商品がどこで買えるか知りたい。", "完了", "営業部", "取扱店一覧をFAXで送付",
         "令和元年5月7日", "2019-05-07 09:30"),
        ("２０２５年４月３日", "2025-04-03", "店頭", "0034567", "ﾊﾝﾄﾞｸﾘｰﾑ 50g",
         "店頭のテスターが不衛生だとのご指摘。", "対応中", "店舗運営部", "店舗へ確認依頼", "",
         "2025-04-04 11:00"),
        ("令和７年４月４日", "2025-04-04", "Web", "0045678", "玄米 5kg",
         "精米日の表示が購入日より1か月以上前でした。①精米日②保管方法を教えてください。", "完了",
         "お客様相談室", "精米日と保管方法をご案内", "令和７年４月５日", "2025-04-05 16:40"),
        ("R07.04.05", "2025-04-05", "電話", "0056789", "ドライヤー Ⅱ",
         "ドライヤーから焦げたような臭いがして、途中で止まりました～。", "対応中", "品質保証部",
         "代替品を発送、現品を調査", "", "2025-04-06 09:15"),
        ("2025年4月1日(火)", "2025-04-01", "メール", "0067890", "㈱ひかり通信 ルーター",
         "ルーターのランプが赤く点滅したまま、ネットにつながりません〜", "完了", "技術サポート",
         "リセット手順をご案内し復旧", "2025年4月2日(水)", "2025-04-02 13:00"),
        ("令和6年12月28日", "2024-12-28", "電話", "0078901", "おせち三段重",
         "年末に届いたおせちの盛り付けが崩れていました。", "完了", "お客様相談室", "一部返金で合意",
         "令和7年1月6日", "2025-01-06 10:10"),
        ("H30.3.31", "2018-03-31", "郵送", "0089012", "健康茶ティーバッグ 30包",
         "「髙麗人参茶」の表示は誤字ではないか、とのお手紙。", "完了", "品質保証部",
         "異体字であり誤りではない旨を回答書で送付", "H30.4.10", "2018-04-10 14:00"),
        ("2025/04/07", "2025-04-07", "Web", "0090123", "ｵｰｶﾞﾆｯｸ 洗顔フォーム",
         "泡立ちが以前の商品より悪くなった気がします。処方を変えましたか？", "未対応", "", "", "",
         "2025-04-07 18:25"),
    ]
    assert date(2025, 4, 1).weekday() == 1 and date(2025, 4, 2).weekday() == 2  # 火, 水
    rows = [Row((str(101 + i), received, *rest), received_on)
            for i, (received, received_on, *rest) in enumerate(records)]
    text = delimited(header, rows, quote_all=True)
    return Fixture("kintone_bom_wareki.csv", encode(text, "utf-8-sig"), "utf-8-sig", ",", rows, header)


XLSX_HEADER = ["受付番号", "受付日時", "受付チャネル", "顧客ID", "商品名", "重要度", "担当部署", "対応状況",
               "問い合わせ内容", "対応内容", "完了日", "対応経路"]


def xlsx_cases() -> list[tuple]:
    """The desk's own register. 受付日時 is a real datetime, a bare serial (General format) or text."""
    serial = excel_serial
    return [
        (datetime(2025, 4, 1, 9, 12), "電話", "C000101", "冷凍ハンバーグ 6個入", "A", "品質保証部", "完了",
         "ハンバーグの中から髪の毛のようなものが出てきました。",
         "現品回収・調査の結果、製造ラインのブラシ毛と判明。報告書送付。", datetime(2025, 4, 9),
         "お客様相談室→品質保証部→製造部"),
        (datetime(2025, 4, 1, 10, 30), "メール", "C000102", "保湿クリームⅡ", "B", "お客様相談室", "完了",
         "クリームの香りが以前と違う気がします。", "香料の変更はない旨を回答", datetime(2025, 4, 2),
         "お客様相談室"),
        (serial(datetime(2025, 4, 2, 11, 0)), "Web", "000457", "ワイヤレスイヤホン C-2", "B", "物流部", "完了",
         "右耳だけ音が出ない商品が届きました。\n初期不良ではないですか。", "交換品を発送",
         datetime(2025, 4, 4), "お客様相談室→物流部"),
        (serial(datetime(2025, 4, 2, 15, 45)), "電話", "C000104", "光回線プランⅡ", "A", "技術サポート", "対応中",
         "夜になると通信速度が極端に遅くなります（下り１Mbps程度）。", "回線調査を手配", None,
         "コールセンター→技術サポート"),
        ("2025/04/03 10:30", "チャット", "C000105", "ﾌﾟﾛﾃｲﾝﾊﾞｰ 12本", "C", "お客様相談室", "完了",
         "ﾌﾟﾛﾃｲﾝﾊﾞｰのチョコがべたついて袋にくっついています。", "保管温度についてご案内、代替品送付",
         "2025/04/04", "お客様相談室"),
        (datetime(2025, 4, 3, 16, 5), "電話", "C000106", "洗濯用洗剤 詰め替え", "A", "品質保証部", "対応中",
         "詰め替えパックの注ぎ口から液漏れして、床が汚れました～。", "現品回収中", None,
         "お客様相談室→品質保証部"),
        (datetime(2025, 4, 4, 9, 0), "メール", "C000107", "日焼け止めミルク", "A", "品質保証部", "対応中",
         "使用後に腕に湿疹が出ました。①使用量②使用日数もお伝えします。", "医療機関の受診状況を確認中", None,
         "お客様相談室→品質保証部→研究開発部"),
        (serial(datetime(2025, 4, 4, 13, 20)), "Web", "C000108", "オンラインストア", "B", "システム部", "完了",
         "注文確認メールが３通届きました。注文も３件になっていませんか？", "二重送信のみで注文は1件と確認",
         serial(datetime(2025, 4, 5)), "お客様相談室→システム部→お客様相談室"),
        ("2025年4月5日 14時05分", "電話", "C000109", "天然水 2L×6本", "B", "物流部", "完了",
         "段ボールが濡れていて、持ち上げたら底が抜けました。", "配送業者へ注意喚起、代替品を発送",
         "2025年4月6日", "お客様相談室→物流部"),
        (datetime(2025, 4, 6, 11, 11), "電話", "C000110", "食器用スポンジ 5個入", "C", "お客様相談室", "完了",
         "5個入りのはずが4個しか入っていませんでした。", "不足分を発送", datetime(2025, 4, 7),
         "お客様相談室"),
        (serial(datetime(2025, 4, 7, 9, 30)), "メール", "C000111", "㈱髙田製菓 どら焼き", "A", "品質保証部",
         "対応中", "どら焼きの中にカビのような白い点がありました。賞味期限内です〜", "現品回収・調査中", None,
         "お客様相談室→品質保証部→製造部"),
        (datetime(2025, 4, 7, 17, 50), "Web", "C000112", "スマートウォッチ Ⅱ", "B", "技術サポート", "完了",
         "アプリとペアリングできません。説明書の手順どおりにしています。", "ファームウェア更新手順をご案内",
         datetime(2025, 4, 8), "お客様相談室→技術サポート"),
        ("2025-04-08", "電話", "C000113", "冷凍うどん 5食", "C", "お客様相談室", "完了",
         "調理方法の表示が小さくて読めない、とのご意見。", "パッケージ改善要望として記録", "2025-04-08",
         "お客様相談室→マーケティング部"),
        (datetime(2025, 4, 9, 10, 0), "電話", "C000114", "化粧水 ｼｰﾄﾞ配合", "A", "品質保証部", "エスカレーション",
         "子どもが化粧水を誤って飲んでしまいました。大丈夫でしょうか。", "中毒110番をご案内し、成分情報を提供",
         None, "お客様相談室→品質保証部→研究開発部"),
        (date(2025, 4, 10), "Web", "C000115", "カタログギフト", "C", "営業部", "完了",
         "カタログギフトの申込期限が過ぎてしまいました。延長できますか。", "特例で期限を延長",
         datetime(2025, 4, 11), "お客様相談室→営業部"),
    ]


def xlsx_received_on(value) -> str:
    if isinstance(value, float):
        value = datetime(1899, 12, 30) + timedelta(days=value)
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m-%d")
    digits = [int(part) for part in re.findall(r"\d+", value)[:3]]
    return date(*digits).isoformat()


def pinned_zip(raw: bytes) -> bytes:
    """Rewrite an xlsx with fixed timestamps so this script always produces the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-04-11T00:00:00Z", content)
            pinned = zipfile.ZipInfo(info.filename, date_time=(2025, 4, 11, 9, 0, 0))
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = info.external_attr
            target.writestr(pinned, content)
    return out.getvalue()


def generic_ja_xlsx() -> Fixture:
    """A desk's own Excel register (openpyxl): header on row 1 of the first sheet 「受付台帳」.

    受付日時 mixes real datetimes (yyyy/mm/dd hh:mm), bare serial numbers in General format, a date
    cell and text; 顧客ID 000457 is text; one 問い合わせ内容 has an Alt+Enter newline. A second
    sheet 「選択肢」 holds the drop-down lists and is not data.
    """
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "受付台帳"
    sheet.append(XLSX_HEADER)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    rows = []
    for number, case in enumerate(xlsx_cases(), start=1):
        received, *middle, closed, route = case
        cells = (f"2025-{number:04d}", received, *middle, closed, route)
        sheet.append(cells)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy/mm/dd hh:mm" if cell.column == 2 else "yyyy/mm/dd"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy/mm/dd"
            elif isinstance(cell.value, float):
                cell.number_format = "General"
        rows.append(Row(cells, xlsx_received_on(received)))
    choices = workbook.create_sheet("選択肢")
    for channel in ["電話", "メール", "Web", "チャット", "店頭"]:
        choices.append([channel])
    workbook.properties.creator = "お客様相談室"
    workbook.properties.created = datetime(2025, 4, 1, 9, 0)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Fixture("generic_ja.xlsx", pinned_zip(buffer.getvalue()), "xlsx", None, rows, XLSX_HEADER,
                   extra={"sheet": "受付台帳"})


def excel_unicode_text() -> Fixture:
    """Excel 「Unicode テキスト」: UTF-16 LE with BOM, tabs, CRLF; quotes only around cells with a
    newline or a quote (as Excel does). Includes an emoji, i.e. a surrogate pair."""
    header = ["受付日", "No.", "区分", "内容", "対応者", "状態"]
    entries = [
        ("2025/4/1", "1", "苦情", "宅配ボックスに入れてと頼んだのに、玄関前に置かれていて雨で濡れていました。", "森", "完了"),
        ("2025/4/1", "2", "要望", "アプリの文字が小さいので、拡大できるようにしてほしいです🙏", "森", "完了"),
        ("2025/4/2", "3", "苦情", "「無料体験」と書いてあったのに、\n翌月から自動で有料になっていました。", "髙木", "対応中"),
        ("2025/4/3", "4", "問合せ", "シャンプーの\"詰め替え用\"は何回分ですか？", "森", "完了"),
        ("2025/4/3", "5", "苦情", "ｺｰﾙｾﾝﾀｰの待ち時間が長すぎます。３０分〜１時間つながりません。", "髙木", "対応中"),
        ("2025/4/4", "6", "称賛", "配達員さんがとても丁寧でした。①時間どおり②笑顔で感じがよかったです。", "森", "完了"),
        ("2025/4/5", "7", "苦情", "ブルーレイレコーダーⅡの録画が途中で止まります～", "髙木", "対応中"),
        ("2025/4/6", "8", "問合せ", "㈱ひかり通信からの請求書が２通届きました。どちらを払えばいいですか？", "森", "完了"),
    ]
    rows = [Row(entry, xlsx_received_on(entry[0])) for entry in entries]
    text = delimited(header, rows, delimiter="\t")
    return Fixture("excel_unicode_text.txt", encode(text, "utf-16"), "utf-16", "\t", rows, header)


def tsv_utf8() -> Fixture:
    """A Google Sheets download of store feedback (Forms timestamps), TSV, UTF-8, LF."""
    header = ["タイムスタンプ", "店舗", "区分", "ご意見・ご要望", "対応状況"]
    entries = [
        ("2025/04/01 12:34:56", "渋谷店", "接客", "レジの方の対応がそっけなく、袋が必要か聞かれませんでした。", "共有済み"),
        ("2025/04/01 18:02:11", "梅田店", "商品", "お弁当の温めが不十分で、中が冷たかったです。", "共有済み"),
        ("2025/04/02 09:15:40", "博多店", "店内環境", "トイレの清掃が行き届いていませんでした〜", "未対応"),
        ("2025/04/02 20:48:03", "札幌店", "商品", "ｻﾝﾄﾞｲｯﾁのパンが乾燥して固かった。", "対応中"),
        ("2025/04/03 07:55:19", "渋谷店", "価格", "棚の価格表示（198円）とレジの金額（２１８円）が違いました。", "対応中"),
        ("2025/04/04 13:30:00", "名古屋店", "接客", "店長さんの説明が分かりやすく、包装にも髙級感があって贈り物にちょうどよかったです。", "共有済み"),
        ("2025/04/05 16:21:47", "梅田店", "商品", "①賞味期限切れのヨーグルトが棚にありました。②値引きシールも剥がれかけていました～", "対応中"),
        ("2025/04/06 11:09:33", "博多店", "設備", "駐車場の出口ゲートが開かず10分以上待たされました。㈱パーク管理Ⅱの連絡先も貼っていない。", "未対応"),
    ]
    rows = [Row(entry, xlsx_received_on(entry[0])) for entry in entries]
    text = delimited(header, rows, delimiter="\t", newline="\n")
    return Fixture("tsv_utf8.tsv", encode(text, "utf-8"), "utf-8", "\t", rows, header)


def semicolon_utf8() -> Fixture:
    """A help-desk tool set to a European locale: ';' between fields, UTF-8, CRLF.

    Several texts contain ASCII commas (more commas than semicolons in some lines), and one
    contains a ';' inside quotes, so guessing ',' from character counts goes wrong."""
    header = ["チケットID", "作成日時", "チャネル", "件名", "本文", "ステータス"]
    entries = [
        ("T-1001", "2025-04-01 09:05", "メール", "配送遅延", "1週間たっても届きません, 追跡番号も反映されていません, 確認をお願いします。", "対応中"),
        ("T-1002", "2025-04-01 13:20", "チャット", "返金", "返金はいつになりますか; カード会社に聞いても反映されていないそうです。", "対応中"),
        ("T-1003", "2025-04-02 10:00", "電話", "初期不良", "①電源が入らない, ②充電もできない, ③ランプも点かない。", "完了"),
        ("T-1004", "2025-04-02 16:45", "メール", "問い合わせ", "ｷﾞﾌﾄ包装はできますか？のし紙も付けたいです。", "完了"),
        ("T-1005", "2025-04-03 11:30", "フォーム", "苦情", "説明と違うサイズ（Ⅱ型）が届きました。交換の手配を早くしてほしい。", "対応中"),
        ("T-1006", "2025-04-04 09:50", "電話", "請求", "㈱髙野商会名義で領収書を再発行してほしい, 但し書きは「お品代」で。", "完了"),
        ("T-1007", "2025-04-05 14:10", "メール", "品質", "化粧ポーチのファスナーが2回使っただけで壊れました～", "対応中"),
        ("T-1008", "2025-04-06 19:00", "チャット", "要望", "土日も電話窓口を開けてほしいです〜。平日は１０時〜１８時で仕事中です。", "未対応"),
    ]
    rows = [Row(entry, entry[1][:10]) for entry in entries]
    text = delimited(header, rows, delimiter=";")
    return Fixture("semicolon_utf8.csv", encode(text, "utf-8"), "utf-8", ";", rows, header)


def pipe_cp932() -> Fixture:
    """An in-house order system's fixed dump: '|' between fields, CP932, CRLF, no quoting at all,
    dates as yyyymmdd. In CP932 「ポ」 is 0x83 0x7C and 0x7C is '|', so splitting bytes before
    decoding breaks these rows; 「ソ」「表」「能」 end in 0x5C, the backslash."""
    header = ["受付NO", "受付日", "受付区分", "得意先名", "申出内容", "処理区分"]
    entries = [
        ("000001", "20250401", "電話", "㈱ポエム食品", "ポテトチップスの袋がパンパンに膨らんでいる。表示の賞味期限内。", "調査中"),
        ("000002", "20250401", "FAX", "有限会社ｿﾗﾏﾁ商店", "ソースの瓶のキャップが緩く、中身が漏れていた。", "完了"),
        ("000003", "20250402", "電話", "㈱髙松フーズ", "業務用ポン酢の納品が1日遅れ、店舗の営業に支障が出た。", "完了"),
        ("000004", "20250402", "メール", "個人", "機能性表示食品の「１日２粒」の表示が小さくて読めない。", "完了"),
        ("000005", "20250403", "電話", "㈱ミナト商会", "ソフトキャンディの個包装に印字ズレ～賞味期限が読めない。", "調査中"),
        ("000006", "20250404", "電話", "個人", "ポイントカードⅡの残高が表示されない。", "完了"),
        ("000007", "20250405", "郵送", "個人", "①内容量が表示より少ない②価格も上がった、とのお手紙。", "完了"),
        ("000008", "20250406", "電話", "㈱ポエム食品", "再発。ポテトチップスの袋が膨らむ件、別ロットでも発生。", "調査中"),
    ]
    for entry in entries:
        assert not any(mark in cell for cell in entry for mark in '|"\r\n'), entry
    rows = [Row(entry, f"{entry[1][:4]}-{entry[1][4:6]}-{entry[1][6:]}") for entry in entries]
    text = "".join("|".join(line) + "\r\n" for line in [header, *[row.cells for row in rows]])
    return Fixture("pipe_cp932.txt", encode(text, "cp932"), "cp932", "|", rows, header)


def no_case_id() -> Fixture:
    """Excel 「CSV (コンマ区切り)」 save: CP932, CRLF, quotes only where needed, Alt+Enter as LF.

    No ID column, so a case is known by (受付日, 受付チャネル, 問い合わせ内容). Row 9 repeats row 3
    exactly: a duplicate. Row 4 has row 3's date and text but another channel: a separate case.
    """
    header = ["受付日", "受付チャネル", "問い合わせ内容"]
    login = "パスワードを変更したら、アプリにログインできなくなりました。"
    entries = [
        ("2025/4/1", "電話", "冷凍餃子の袋に穴が開いていて、中身が霜だらけでした。", "insert"),
        ("2025/4/1", "メール", "化粧下地を塗ると白浮きします。使い方が悪いのでしょうか。", "insert"),
        ("2025/4/2", "Web", login, "insert"),
        ("2025/4/2", "電話", login, "insert"),
        ("2025/4/3", "電話", "ネット注文で、頼んだ色と違う色（ﾈｲﾋﾞｰ）が届きました。交換できますか。", "insert"),
        ("2025/4/3", "店頭", "ﾎﾟｲﾝﾄカードⅡを紛失しました。再発行の手数料はかかりますか？", "insert"),
        ("2025/4/4", "電話", "定期購入の解約を電話で伝えたのに、\n翌月分が届きました。返品の送料も負担してほしいです。", "insert"),
        ("2025/4/4", "メール", "請求書の宛名を「㈱ミナト商会」から「㈱髙野商会」に変えてほしい。", "insert"),
        ("2025/4/2", "Web", login, "duplicate"),
        ("2025/4/5", "電話", "説明書に「①～③の順に組み立て」とあるのに、②の部品が入っていない。", "insert"),
        ("2025/4/5", "Web", "３月分の利用明細がダウンロードできません, エラー番号 500 が出ます。", "insert"),
        ("2025/4/6", "電話", "母（８２歳）が使うので、大きな文字の説明書がほしい。", "insert"),
    ]
    rows = [Row((received, channel, text), xlsx_received_on(received), outcome)
            for received, channel, text, outcome in entries]
    text = delimited(header, rows)
    return Fixture("no_case_id.csv", encode(text, "cp932"), "cp932", ",", rows, header)


def mixed_bad_rows() -> Fixture:
    """Mostly good rows (UTF-8, LF) plus six that must be rejected, each for one reason:
    「不明」, 2025/13/45, an empty date and 2025/02/29 (not a leap year) are dates; "" and a
    mix of ideographic and ASCII spaces are empty texts."""
    header = ["受付番号", "受付日", "チャネル", "問い合わせ内容", "対応状況"]
    entries = [
        ("K-0101", "2025/04/01", "電話", "電子レンジで温めたら容器が溶けました。「レンジ可」と書いてあります。", "insert"),
        ("K-0102", "2025/04/01", "メール", "口コミで見た限定色のアイシャドウⅡがどこにも売っていません。", "insert"),
        ("K-0103", "不明", "電話", "以前買ったお米に虫がわいていた、とのお電話（購入日は覚えていない）。", "reject:date"),
        ("K-0104", "2025/04/02", "Web", "ｽﾏﾎの機種変更後、データ移行ができません〜", "insert"),
        ("K-0105", "2025/13/45", "メール", "配達員の態度が悪く、荷物を投げるように置いていきました。", "reject:date"),
        ("K-0106", "2025/04/03", "電話", "", "reject:empty_text"),
        ("K-0107", "2025/04/03", "Web", "㈱ミナト電機の延長保証に入っているはずなのに、修理代を請求されました。", "insert"),
        ("K-0108", "2025/04/04", "電話", "\u3000 \u3000", "reject:empty_text"),
        ("K-0109", "", "電話", "髙齢の父がネット回線の契約を勝手に変更されたと言っています。", "reject:date"),
        ("K-0110", "2025/04/05", "メール", "①商品の到着遅れ②連絡なし、の２点について説明を求めます。", "insert"),
        ("K-0111", "2025/02/29", "Web", "ポイントの有効期限が予告なく短くなりました～", "reject:date"),
        ("K-0112", "2025/04/06", "電話", "洗顔料のチューブが途中で裂けて中身が漏れていました。", "insert"),
        ("K-0113", "2025/04/07", "Web", "ｱﾌﾟﾘの通知が１日に何十回も来て困っています。", "insert"),
        ("K-0114", "2025/04/07", "電話", "定期便のお届け間隔を２か月ごとに変えたいのですが、Web で変更できません。", "insert"),
    ]
    rows = [Row((number, received, channel, text, "新規"),
                None if outcome == "reject:date" else xlsx_received_on(received), outcome)
            for number, received, channel, text, outcome in entries]
    text = delimited(header, rows, newline="\n")
    return Fixture("mixed_bad_rows.csv", encode(text, "utf-8"), "utf-8", ",", rows, header)


# ---------------------------------------------------------------- personal data

PII_HEADER = ["受付番号", "受付日", "受付チャネル", "氏名", "電話番号", "メールアドレス", "問い合わせ内容"]

# (氏名, 電話番号, メールアドレス, 問い合わせ内容, personal strings in the text)
PII_CASES = [
    ("髙橋 一郎", "090-1234-5678", "ichiro.takahashi@example.com",
     "髙橋一郎と申します。4月1日に届いた緑茶　５００ｍｌ　２４本のうち3本の容器が凹んでいました。"
     "箱にはLOT 2405-113と印字されています。折り返しは090-1234-5678にお願いします。",
     ["髙橋一郎"]),
    ("山田 花子", "03(1234)5678", "hanako.yamada@example.co.jp",
     "ご担当者様へ。注文番号 A-20250401-0032 の件です。代金3,240円を支払いましたが商品が届いていません。"
     "自宅の電話03(1234)5678か、hanako.yamada@example.co.jp に連絡ください。山田花子",
     ["山田花子"]),
    ("佐藤 健太", "０９０－２２２２－３３３３", "kenta.sato@example.jp",
     "佐藤健太様からのお電話。携帯は０９０－２２２２－３３３３（全角でメモ）。"
     "〒１０５－００１１ 東京都港区芝浦９丁目８番７号のご自宅に、ヤマト運輸で交換品を送ってほしいとのこと。",
     ["佐藤健太", "１０５－００１１", "東京都港区芝浦９丁目８番７号", "芝浦９丁目８番７号"]),
    ("鈴木 美咲", "080‐3456‐7890", "misaki_suzuki@example.com",
     "鈴木さんより：スキンケアローションⅡ 150mlで赤みが出た。080‐3456‐7890 へ夕方以降に連絡希望。"
     "担当の田中さんから一度電話があったが不在だった。",
     ["鈴木", "田中"]),
    ("伊藤 誠", "070−4567−8901", "makoto.ito@example.com",
     "お客様（伊藤様）のご住所は大阪府大阪市北区中之島8丁目1番2号、携帯070−4567−8901。"
     "佐川急便の不在票が入っていたが再配達が来ないとのこと。伝票番号 4321-8765-2109。",
     ["伊藤", "大阪府大阪市北区中之島8丁目1番2号", "中之島8丁目1番2号"]),
    ("中村 直樹", "03―5555―1234", "naoki.nakamura@example.co.jp",
     "中村直樹殿 宛の請求書（2025年3月分、ご利用料金 ￥１２，８００）に誤りがあります。"
     "勤務先03―5555―1234は日中のみ。",
     ["中村直樹"]),
    ("渡辺 さくら", "070ー1111ー2222", "ｓａｋｕｒａ．ｗ＠ｅｘａｍｐｌｅ．ｊｐ",
     "渡辺氏からのメール（ｓａｋｕｒａ．ｗ＠ｅｘａｍｐｌｅ．ｊｐ）。ドリップコーヒー 8袋入を2箱注文したが"
     "1箱しか届いていない。電話は070ー1111ー2222。",
     ["渡辺"]),
    ("小林 陽子", "+81-90-9876-5432", "yoko.k+shop@example.com",
     "小林陽子です。ECモールで買った日焼け止め SPF50+ PA++++ のボトルが液漏れしていました。"
     "メールはyoko.k+shop@example.com、電話は+81-90-9876-5432（海外在住）です。",
     ["小林陽子"]),
    ("加藤 大輔", "09087654321", "d.kato@example.jp",
     "ｽﾏﾎ（ｷﾞｶﾞﾌﾟﾗﾝⅡ）の通信が4/5 21:00～23:30まで使えなかった。料金の日割り返金を希望。"
     "連絡先09087654321、加藤大輔。付属品のJANコード 4901234567894 も確認済み。",
     ["加藤大輔"]),
    ("吉田 恵", "06-6123-4567", "megumi.yoshida@example.com",
     "〒530-0001 大阪府大阪市北区梅田7丁目3番21号 吉田恵様。定期便のお届け日を毎月15日→25日に変更希望〜"
     "2025-04-10受付。",
     ["530-0001", "大阪府大阪市北区梅田7丁目3番21号", "梅田7丁目3番21号", "吉田恵"]),
    ("山本 翔", "(03)3333-4444", "sho.yamamoto@example.co.jp",
     "山本さんより、ﾎﾟｲﾝﾄ 1,500pt の付与漏れについて再度のお申し出。"
     "前回は担当の田中さんが対応済みと回答したとのこと。固定電話(03)3333-4444。",
     ["山本", "田中"]),
    ("松本 玲奈", "080-5555-6666", "reina@example.com",
     "お客様から㈱ミドリ物産経由でのご連絡。ｶﾞﾗｽ製の保存容器Ⅱ型（3個組）が割れて届いた。"
     "担当者の井上氏に①外箱②割れた容器の写真を送付済み。松本様の携帯080-5555-6666。",
     ["井上", "松本"]),
]

# Look-alikes that must come through untouched, written as they read after NFKC.
PII_MUST_SURVIVE = [
    "緑茶 500ml 24本", "LOT 2405-113", "ご担当者様", "注文番号 A-20250401-0032", "3,240円",
    "ヤマト運輸", "スキンケアローションII 150ml", "お客様", "佐川急便", "伝票番号 4321-8765-2109",
    "2025年3月分", "¥12,800", "ドリップコーヒー 8袋入", "SPF50+ PA++++", "ギガプランII", "4/5 21:00",
    "JANコード 4901234567894", "2025-04-10", "15日→25日", "ポイント 1,500pt", "(株)ミドリ物産",
    "保存容器II型",
]


def pii_heavy() -> Fixture:
    """Excel 「CSV UTF-8」 save (BOM, CRLF): dedicated 氏名/電話番号/メールアドレス columns and texts
    full of personal data in the forms desks actually type, next to look-alikes that are not."""
    channels = ["電話", "メール", "Web", "電話", "電話", "メール", "メール", "Web", "Web", "郵送", "電話", "電話"]
    rows, must_not_survive = [], []
    for number, (name, phone, mail, text, in_text) in enumerate(PII_CASES, start=1):
        received = date(2025, 4, number)
        cells = (f"P-{number:03d}", f"{received:%Y/%m/%d}", channels[number - 1], name, phone, mail, text)
        rows.append(Row(cells, received.isoformat()))
        for secret in [name, phone, mail, *in_text]:
            if secret not in must_not_survive:
                must_not_survive.append(secret)
    text = delimited(PII_HEADER, rows)
    nfkc = [unicodedata.normalize("NFKC", secret) for secret in must_not_survive]
    extra = {
        "must_not_survive": must_not_survive,
        "must_not_survive_nfkc": list(dict.fromkeys(nfkc)),
        "must_survive": PII_MUST_SURVIVE,
    }
    return Fixture("pii_heavy.csv", encode(text, "utf-8-sig"), "utf-8-sig", ",", rows, PII_HEADER,
                   extra=extra)


# ---------------------------------------------------------------- files to refuse


def refused(name: str, data: bytes, refusal: str, encoding: str | None, delimiter: str | None,
            rows: list[Row] | None) -> Fixture:
    return Fixture(name, data, encoding, delimiter, rows, refusal=refusal)


def tiny_png() -> bytes:
    """A valid 1x1 PNG: what arrives when someone renames a screenshot to .csv."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00", 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


LETTER = """お客様相談室 ご担当者様

前略

先日、御社の通信販売で購入した羽毛布団について、お手紙を差し上げます。
届いた布団はカタログの写真と比べて明らかに薄く、羽毛の量も少ないように感じました。
電話でも二度ご相談しましたが、そのたびに担当の方が変わり、同じ説明を最初から繰り返すことになりました。
返品の手続き, 送料の扱い, 今後の連絡方法について, 書面でご回答いただけますでしょうか。
なお、平日の日中は仕事のため電話に出られません。

長年愛用してきた御社の商品だけに、大変残念に思っております。
誠意あるご対応を, よろしくお願い申し上げます。

草々
"""


def bad_files() -> list[Fixture]:
    id_date_status = [
        ("R-001", "2025/04/01", "完了", "お客様相談室", "高"),
        ("R-002", "2025/04/01", "対応中", "品質保証部", "中"),
        ("R-003", "2025/04/02", "完了", "物流部", "低"),
        ("R-004", "2025/04/03", "対応中", "システム部", "高"),
        ("R-005", "2025/04/03", "新規", "お客様相談室", "中"),
        ("R-006", "2025/04/04", "完了", "営業部", "低"),
    ]
    no_text_rows = [Row(cells, None) for cells in id_date_status]
    text_no_date = [
        ("Q-001", "シャンプーの香りが強すぎて頭痛がします。", "電話", "完了"),
        ("Q-002", "注文をキャンセルしたのに商品が届きました。", "メール", "対応中"),
        ("Q-003", "ｽﾏﾎの料金プランⅡに変更できません。", "Web", "対応中"),
        ("Q-004", "㈱ミナト電機の扇風機から異音がします～", "電話", "完了"),
        ("Q-005", "ヨーグルトの賞味期限が店頭で切れていました。", "店頭", "完了"),
        ("Q-006", "①説明書がない②ネジが足りない、の２点です。", "メール", "新規"),
    ]
    no_date_rows = [Row(cells, None) for cells in text_no_date]
    return [
        refused("empty.csv", b"", "empty", None, None, []),
        refused("header_only.csv", encode("受付番号,受付日,受付チャネル,問い合わせ内容,対応状況\r\n", "cp932"),
                "header_only", "cp932", ",", []),
        refused("binary.csv", tiny_png(), "binary", None, None, None),
        refused("no_text_column.csv",
                encode(delimited(["受付番号", "受付日", "対応状況", "担当部署", "優先度"], no_text_rows), "utf-8"),
                "no_text_column", "utf-8", ",", no_text_rows),
        refused("not_a_table.csv", encode(LETTER, "utf-8"), "not_a_table", "utf-8", None, None),
        refused("no_date_column.csv",
                encode(delimited(["問い合わせ番号", "問い合わせ内容", "受付チャネル", "対応状況"], no_date_rows), "utf-8"),
                "no_date_column", "utf-8", ",", no_date_rows),
    ]


# ---------------------------------------------------------------- expectations


def expectation(fixture: Fixture) -> dict:
    """The accounting the loader must report for one file."""
    rows = fixture.rows
    outcomes = [row.outcome for row in rows] if rows and not fixture.refusal else []
    reasons = [outcome.split(":", 1)[1] for outcome in outcomes if outcome.startswith("reject:")]
    return {
        "kind": fixture.kind,
        "encoding": fixture.encoding,
        "delimiter": fixture.delimiter,
        "rows": None if rows is None else len(rows),
        "inserted": outcomes.count("insert"),
        "duplicates": outcomes.count("duplicate"),
        "rejected": len(reasons),
        "reject_reasons": reasons,
        "refused": fixture.refusal is not None,
        "refusal": fixture.refusal,
        "loads_after": fixture.loads_after,
        "updated": outcomes.count("update"),
        "unchanged": outcomes.count("unchanged"),
        "received_on": [row.received_on for row in rows] if outcomes else [],
        **fixture.extra,
    }


def all_fixtures() -> list[Fixture]:
    return [
        salesforce_ja_cp932(), zendesk_en_utf8(), kintone_bom_wareki(), generic_ja_xlsx(),
        excel_unicode_text(), tsv_utf8(), semicolon_utf8(), pipe_cp932(), no_case_id(),
        update_newer_export(), events_ja(), mixed_bad_rows(), pii_heavy(), *bad_files(),
    ]


def check(fixture: Fixture) -> None:
    """Read the bytes back the way a loader would and fail loudly if they say anything else."""
    if fixture.refusal or fixture.rows is None:
        return
    if fixture.encoding == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(fixture.data)).worksheets[0]
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
    else:
        decoded = fixture.data.decode(fixture.encoding)  # strict
        if fixture.encoding == "utf-16":
            decoded = decoded.removeprefix("\ufeff")
        assert encode(decoded, fixture.encoding) == fixture.data, f"{fixture.name}: round trip"
        table = list(csv.reader(io.StringIO(decoded, newline=""), delimiter=fixture.delimiter))
    assert table[0] == fixture.header, f"{fixture.name}: header"
    assert len(table) - 1 == len(fixture.rows), f"{fixture.name}: {len(table) - 1} rows"
    for written, read in zip(fixture.rows, table[1:]):
        assert [as_text(cell) for cell in written.cells] == [as_text(cell) for cell in read], read
    cells = "".join(as_text(cell) for row in fixture.rows for cell in row.cells)
    wanted = HARD_CHARS_CP932 if fixture.encoding == "cp932" else HARD_CHARS_UNICODE
    missing = [char for char in wanted if char not in cells]
    assert not missing, f"{fixture.name}: no {missing}"
    assert HALF_WIDTH_KANA.search(cells) and FULL_WIDTH_DIGIT.search(cells), fixture.name


def as_text(cell) -> str:
    """Cells as comparable text; openpyxl reads a date cell back as a datetime at midnight."""
    if cell is None:
        return ""
    if isinstance(cell, date) and not isinstance(cell, datetime):
        cell = datetime(cell.year, cell.month, cell.day)
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # a whole serial comes back as an int
    return str(cell)


def check_pii(fixture: Fixture) -> None:
    texts = [row.cells[-1] for row in fixture.rows]
    normalised = "\n".join(unicodedata.normalize("NFKC", text) for text in texts)
    raw = fixture.data.decode(fixture.encoding)
    for secret in fixture.extra["must_not_survive"]:
        assert secret in raw, secret
    for keep in fixture.extra["must_survive"]:
        assert keep in normalised, keep
        for secret in fixture.extra["must_not_survive"] + fixture.extra["must_not_survive_nfkc"]:
            assert secret not in keep, (secret, keep)


def main() -> None:
    expected = {}
    for fixture in all_fixtures():
        check(fixture)
        if fixture.name == "pii_heavy.csv":
            check_pii(fixture)
        (HERE / fixture.name).write_bytes(fixture.data)
        expected[fixture.name] = expectation(fixture)
    text = json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    (HERE / "expected.json").write_bytes(text.encode("utf-8"))
    print(f"wrote {len(expected)} fixtures and expected.json to {HERE}")


if __name__ == "__main__":
    main()
