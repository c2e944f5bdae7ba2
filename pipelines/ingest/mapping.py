"""Header mapping: which column of an export holds which field of the case store.

Presets for common CRM exports live in data/mappings/*.json; mappings users save from the upload
page live in the store (saved_mappings). A mapping is {field: header as written in the file}.
"""
from __future__ import annotations

import csv
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

# Fields of the cases export, each with the headers that mean it (Japanese and English: CRM, help
# desk, ticket and public complaint exports). Headers are compared as terms (header_terms): a plain
# alias also matches a longer header that contains it as whole words ("description" in "Problem
# Description", 受付日時 in 受付日時（JST）); an alias written "=…" matches only the whole header,
# because inside a longer one it means something else ("Date sent to company", "Street Name",
# "Timely response?"). The case ID is not a list of aliases but a rule: see is_case_id_header.
CASE_FIELDS: dict[str, tuple[str, ...]] = {
    "case_id": ("受付番号", "問い合わせ番号", "ケース番号", "チケットID", "受付No", "管理番号", "レコード番号", "Case Number",
                "Ticket ID", "Complaint ID", "Incident Number", "number", "Id"),
    "received_at": ("受付日時", "受付日", "作成日", "作成日時", "発生日", "発生日時", "問い合わせ日", "問い合わせ日時",
                    "登録日時", "登録日", "受信日時", "受付年月日", "相談受付日", "申出日", "相談日", "=タイムスタンプ",
                    "=日付", "=日時", "created at", "created date", "date created", "creation date", "created on",
                    "opened at", "opened date", "date opened", "date time opened", "=opened", "date received",
                    "received date", "received at", "=received", "submitted at", "date submitted", "reported date",
                    "=created", "=timestamp", "=date", "sys created on"),
    "text": ("問い合わせ内容", "お問い合わせ内容", "内容", "説明", "本文", "相談内容", "苦情内容", "ご意見", "ご意見内容", "お客様の声",
             "申出内容", "申し出内容", "内容詳細", "問い合わせ詳細", "相談概要", "苦情概要", "=詳細", "description",
             "consumer complaint narrative", "complaint narrative", "narrative", "complaint description",
             "problem description", "issue description", "=body", "=comment", "=comments", "=message", "=descriptor",
             "=text", "=content", "=question", "=inquiry", "=details"),
    "subject": ("件名", "題名", "タイトル", "要件", "subject", "short description", "=title", "=summary", "=topic"),
    "channel": ("受付チャネル", "受付方法", "チャネル", "チャネル名", "発生源", "受付経路", "問い合わせ方法", "入電経路",
                "受付媒体", "=via", "channel", "=source", "=origin", "case origin", "submitted via", "contact type",
                "received via", "=medium"),
    "customer_id": ("顧客ID", "顧客番号", "顧客コード", "会員番号", "会員ID", "お客様番号", "お客様ID", "customer id",
                    "customer number", "customer no", "requester id", "account id", "account number", "contact id",
                    "member id", "client id"),
    "customer_name": ("氏名", "お客様氏名", "お客様名", "お名前", "顧客名", "名前", "申出者", "申出者名", "相談者名",
                      "取引先名", "取引先", "取引先責任者名", "=requester", "requester name", "customer name",
                      "contact name", "consumer name", "complainant name", "=complainant", "=caller", "caller id",
                      "caller name", "=customer", "=contact", "=name", "account name", "=account", "full name"),
    "customer_phone": ("電話番号", "=電話", "tel", "phone", "連絡先電話番号", "携帯番号", "携帯電話", "=連絡先",
                       "requester phone", "phone number", "telephone"),
    "customer_email": ("メールアドレス", "=メール", "e-mail", "email", "=mail", "requester email", "email address",
                       "連絡先メールアドレス"),
    "product": ("商品名", "製品", "製品名", "商品", "品名", "対象商品", "=サービス名", "=サービス", "product",
                "product name", "=item", "ブランド", "対象製品", "=cmdb ci", "configuration item", "=brand"),
    "category": ("分類", "種別", "カテゴリ", "カテゴリー", "区分", "問い合わせ種別", "問い合わせ区分", "大分類", "受付区分",
                 "内容区分", "相談種別", "苦情分類", "=type", "category", "case type", "ticket type", "complaint type",
                 "issue type", "problem type", "request type", "=issue"),
    "department": ("担当部署", "部署", "担当部門", "担当課", "所有者: 氏名", "所有者", "所有者名", "担当グループ",
                   "対応部署", "=group", "assignment group", "owner department", "=担当", "担当者", "対応者",
                   "=owner", "case owner", "owner name", "=assignee", "assigned to", "=agency", "=department",
                   "=team"),
    "status": ("対応状況", "状況", "状態", "ステータス", "status", "進捗", "進捗状況", "対応ステータス", "処理状況",
               "incident state", "ticket state", "case state"),
    "priority": ("優先度", "重要度", "緊急度", "priority", "=severity", "重要度ランク", "=レベル"),
    "closed_at": ("完了日", "完了日時", "解決日", "解決日時", "終了日", "終了日時", "クローズ日", "クローズ日時",
                  "対応完了日", "完了年月日", "solved at", "closed at", "closed date", "date closed", "date time closed",
                  "closed on", "resolved at", "resolved date", "=closed"),
    "updated_at": ("更新日時", "最終更新日", "最終更新日時", "更新日", "updated at", "last modified date", "last modified",
                   "last updated", "modified at", "updated on", "sys updated on", "updated date", "=updated"),
    "cause": ("原因", "発生原因", "原因分類", "原因区分", "cause", "root cause", "真因", "case reason"),
    "response": ("対応内容", "=対応", "回答内容", "処置内容", "対応履歴", "対応結果", "回答", "対応記録", "処置",
                 "=resolution", "=solution", "close notes", "resolution notes", "resolution description",
                 "company response to consumer", "company response", "company public response", "=response",
                 "=answer"),
    "route": ("対応経路", "経路", "移管経路", "転送経路", "エスカレーション経路", "route", "routing", "handoff route"),
}
CASE_REQUIRED = ("received_at", "text")

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "case_id": CASE_FIELDS["case_id"],
    "at": ("日時", "日付", "移管日時", "対応日時", "実施日時", "発生日時", "記録日時", "更新日時", "date", "at", "timestamp",
           "created at", "time"),
    "from_department": ("移管元", "移管元部署", "送信元", "依頼元", "元部署", "=from", "from department", "from group"),
    "to_department": ("移管先", "移管先部署", "送信先", "依頼先", "先部署", "担当部署", "=to", "to department", "to group"),
    "action": ("アクション", "対応区分", "区分", "種別", "action", "event", "イベント", "処理"),
    "note": ("メモ", "備考", "コメント", "note", "memo", "内容", "詳細", "comment"),
}
EVENT_REQUIRED = ("case_id", "to_department")

COUNTERMEASURE_FIELDS: dict[str, tuple[str, ...]] = {
    "implemented_on": ("実施日", "対策日", "実施日時", "開始日", "日付", "date", "implemented on"),
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


# -- headers as terms ------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A term: a run of Latin letters/digits, a '#', or a run of Japanese (kana, kanji, the long-vowel
# mark; not the middle dot ・, which separates terms as in ご意見・ご要望).
_TERM = re.compile(r"[a-z0-9]+|#|[\u3041-\u309f\u30a0-\u30fa\u30fc-\u30ff\u3400-\u9fff\uf900-\ufaff々〆]+")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# Spellings of 問い合わせ that desks use interchangeably.
_TOIAWASE = re.compile(r"問合わせ|問い合せ|問合せ")


def header_terms(header: str) -> tuple[str, ...]:
    """A header as lower-case terms, so that headers compare by whole words however they are written.

    camelCase, snake_case, spaces, slashes and brackets separate terms; Latin and Japanese runs are
    separate terms; a leading お/ご is dropped and 問合せ is spelled 問い合わせ:

    >>> header_terms("Date/Time Opened"), header_terms("opened_at"), header_terms("CaseNumber")
    (('date', 'time', 'opened'), ('opened', 'at'), ('case', 'number'))
    >>> header_terms("お問合せ内容（詳細）"), header_terms("受付No.")
    (('問い合わせ内容', '詳細'), ('受付', 'no'))
    """
    text = unicodedata.normalize("NFKC", header or "").strip()
    text = _TOIAWASE.sub("問い合わせ", _CAMEL.sub(" ", text)).lower()
    terms = []
    for term in _TERM.findall(text):
        if len(term) >= 3 and term[0] in "おご" and _JAPANESE.match(term):
            term = term[1:]
        terms.append(term)
    return tuple(terms)


@dataclass(frozen=True)
class _Alias:
    terms: tuple[str, ...]
    whole_only: bool

    def exact(self, terms: tuple[str, ...]) -> bool:
        # Joined, so 'CreatedAt', 'Created at' and 'createdat' are the same header.
        return "".join(terms) == "".join(self.terms)

    def inside(self, terms: tuple[str, ...]) -> bool:
        """The alias is a run of whole terms of a longer header; a Japanese alias of three or more
        characters may also begin or end a longer Japanese term (問い合わせ内容詳細, 初回受付日時)."""
        if self.whole_only or not terms:
            return False
        size = len(self.terms)
        if any(terms[i:i + size] == self.terms for i in range(len(terms) - size + 1)):
            return True
        word = self.terms[0]
        return (size == 1 and len(word) >= 3 and bool(_JAPANESE.match(word))
                and any(t != word and (t.startswith(word) or t.endswith(word)) for t in terms))


def _aliases(names: tuple[str, ...]) -> tuple[_Alias, ...]:
    return tuple(_Alias(header_terms(n.removeprefix("=")), n.startswith("=")) for n in names)


# What a case ID header is: an identifier word after a noun that names a case, or one of a few
# whole headers. 注文番号, 郵便番号, "Caller ID", "incident_zip" are not: their noun names something else.
_CASE_NOUNS = {
    "受付", "問い合わせ", "ケース", "案件", "チケット", "相談", "苦情", "申出", "申し出", "事案", "インシデント", "レコード",
    "整理", "受付票", "問い合わせ票", "case", "ticket", "complaint", "incident", "inquiry", "enquiry", "request",
    "service request", "sr", "issue", "record", "report", "reference", "claim"}
_ID_WORDS = {"番号", "no", "id", "number", "num", "nr", "key", "#", "ナンバー", "番", "コード", "code"}
_WHOLE_ID_HEADERS = {"id", "no", "number", "key", "#", "番号", "uniquekey", "管理番号", "整理番号", "受付票番号"}
_NEVER_ID = {"行番号", "連番", "row", "rownumber", "rowno", "line", "linenumber", "行"}


def is_case_id_header(header: str) -> bool:
    """The header names a case identifier as a whole term (受付番号, チケットID, Case Number, Complaint ID,
    "Unique Key", ID), not merely contains one (注文番号, 郵便番号, "Caller ID", "incident_zip").

    >>> [is_case_id_header(h) for h in ("問い合わせ番号", "Ticket ID", "注文番号", "Caller ID", "Phone No")]
    [True, True, False, False, False]
    """
    terms = header_terms(header)
    joined = "".join(terms)
    if not terms or joined in _NEVER_ID:
        return False
    if joined in _WHOLE_ID_HEADERS:
        return True
    if len(terms) >= 2 and terms[-1] in _ID_WORDS:
        return " ".join(terms[:-1]) in _CASE_NOUNS or "".join(terms[:-1]) in _CASE_NOUNS
    # One Japanese term: a case noun followed by an ID word (受付番号, 問い合わせ番号, 受付no is two terms).
    return len(terms) == 1 and any(joined == noun + word for noun in _CASE_NOUNS for word in _ID_WORDS
                                   if _JAPANESE.match(noun))


def fields_for(kind: str) -> dict[str, tuple[str, ...]]:
    return {"events": EVENT_FIELDS, "countermeasures": COUNTERMEASURE_FIELDS}.get(kind, CASE_FIELDS)


def required_for(kind: str) -> tuple[str, ...]:
    return {"events": EVENT_REQUIRED, "countermeasures": COUNTERMEASURE_REQUIRED}.get(kind, CASE_REQUIRED)


_ALIASES = {kind: {f: _aliases(names) for f, names in fields_for(kind).items()}
            for kind in ("cases", "events", "countermeasures")}


def _matches(fld: str, terms: tuple[str, ...], header: str, kind: str, exact: bool) -> bool:
    if fld == "case_id":
        return exact and is_case_id_header(header)
    return any(a.exact(terms) if exact else a.inside(terms) for a in _ALIASES[kind][fld])


def roles_of(header: str, kind: str = "cases") -> list[str]:
    """The fields a header could be, best first (exact matches, then headers containing an alias)."""
    terms = header_terms(header)
    roles = [f for f in fields_for(kind) if _matches(f, terms, header, kind, True)]
    return roles + [f for f in fields_for(kind) if f not in roles and _matches(f, terms, header, kind, False)]


def header_score(row: list[str]) -> int:
    """How many cells of a row are known header names (used to find the header row). A long cell
    counts only when it is a header as a whole: a sentence in a data row may contain "product"."""
    score = 0
    for cell in row:
        terms = header_terms(cell)
        if not terms or len(cell) > 40:
            continue
        exact = any(_matches(f, terms, cell, "cases", True) for f in CASE_FIELDS)
        score += exact or (len(terms) <= 4 and any(_matches(f, terms, cell, "cases", False) for f in CASE_FIELDS))
    return score


@dataclass(frozen=True)
class Mapping:
    """A resolved mapping: field → column index in the file, plus the headers kept as extras."""

    name: str
    kind: str
    columns: dict[str, int]
    header: list[str]
    extras: list[int] = field(default_factory=list)
    unset: tuple[str, ...] = ()      # fields the spec said not to map (null or [])

    def as_headers(self) -> dict[str, str]:
        return {f: self.header[i] for f, i in self.columns.items()}

    def as_spec(self) -> dict[str, str | None]:
        """{field: header}, and None for each field the mapping unset: a saved mapping keeps both,
        so next month's load leaves those fields unmapped too."""
        return {**self.as_headers(), **{f: None for f in self.unset}}


def auto_map(header: list[str], kind: str = "cases") -> dict[str, int]:
    """Guess field → column: headers that are an alias as a whole first, then headers that contain
    one as whole terms; each column serves one field, fields and aliases in the order listed."""
    terms = [header_terms(h) for h in header]
    taken: set[int] = set()
    result: dict[str, int] = {}
    for exact in (True, False):
        for fld in fields_for(kind):
            if fld in result:
                continue
            hit = next((i for i, h in enumerate(header) if i not in taken and terms[i]
                        and _matches(fld, terms[i], h, kind, exact)), None) if fld == "case_id" else \
                next((i for alias in _ALIASES[kind][fld] for i, t in enumerate(terms) if i not in taken and t
                      and (alias.exact(t) if exact else alias.inside(t))), None)
            if hit is not None:
                result[fld] = hit
                taken.add(hit)
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


def resolve(header: list[str], kind: str, spec: dict[str, object] | None = None, name: str = "自動判定",
            sample: list[list[str]] | None = None) -> Mapping:
    """Turn a preset/saved spec ({field: header or [headers]}) or auto-detection into column indices.

    In a spec, `null` or `[]` for a field means "not mapped": it also removes what auto-detection
    would choose ({"customer_name": null} when the column it finds is an agency, not a person).
    `sample` (the first data rows) only makes a refusal say what each column looks like."""
    columns = auto_map(header, kind)
    unset: set[str] = set()
    if spec:
        wanted = spec.get("fields", spec)
        keys = [normalize_header(h) for h in header]
        explicit: dict[str, int] = {}
        for fld, names in wanted.items():
            if fld not in fields_for(kind):
                continue
            names = [names] if isinstance(names, str) else list(names or [])
            if not names:
                unset.add(fld)
                continue
            hit = next((keys.index(normalize_header(n)) for n in names if normalize_header(n) in keys), None)
            if hit is not None:
                explicit[fld] = hit
        # Explicit choices win; auto-detected fields fill the rest where their column is free.
        used = set(explicit.values())
        columns = {**{f: i for f, i in columns.items() if i not in used and f not in explicit and f not in unset},
                   **explicit}
    _check_required(header, kind, columns, sample)
    extras = [i for i, h in enumerate(header) if i not in columns.values() and h.strip()]
    return Mapping(name, kind, columns, header, extras, tuple(sorted(unset)))


def _examples(kind: str, fld: str) -> str:
    names = [n.removeprefix("=") for n in fields_for(kind)[fld]]
    japanese = [n for n in names if _JAPANESE.search(n)][:4]
    english = [n for n in names if not _JAPANESE.search(n)][:2]
    return " / ".join(japanese + english)


_DATE_LIKE = re.compile(r"^\s*(\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}|\d{1,2}/\d{1,2}/\d{4}|(令和|平成|昭和)\s*(元|\d{1,2})\s*年"
                        r"|[RHS]\d{1,2}\.\d{1,2}\.\d{1,2})")
_DATE_FIELDS = ("received_at", "closed_at", "updated_at")
_TEXT_FIELDS = ("text", "response")


def column_roles(header: list[str], kind: str = "cases", sample: list[list[str]] | None = None) -> list[list[str]]:
    """Per column, the fields it could be: by its header's words, then (given sample rows) by what it
    holds — dates could be 受付日時/完了日時/更新日時, sentences 問い合わせ内容/対応内容."""
    roles = []
    for index, head in enumerate(header):
        found = roles_of(head, kind)
        values = [row[index].strip() for row in sample or [] if index < len(row) and row[index].strip()]
        if values and kind == "cases":
            if sum(bool(_DATE_LIKE.match(v)) for v in values) >= 0.8 * len(values):
                found += [f for f in _DATE_FIELDS if f not in found]
            elif sorted(len(v) for v in values)[len(values) // 2] >= 15:
                found += [f for f in _TEXT_FIELDS if f not in found]
        roles.append(found)
    return roles


def _roles_text(header: list[str], kind: str, sample: list[list[str]] | None) -> tuple[str, str]:
    """(Japanese, English): each column with the fields it could be."""
    pairs = [(h, r) for h, r in zip(header, column_roles(header, kind, sample)) if h]
    ja = "、".join(f"{h}→{'・'.join(FIELD_LABELS[f] for f in r) if r else '？'}" for h, r in pairs)
    en = "; ".join(f"{h} → {'/'.join(r) if r else '?'}" for h, r in pairs)
    return ja, en


def _check_required(header: list[str], kind: str, columns: dict[str, int], sample: list[list[str]] | None) -> None:
    missing = [f for f in required_for(kind) if f not in columns]
    if kind == "cases" and "text" in missing and "subject" in columns:
        missing.remove("text")
    if not missing:
        return
    labels = "・".join(FIELD_LABELS[f] for f in missing)
    seen = "、".join(h for h in header if h) or "（なし）"
    examples = _examples(kind, missing[0])
    code = "no_text_column" if "text" in missing else ("no_date_column" if "received_at" in missing else "missing_field")
    if kind == "cases" and {"case_id", "from_department", "to_department"} <= set(auto_map(header, "events")):
        raise RefusedFile(code, f"このファイルは部署間の移管記録（対応履歴）のようです。ファイルの列: {seen}",
                          f"This looks like a hand-off events export. Columns: {', '.join(h for h in header if h)}",
                          "アップロード画面で種類に「対応履歴（移管記録）」を選んでください。",
                          "Load it with --events.")
    roles_ja, roles_en = _roles_text(header, kind, sample)
    raise RefusedFile(
        code,
        f"必須の列「{labels}」が見つかりません。ファイルの列: {seen}"
        + (f"\n列ごとの役割の候補（？は判別できない列）: {roles_ja}" if roles_ja else ""),
        f"Required field(s) {', '.join(missing)} not found. Columns in the file: {', '.join(h for h in header if h)}"
        + (f"\nWhat each column could be (? = unknown): {roles_en}" if roles_en else ""),
        f"アップロード画面の「列の対応づけ」で該当する列を選ぶか、列名を「{examples}」のいずれかにしてください。",
        f"Map them with --mapping (a preset or a JSON file {{\"{missing[0]}\": \"<your header>\"}}), "
        f"or rename the column to one of: {examples}.",
    )


def sample_rows(csv_path: Path, delimiter: str, header_line: int, limit: int = 50) -> list[list[str]]:
    """The first data rows of a decoded export (a refusal describes its columns from them)."""
    rows: list[list[str]] = []
    try:
        with Path(csv_path).open(encoding="utf-8-sig", newline="") as fh:
            for number, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
                if number > header_line:
                    rows.append(row)
                if len(rows) >= limit:
                    break
    except (OSError, csv.Error, UnicodeDecodeError):
        pass  # only a hint for a refusal: without it the refusal names the columns by header alone
    return rows


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


def save_mapping(con: duckdb.DuckDBPyConnection, name: str, kind: str, headers: dict[str, str | None]) -> None:
    """Inside the load's transaction: keep `headers` under `name`, replacing an older mapping of that
    name ({field: header}; None for a field the mapping unset: Mapping.as_spec)."""
    con.execute("DELETE FROM saved_mappings WHERE name = ?", [name])
    con.execute("INSERT INTO saved_mappings VALUES (?, ?, ?, ?)",
                [name, kind, json.dumps(headers, ensure_ascii=False), dt.datetime.now()])
