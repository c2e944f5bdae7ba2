"""Countermeasure log (再発防止策): what was done, when, against which cause, theme or product."""
from __future__ import annotations

import datetime as dt
import os

import duckdb

from pipelines.ingest import staging
from pipelines.ingest.mapping import Mapping
from pipelines.nlp.pii import mask_column, mask_text
from pipelines.nlp.text import normalize
from pipelines.store import db
from pipelines.store.errors import KakehashiError


def prepare_countermeasures(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """prep: every staged row with its parsed fields and, for a bad row, the reason."""
    c = lambda f: staging.cell(mapping, f)  # noqa: E731
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE prep AS
    SELECT rowno, line, CAST(kk_ts({c('implemented_on')}) AS DATE) AS implemented_on, {c('target')} AS target,
           {c('department')} AS department, kk_mask(kk_fold({c('description')})) AS description,
           CASE
               WHEN {c('implemented_on')} IS NULL THEN '実施日が空です'
               WHEN kk_ts({c('implemented_on')}) IS NULL THEN '実施日「' || left({c('implemented_on')}, 40) || '」を日付として読めません'
               WHEN {c('target')} IS NULL THEN '対象（原因・テーマ・商品）が空です'
           END AS reason
    FROM raw""")
    # The department is a short cell like a case's: one that is wholly a name, phone or e-mail (a
    # person written where the department belongs) is masked whole, as in cases (pii.mask_column).
    cells, joins, registered = staging.short_cell_masks(con, "prep", [], {"department": "prep.department"})
    if joins:
        con.execute(f"CREATE OR REPLACE TEMP TABLE prep_masked AS "
                    f"SELECT prep.* REPLACE ({cells['department']} AS department) FROM prep {joins}")
        con.execute("DROP TABLE prep")
        con.execute("ALTER TABLE prep_masked RENAME TO prep")
    staging.unregister_all(con, registered)


def load_countermeasures(con: duckdb.DuckDBPyConnection, mapping: Mapping, result) -> None:
    """Insert countermeasure rows; the same (date, target, description) already stored is unchanged."""
    prepare_countermeasures(con, mapping)
    con.execute("""
    CREATE OR REPLACE TEMP TABLE todo AS
    WITH valid AS (SELECT *, row_number() OVER (PARTITION BY implemented_on, target, description ORDER BY rowno DESC) AS nth
                   FROM prep WHERE reason IS NULL)
    SELECT v.*, NOT EXISTS (SELECT 1 FROM countermeasures c WHERE c.implemented_on = v.implemented_on
                            AND c.target = v.target AND c.description IS NOT DISTINCT FROM v.description) AS is_new
    FROM valid v WHERE nth = 1""")
    staging.write_rejects(con, mapping, result.batch_id)
    con.execute("INSERT INTO countermeasures SELECT implemented_on, target, department, description, ? FROM todo "
                "WHERE is_new ORDER BY implemented_on", [result.batch_id])
    staging.count_new_unchanged(con, result)


MAX_TARGET_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
FORM_SOURCE = "再発ページから登録"


def record_countermeasure(implemented_on: dt.date | None, target: str | None, department: str | None = None,
                          description: str | None = None, store=None, mask: bool = True) -> bool:
    """Record one countermeasure entered on the recurrence page, through the one writer path.
    The description is masked (names, phone numbers, …; mask=False when the caller already did);
    the entry is listed in 取り込み履歴 as its own batch. Returns False when the same (date,
    target, description) is already recorded.

    >>> record_countermeasure(dt.date(2025, 4, 4), "キャップ不良", "製造部", "締め確認を強化")  # doctest: +SKIP
    True
    """
    implemented_on, target, department, description = checked_entry(implemented_on, target, department, description)
    masked = mask_description(description) if mask else description
    if mask and department:
        department = mask_column([department]).get(department, department)
    now = dt.datetime.now()
    with db.writer(store) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            exists = con.execute(
                "SELECT count(*) > 0 FROM countermeasures WHERE implemented_on = ? AND target = ? "
                "AND description IS NOT DISTINCT FROM ?", [implemented_on, target, masked]).fetchall()[0][0]
            batch_id = con.execute(
                "INSERT INTO import_batches (kind, file_name, status, rows_read, rows_inserted, rows_updated, "
                "rows_unchanged, rows_duplicate, rows_rejected, started_at, finished_at, pid) "
                "VALUES ('countermeasures', ?, 'done', 1, ?, 0, ?, 0, 0, ?, ?, ?) RETURNING batch_id",
                [FORM_SOURCE, 0 if exists else 1, 1 if exists else 0, now, now, os.getpid()]).fetchall()[0][0]
            if not exists:
                con.execute("INSERT INTO countermeasures VALUES (?, ?, ?, ?, ?)",
                            [implemented_on, target, department, masked, batch_id])
            db.bump_version(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return not exists


def mask_description(description: str | None) -> str | None:
    """A description as stored: NFKC, personal data masked (names too, unlike the CSV import's regexes)."""
    return mask_text(description).text if description else None


def checked_entry(implemented_on: dt.date | None, target: str | None, department: str | None,
                   description: str | None) -> tuple[dt.date, str, str | None, str | None]:
    """The form's values cleaned, or a KakehashiError that says what to fix (Japanese for the UI)."""
    if isinstance(implemented_on, dt.datetime):
        implemented_on = implemented_on.date()
    if not isinstance(implemented_on, dt.date):
        raise KakehashiError("countermeasure_date", "実施日が入力されていません。", "The implementation date is missing.",
                             "再発防止策を実施した日（例: 2025/04/04）を選んでください。", "Pass a date such as 2025-04-04.")
    if not 1980 <= implemented_on.year <= 2100:
        raise KakehashiError("countermeasure_date", f"実施日 {implemented_on:%Y/%m/%d} は範囲外です。",
                             f"Implementation date {implemented_on} is out of range.",
                             "1980年から2100年までの日付を選んでください。", "Use a date between 1980 and 2100.")
    target = " ".join(normalize(target or "").split())
    if not target:
        raise KakehashiError("countermeasure_target", "対象が入力されていません。", "The target is missing.",
                             "対策の対象にした原因・テーマ・商品の名前を選ぶか入力してください。",
                             "Name the cause, theme or product the countermeasure addresses.")
    if len(target) > MAX_TARGET_CHARS:
        raise KakehashiError("countermeasure_target", f"対象が長すぎます（{len(target)}文字）。",
                             f"The target is too long ({len(target)} characters).",
                             f"原因・テーマ・商品の名前を{MAX_TARGET_CHARS}文字以内で入力してください。内容は「内容」欄へ。",
                             f"Use at most {MAX_TARGET_CHARS} characters; put details in the description.")
    description = (description or "").strip() or None
    if description and len(description) > MAX_DESCRIPTION_CHARS:
        raise KakehashiError("countermeasure_description", f"内容が長すぎます（{len(description)}文字）。",
                             f"The description is too long ({len(description)} characters).",
                             f"{MAX_DESCRIPTION_CHARS}文字以内にまとめてください。",
                             f"Use at most {MAX_DESCRIPTION_CHARS} characters.")
    department = " ".join(normalize(department or "").split()) or None
    return implemented_on, target, department, description
