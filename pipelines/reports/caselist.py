"""ケース一覧: search the cases behind a number, page through them, export them, open one.

A search is the shared filters (pipelines.store.filters) plus the case list's own drill-down keys, the
ones other pages put in a link's query string (ui.case_link):

    cause      an effective cause (the desk's own when the export gave one, else extracted)
    term       a word: a lemma or surface form in case_terms (表記ゆれ merged); a compound term
               that is not stored as one word is looked for in the text instead
    q          a substring of the (masked) text, case-insensitive, after the same normalisation
    min_level  emotion level at least this (0–3)
    customer   one customer_key: all of that customer's contacts
    case       one case ID
    handoff    「A→B」: cases handed from department A to department B (a hand-off record)
    ids        case IDs separated by commas (at most MAX_IDS): the cases behind a signal of
               経営サマリー (a department's stalled cases, a customer's chain, severe cases not escalated)

`customer`, `case` and `ids` name specific cases, so the shared filters (period included) do not apply
to them. Every value is bound as a parameter.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import duckdb
import pandas as pd

from pipelines.nlp.text import normalize
from pipelines.reports.shared import csv_for_excel
from pipelines.store import db
from pipelines.store import filters as flt
from pipelines.store.definitions import LEVEL_LABELS, create_effective_causes_view, escalated_cases_sql

URL_KEYS = ("cause", "term", "q", "min_level", "customer", "case", "ids", "handoff")
KEY_LABELS = {"cause": "原因", "term": "語", "q": "本文検索", "min_level": "感情レベル", "customer": "顧客",
              "case": "ケース番号", "ids": "指定したケース", "handoff": "移管"}
HANDOFF_ARROW = "→"
MAX_IDS = 200
EXPORT_LIMIT = 100_000
MAX_PAGE_SIZE = 500
MAX_TEXT_KEY = 200   # characters of a search word; longer ones are cut (and the page says so)
LEVELS = LEVEL_LABELS


@dataclass(frozen=True)
class CaseQuery:
    """A case-list search: the shared filters and the drill-down keys (None = not used)."""

    filters: flt.Filters = field(default_factory=flt.Filters)
    cause: str | None = None
    term: str | None = None
    q: str | None = None
    min_level: int | None = None
    customer: str | None = None
    case_id: str | None = None
    case_ids: tuple[str, ...] = ()
    handoff: str | None = None       # 「A→B」

    @property
    def pinned(self) -> bool:
        """True when the search names a customer or cases: the shared filters do not apply."""
        return bool(self.customer or self.case_id or self.case_ids)

    def keys(self) -> dict[str, str]:
        """The drill-down keys in use, as URL query-string values."""
        values = {"cause": self.cause, "term": self.term, "q": self.q, "customer": self.customer,
                  "case": self.case_id, "min_level": None if self.min_level is None else str(self.min_level),
                  "ids": ",".join(self.case_ids) or None, "handoff": self.handoff}
        return {key: values[key] for key in URL_KEYS if values[key] not in (None, "")}


def parse_keys(params: Mapping[str, str], filters: flt.Filters | None = None) -> tuple[CaseQuery, list[str]]:
    """A CaseQuery from URL query-string values, and Japanese messages for values it could not use.

        >>> parse_keys({"min_level": "2", "cause": "梱包不良"})[0].min_level
        2
    """

    problems: list[str] = []
    values: dict[str, object] = {}
    for key in ("cause", "term", "q", "customer", "case", "handoff"):
        raw = (params.get(key) or "").strip()
        if not raw:
            continue
        if len(raw) > MAX_TEXT_KEY:
            problems.append(f"「{KEY_LABELS[key]}」が長すぎるため、先頭 {MAX_TEXT_KEY} 文字で検索しています。")
            raw = raw[:MAX_TEXT_KEY]
        # Stored text and terms are NFKC-normalised: normalise the search the same way
        # (IDs and keys are compared as given).
        values["case_id" if key == "case" else key] = normalize(raw) if key in ("term", "q") else raw
    ids = tuple(dict.fromkeys(i.strip() for i in (params.get("ids") or "").split(",") if i.strip()))
    if len(ids) > MAX_IDS:
        problems.append(f"指定されたケースが多すぎるため、先頭の {MAX_IDS} 件だけを表示しています。")
        ids = ids[:MAX_IDS]
    if ids:
        values["case_ids"] = ids
    raw_level = (params.get("min_level") or "").strip()
    if raw_level:
        try:
            level = int(normalize(raw_level))
        except ValueError:
            level = None
        if level is None or not 0 <= level <= 3:
            problems.append(f"感情レベル「{raw_level[:20]}」は使えません。0〜3 の数字で指定してください"
                            "（0 平静・1 不満・2 怒り・緊急・3 重大）。この条件は外して表示しています。")
        else:
            values["min_level"] = level
    return CaseQuery(filters=filters or flt.Filters(), **values), problems


def _condition(con: duckdb.DuckDBPyConnection, query: CaseQuery) -> tuple[str, list]:
    """The SQL condition on `cases c` for this search, and its parameters."""
    if query.pinned:
        clauses, params = ["TRUE"], []
    else:
        condition, params = flt.where(query.filters, alias="c", con=con)
        clauses = [condition]
    if query.case_id:
        clauses.append("c.case_id = ?")
        params.append(query.case_id)
    if query.handoff and HANDOFF_ARROW in query.handoff:
        giver, taker = query.handoff.split(HANDOFF_ARROW, 1)
        clauses.append("EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.case_id "
                       "AND e.from_department = ? AND e.to_department = ?)")
        params += [giver.strip(), taker.strip()]
    if query.case_ids:
        clauses.append("list_contains(?::VARCHAR[], c.case_id)")
        params.append(list(query.case_ids))
    if query.customer:
        clauses.append("c.customer_key = ?")
        params.append(query.customer)
    if query.cause:
        clauses.append("EXISTS (SELECT 1 FROM kk_causes k WHERE k.case_id = c.case_id AND k.cause = ?)")
        params.append(query.cause)
    if query.term:
        stored = con.execute("SELECT 1 FROM case_terms WHERE lemma = ? OR surface = ? LIMIT 1",
                             [query.term, query.term]).fetchone()
        if stored:
            clauses.append("EXISTS (SELECT 1 FROM case_terms t WHERE t.case_id = c.case_id "
                           "AND (t.lemma = ? OR t.surface = ?))")
            params += [query.term, query.term]
        else:
            # A compound term (二重請求) is stored as its pieces: look for it in the text.
            clauses.append("strpos(lower(c.text), lower(?)) > 0")
            params.append(query.term)
    if query.q:
        clauses.append("strpos(lower(c.text), lower(?)) > 0")
        params.append(query.q)
    if query.min_level:
        clauses.append("EXISTS (SELECT 1 FROM case_scores s WHERE s.case_id = c.case_id AND s.emotion_level >= ?)")
        params.append(query.min_level)
    return " AND ".join(clauses), params


def _match(con: duckdb.DuckDBPyConnection, query: CaseQuery) -> int:
    """kk_match(case_id, received_at): the cases this search finds; returns how many."""
    create_effective_causes_view(con)
    condition, params = _condition(con, query)
    con.execute(f"CREATE OR REPLACE TEMP TABLE kk_match AS SELECT c.case_id, c.received_at FROM cases c "
                f"WHERE {condition}", params)
    return con.execute("SELECT count(*) FROM kk_match").fetchone()[0]


@dataclass(frozen=True)
class CasePage:
    total: int                 # cases the search finds
    page: int                  # 1-based, clamped to the pages there are
    page_size: int
    rows: pd.DataFrame         # this page's cases (columns: see sql/caselist_rows.sql)

    @property
    def pages(self) -> int:
        return max((self.total + self.page_size - 1) // self.page_size, 1)


def search(query: CaseQuery, page: int = 1, page_size: int = 50, store: Path | str | None = None) -> CasePage:
    """One page of the cases a search finds, newest first (LIMIT/OFFSET in DuckDB), and the total."""
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    with db.reader(store) as con:
        total = _match(con, query)
        last_page = max((total + page_size - 1) // page_size, 1)
        page = min(max(int(page), 1), last_page)
        rows = con.execute(db.sql("caselist_rows"), [page_size, (page - 1) * page_size]).df()
    return CasePage(total, page, page_size, rows)


def export_rows(query: CaseQuery, limit: int = EXPORT_LIMIT, store: Path | str | None = None) -> pd.DataFrame:
    """Up to `limit` cases of a search, newest first, with the case list's columns."""
    with db.reader(store) as con:
        _match(con, query)
        return con.execute(db.sql("caselist_rows"), [limit, 0]).df()


def export_csv(query: CaseQuery, limit: int = EXPORT_LIMIT, store: Path | str | None = None) -> bytes:
    """The search as CSV that Excel opens in Japanese (UTF-8 with BOM, formulas neutralised)."""

    return csv_for_excel(export_rows(query, limit, store=store))


# -- one case -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseDetail:
    case_id: str
    fields: dict                # Japanese label → value, in display order
    text: str
    response: str | None
    themes: pd.DataFrame        # テーマ, 根拠
    causes: pd.DataFrame        # 原因, 出所, 根拠
    emotion_level: int | None
    reasons: tuple[str, ...]
    harassment: tuple[str, ...]
    repeat_contacts: int
    customer_key: str | None
    escalated: bool
    events: pd.DataFrame        # 順番, 日時, 移管元, 移管先, アクション, メモ, 記録元


def detail(case_id: str, store: Path | str | None = None) -> CaseDetail | None:
    """Everything stored about one case, its hand-offs included; None when there is no such case."""
    with db.reader(store) as con:
        create_effective_causes_view(con)
        row = con.execute("""
            SELECT c.case_id, c.received_at, c.channel, c.product, c.category, c.department, c.status, c.priority,
                   c.closed_at, c.updated_at, c.cause, c.text, c.response, c.customer_key, c.extra,
                   s.emotion_level, s.reasons, s.harassment, s.repeat_contacts
            FROM cases c LEFT JOIN case_scores s USING (case_id) WHERE c.case_id = ?""", [case_id]).fetchone()
        if row is None:
            return None
        themes = con.execute("""
            SELECT coalesce(t.name, ct.theme_id) AS テーマ, array_to_string(ct.evidence, '・') AS 根拠
            FROM case_themes ct LEFT JOIN themes t USING (theme_id) WHERE ct.case_id = ?
            ORDER BY t.position NULLS LAST, ct.theme_id""", [case_id]).df()
        causes = con.execute("""
            SELECT cause AS 原因, CASE source WHEN 'export' THEN '窓口の記録' ELSE '本文から抽出' END AS 出所,
                   array_to_string(evidence, '・') AS 根拠
            FROM kk_causes WHERE case_id = ? ORDER BY cause""", [case_id]).df()
        events = con.execute("""
            SELECT seq AS 順番, "at" AS 日時, from_department AS 移管元, to_department AS 移管先, action AS アクション,
                   note AS メモ, CASE source WHEN 'route' THEN '経路の列' ELSE '対応履歴' END AS 記録元
            FROM case_events WHERE case_id = ? ORDER BY seq, "at" NULLS LAST""", [case_id]).df()
        escalated_sql, escalated_params = escalated_cases_sql()
        escalated = con.execute(f"SELECT count(*) FROM ({escalated_sql}) e WHERE e.case_id = ?",
                                [*escalated_params, case_id]).fetchone()[0] > 0
    (cid, received_at, channel, product, category, department, status, priority, closed_at, updated_at,
     own_cause, text, response, customer_key, extra, level, reasons, harassment, repeat) = row
    fields = {"ケース番号": cid, "受付日時": received_at, "チャネル": channel, "商品": product, "分類": category,
              "部署": department, "状態": status, "優先度": priority, "完了日時": closed_at, "最終更新": updated_at,
              "窓口の原因記録": own_cause}
    fields.update(_extra_fields(extra))
    return CaseDetail(cid, {k: v for k, v in fields.items() if v not in (None, "")}, text, response, themes, causes,
                      level, tuple(reasons or ()), tuple(harassment or ()), repeat or 0, customer_key, escalated,
                      events)


def _extra_fields(extra: str | None) -> dict[str, str]:
    """The export's other columns (JSON, already masked) as label → text."""

    if not extra:
        return {}
    try:
        values = json.loads(extra)
    except ValueError:
        return {}
    if not isinstance(values, dict):
        return {}
    return {str(k): str(v) for k, v in values.items() if v not in (None, "")}
