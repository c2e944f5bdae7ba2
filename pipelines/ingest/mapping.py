"""Header mapping: which column of an export holds which field of the case store.

Presets for common CRM exports live in data/mappings/*.json; mappings users save from the upload
page live in the store (saved_mappings). A mapping is {field: header as written in the file}.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.store import db
from pipelines.store.errors import RefusedFile
from pipelines.store.settings import MAPPINGS_DIR

# Fields of the cases export. Aliases are compared after normalize_header().
CASE_FIELDS: dict[str, tuple[str, ...]] = {
    "case_id": ("受付番号", "ケース番号", "案件番号", "問い合わせ番号", "問合せ番号", "お問い合わせ番号", "管理番号",
                "レコード番号", "チケットid", "チケット番号", "id", "ticketid", "casenumber", "caseid", "ケースid",
                "no", "no.", "番号", "受付no", "受付no."),
    "received_at": ("受付日時", "受付日", "作成日", "作成日時", "発生日", "発生日時", "問い合わせ日", "問い合わせ日時",
                    "問合せ日", "登録日時", "登録日", "受信日時", "受付年月日", "createdat", "created", "datecreated",
                    "createddate", "openeddate", "タイムスタンプ", "timestamp", "日付", "日時"),
    "text": ("問い合わせ内容", "問合せ内容", "お問い合わせ内容", "お問合せ内容", "内容", "説明", "本文", "詳細", "相談内容",
             "苦情内容", "ご意見", "ご意見内容", "お客様の声", "申出内容", "申し出内容", "description", "body", "comment",
             "message", "内容詳細", "問い合わせ詳細"),
    "subject": ("件名", "題名", "タイトル", "subject", "title", "要件"),
    "channel": ("受付チャネル", "受付方法", "チャネル", "チャネル名", "発生源", "受付経路", "問い合わせ方法", "入電経路",
                "via", "channel", "source", "origin", "caseorigin"),
    "customer_id": ("顧客id", "顧客番号", "顧客コード", "会員番号", "会員id", "お客様番号", "お客様id", "customerid",
                    "customernumber", "requesterid", "accountid", "contactid"),
    "customer_name": ("氏名", "お客様氏名", "お客様名", "お名前", "顧客名", "名前", "申出者", "申出者名", "相談者名",
                      "取引先名", "取引先", "requester", "requestername", "name", "customername", "customer",
                      "account", "accountname", "contactname"),
    "customer_phone": ("電話番号", "電話", "tel", "phone", "連絡先電話番号", "携帯番号", "携帯電話", "連絡先",
                       "requesterphone", "phonenumber"),
    "customer_email": ("メールアドレス", "メール", "e-mail", "email", "mail", "requesteremail", "emailaddress",
                       "連絡先メールアドレス"),
    "product": ("商品名", "製品", "製品名", "商品", "品名", "対象商品", "サービス名", "サービス", "product", "productname",
                "item", "ブランド", "対象製品"),
    "category": ("分類", "種別", "カテゴリ", "カテゴリー", "区分", "問い合わせ種別", "問い合わせ区分", "大分類", "type",
                 "category", "casetype", "受付区分", "内容区分"),
    "department": ("担当部署", "部署", "担当部門", "担当課", "所有者", "所有者:氏名", "所有者名", "group", "担当グループ",
                   "assigneegroup", "ownerdepartment", "担当", "担当者", "対応者", "対応部署", "owner", "ownername", "assignee"),
    "status": ("対応状況", "状況", "状態", "ステータス", "status", "進捗", "進捗状況", "対応ステータス", "処理状況"),
    "priority": ("優先度", "重要度", "緊急度", "priority", "severity", "重要度ランク", "レベル"),
    "closed_at": ("完了日", "完了日時", "解決日", "解決日時", "終了日", "終了日時", "クローズ日", "クローズ日時", "対応完了日",
                  "solvedat", "closedat", "closeddate", "resolvedat", "完了年月日"),
    "updated_at": ("更新日時", "最終更新日", "最終更新日時", "更新日", "updatedat", "lastmodifieddate", "lastupdated",
                   "modifiedat"),
    "cause": ("原因", "発生原因", "原因分類", "原因区分", "cause", "rootcause", "真因"),
    "response": ("対応内容", "対応", "回答内容", "処置内容", "対応履歴", "対応結果", "回答", "resolution", "solution",
                 "対応記録", "処置"),
    "route": ("対応経路", "経路", "移管経路", "転送経路", "エスカレーション経路", "route", "routing", "handoffroute"),
}
CASE_REQUIRED = ("received_at", "text")

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "case_id": CASE_FIELDS["case_id"],
    "at": ("日時", "日付", "移管日時", "対応日時", "実施日時", "発生日時", "記録日時", "更新日時", "date", "at", "timestamp",
           "createdat", "time"),
    "from_department": ("移管元", "移管元部署", "送信元", "依頼元", "元部署", "from", "fromdepartment", "fromgroup"),
    "to_department": ("移管先", "移管先部署", "送信先", "依頼先", "先部署", "担当部署", "to", "todepartment", "togroup"),
    "action": ("アクション", "対応区分", "区分", "種別", "action", "event", "イベント", "処理"),
    "note": ("メモ", "備考", "コメント", "note", "memo", "内容", "詳細", "comment"),
}
EVENT_REQUIRED = ("case_id", "to_department")

COUNTERMEASURE_FIELDS: dict[str, tuple[str, ...]] = {
    "implemented_on": ("実施日", "対策日", "実施日時", "開始日", "日付", "date", "implementedon"),
    "target": ("対象", "対象原因", "対象テーマ", "対象商品", "原因", "target", "cause"),
    "department": ("担当部署", "部署", "担当", "department", "owner"),
    "description": ("内容", "対策内容", "再発防止策", "説明", "description", "measure"),
}
COUNTERMEASURE_REQUIRED = ("implemented_on", "target")

FIELD_LABELS = {
    "case_id": "ケース番号", "received_at": "受付日時", "text": "問い合わせ内容", "subject": "件名",
    "channel": "受付チャネル", "customer_id": "顧客ID", "customer_name": "お客様氏名（ハッシュ化）",
    "customer_phone": "電話番号（ハッシュ化）", "customer_email": "メールアドレス（ハッシュ化）", "product": "商品名",
    "category": "分類", "department": "担当部署", "status": "対応状況", "priority": "優先度", "closed_at": "完了日時",
    "updated_at": "更新日時", "cause": "原因", "response": "対応内容", "route": "対応経路",
    "implemented_on": "実施日", "target": "対象（原因・テーマ・商品）", "description": "内容",
    "at": "日時", "from_department": "移管元", "to_department": "移管先", "action": "アクション", "note": "メモ",
}
PII_FIELDS = ("customer_name", "customer_phone", "customer_email")
_STRIP = re.compile(r"[\s_・:：()（）\[\]【】「」]+")


def normalize_header(header: str) -> str:
    """'お問い合わせ内容（詳細）' and 'Created At' become comparable keys."""
    key = unicodedata.normalize("NFKC", header or "").strip().lower()
    key = key.replace("所有者: 氏名", "所有者:氏名")
    return _STRIP.sub("", key)


def fields_for(kind: str) -> dict[str, tuple[str, ...]]:
    return {"events": EVENT_FIELDS, "countermeasures": COUNTERMEASURE_FIELDS}.get(kind, CASE_FIELDS)


def required_for(kind: str) -> tuple[str, ...]:
    return {"events": EVENT_REQUIRED, "countermeasures": COUNTERMEASURE_REQUIRED}.get(kind, CASE_REQUIRED)


_ALIAS_INDEX = {normalize_header(a) for aliases in CASE_FIELDS.values() for a in aliases}


def header_score(row: list[str]) -> int:
    """How many cells of a row are known header names (used to find the header row)."""
    return sum(1 for cell in row if normalize_header(cell) in _ALIAS_INDEX)


@dataclass(frozen=True)
class Mapping:
    """A resolved mapping: field → column index in the file, plus the headers kept as extras."""

    name: str
    kind: str
    columns: dict[str, int]
    header: list[str]
    extras: list[int] = field(default_factory=list)

    def as_headers(self) -> dict[str, str]:
        return {f: self.header[i] for f, i in self.columns.items()}


def auto_map(header: list[str], kind: str = "cases") -> dict[str, int]:
    """Guess field → column: exact alias matches first, then headers containing an alias."""
    keys = [normalize_header(h) for h in header]
    taken: set[int] = set()
    result: dict[str, int] = {}
    for exact in (True, False):
        for fld, aliases in fields_for(kind).items():
            if fld in result:
                continue
            for alias in (normalize_header(a) for a in aliases):
                hit = next((i for i, k in enumerate(keys) if i not in taken and k and
                            (k == alias if exact else (len(alias) >= 2 and alias in k))), None)
                if hit is not None:
                    result[fld] = hit
                    taken.add(hit)
                    break
    return result


def load_preset(name_or_file: str, store_lookup=None) -> tuple[str, dict[str, object]]:
    """A mapping by file path, by name saved in the store, or by preset name in data/mappings."""
    path = Path(name_or_file)
    if path.suffix == ".json" and path.exists():
        return path.stem, json.loads(path.read_text(encoding="utf-8"))
    if store_lookup:
        saved = store_lookup(name_or_file)
        if saved is not None:
            return name_or_file, saved
    preset = MAPPINGS_DIR / f"{name_or_file}.json"
    if preset.exists():
        return name_or_file, json.loads(preset.read_text(encoding="utf-8"))
    known = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.json")))
    raise RefusedFile("mapping", f"マッピング「{name_or_file}」が見つかりません。候補: {known}",
                      f"Mapping '{name_or_file}' not found. Known presets: {known}",
                      "", "Pass a preset name, a mapping saved from the upload page, or a .json file.")


def presets() -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(MAPPINGS_DIR.glob("*.json"))}


def resolve(header: list[str], kind: str, spec: dict[str, object] | None = None, name: str = "自動判定") -> Mapping:
    """Turn a preset/saved spec ({field: header or [headers]}) or auto-detection into column indices."""
    columns = auto_map(header, kind)
    if spec:
        wanted = spec.get("fields", spec)
        keys = [normalize_header(h) for h in header]
        explicit: dict[str, int] = {}
        for fld, names in wanted.items():
            if fld not in fields_for(kind):
                continue
            names = [names] if isinstance(names, str) else list(names or [])
            hit = next((keys.index(normalize_header(n)) for n in names if normalize_header(n) in keys), None)
            if hit is not None:
                explicit[fld] = hit
        # Explicit choices win; auto-detected fields fill the rest where their column is free.
        used = set(explicit.values())
        columns = {**{f: i for f, i in columns.items() if i not in used and f not in explicit}, **explicit}
    _check_required(header, kind, columns)
    extras = [i for i, h in enumerate(header) if i not in columns.values() and h.strip()]
    return Mapping(name, kind, columns, header, extras)


def _check_required(header: list[str], kind: str, columns: dict[str, int]) -> None:
    missing = [f for f in required_for(kind) if f not in columns]
    if kind == "cases" and "text" in missing and "subject" in columns:
        missing.remove("text")
    if not missing:
        return
    labels = "・".join(FIELD_LABELS[f] for f in missing)
    seen = "、".join(h for h in header if h) or "（なし）"
    examples = " / ".join(fields_for(kind)[missing[0]][:5])
    code = "no_text_column" if "text" in missing else ("no_date_column" if "received_at" in missing else "missing_field")
    if kind == "cases" and {"case_id", "from_department", "to_department"} <= set(auto_map(header, "events")):
        raise RefusedFile(code, f"このファイルは部署間の移管記録（対応履歴）のようです。ファイルの列: {seen}",
                          f"This looks like a hand-off events export. Columns: {', '.join(h for h in header if h)}",
                          "アップロード画面で種類に「対応履歴（移管記録）」を選んでください。",
                          "Load it with --events.")
    raise RefusedFile(
        code,
        f"必須の列「{labels}」が見つかりません。ファイルの列: {seen}",
        f"Required field(s) {', '.join(missing)} not found. Columns in the file: {', '.join(h for h in header if h)}",
        f"アップロード画面の「列の対応づけ」で該当する列を選ぶか、列名を「{examples}」のいずれかにしてください。",
        f"Map them with --mapping (a preset or a JSON file {{\"{missing[0]}\": \"<your header>\"}}), "
        f"or rename the column to one of: {examples}.",
    )


# -- mappings saved from the upload page (the store's saved_mappings table) ------------------------

def saved_mapping_names(store: Path | str | None = None) -> list[str]:
    """Names of the mappings saved in the store, for the upload page's choice of mapping."""
    with db.reader(store) as con:
        return [r[0] for r in con.execute("SELECT DISTINCT name FROM saved_mappings ORDER BY name").fetchall()]


def saved_mapping(name: str, store: Path | str | None = None) -> dict | None:
    """The mapping last saved under `name` ({field: header}), or None."""
    with db.reader(store) as con:
        row = con.execute("SELECT mapping FROM saved_mappings WHERE name = ? ORDER BY saved_at DESC LIMIT 1",
                          [name]).fetchone()
    return json.loads(row[0]) if row else None


def save_mapping(con: duckdb.DuckDBPyConnection, name: str, kind: str, headers: dict[str, str]) -> None:
    """Inside the load's transaction: keep `headers` under `name`, replacing an older mapping of that name."""
    con.execute("DELETE FROM saved_mappings WHERE name = ?", [name])
    con.execute("INSERT INTO saved_mappings VALUES (?, ?, ?, ?)",
                [name, kind, json.dumps(headers, ensure_ascii=False), dt.datetime.now()])
