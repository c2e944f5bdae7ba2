"""Writes the personal-data fixtures of tests/test_pii.py (run from the repository root):

    .venv/bin/python tests/data/pii/make_fixtures.py

pii_everywhere.csv: a case export whose personal data sits everywhere a load stores something —
extra columns (備考, 契約者, 連絡先 as e-mail, 紹介者), the 担当者 column (mapped as the department),
the response, an unreadable 完了日時, a rejected row (its 受付日時 is a name) — beside values that must
survive (models, parts, order and product codes, amounts, dates). pii_events.csv: hand-off events whose
departments and notes hold names. Every name, number and address is invented; the card number is the
well-known test number 4111 1111 1111 1111.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASES = [
    ["受付番号", "受付日時", "問い合わせ内容", "対応内容", "完了日時", "商品名", "担当者", "備考", "契約者", "連絡先", "紹介者"],
    ["P-001", "2025/04/01 10:00", "セレナのミラーが割れた。Taro Yamada 様より入電。", "Yamada-san に折り返し済み。",
     "鈴木一郎", "セレナ", "佐藤", "田中様より入電、折り返し希望", "山田太郎", "ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "Regards, Ken Mori"],
    ["P-002", "2025/04/02 11:00", "マイナンバー 123456789018 を送ってしまった。部品番号 AB-1234 のヒューズが切れた。",
     "カード 4111 1111 1111 1111 の返金を手配。", "2025/04/03 12:00", "ミラ", "高橋", "注文番号1234-5678-9012 の件",
     "サトウ ハナコ", "sato.hanako@example.jp", "伊藤様"],
    ["P-003", "2025/04/03 09:30", "ヘッドライトが点かない。よろしくお願いします。Hanako Suzuki",
     "返金 12,800円 済み（2025/04/05）。", "", "タント", "渡辺", "JAN 4901234567894、番号 123456789012",
     "John Smith", "ｓｕｚｕｋｉ＠ｅｘａｍｐｌｅ．ｃｏｍ", "０９０－１１１１－２２２２"],
    ["P-004", "2025/04/04 14:00", "ワイパーの動きが遅い。", "部品を手配。", "", "ノート", "佐藤", "",
     "鈴木花子", "kobayashi@example.com", "ｋｏｂａｙａｓｈｉ＠ｅｘａｍｐｌｅ．ｃｏｍ"],
    ["P-005", "中村次郎", "ナカムラです。ドアが閉まらない。", "", "", "セレナ", "高橋", "090-3333-4444 へ折り返し",
     "中村次郎", "nakamura@example.jp", ""],
]

EVENTS = [
    ["ケース番号", "日時", "移管元", "移管先", "対応区分", "メモ"],
    ["P-001", "2025/04/01 11:00", "お客様相談室", "品質保証部", "移管", "田中様へ折り返し済み。部品番号 AB-1234"],
    ["P-001", "2025/04/02 09:00", "品質保証部", "木村", "調査依頼", "カード 4111-1111-1111-1111 の件は経理へ"],
    ["P-002", "2025/04/02 10:00", "お客様相談室", "品質保証部", "移管", "Regards, Ken Mori"],
]


def _csv(rows: list[list[str]]) -> bytes:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value
    return ("\ufeff" + "".join(",".join(cell(v) for v in row) + "\r\n" for row in rows)).encode("utf-8")


if __name__ == "__main__":
    (HERE / "pii_everywhere.csv").write_bytes(_csv(CASES))
    (HERE / "pii_events.csv").write_bytes(_csv(EVENTS))
