"""Who a case and its customer are: the rules a case load follows, and the checks the upload page
shows for each mapped field before loading.

Case identity (one decision per load, reported in LoadResult.identity and .identity_reason_*):

- The export's ID column is used when its header names a case identifier as a whole term
  (mapping.is_case_id_header) *and* its values behave like one: not a row counter (1, 2, 3… in
  file order, as monthly exports number their rows) and not shared by different cases within the
  file (rows with the same ID but a different received date *and* a different text) for more than
  CONFLICT_SHARE of its IDs.
- Otherwise every case gets a generated ID, `R-` + a salted hash of every mapped field and the
  export's other columns (the customer fields through the salted customer key), so only true
  copies of a row merge.
- A row whose ID already belongs to another case — stored, or an earlier row of the file — with
  a different received date *and* a different text is a conflict. Both are kept: the row is stored
  under the derived ID `<ID>~<YYYYMMDD of its received date>`, its export ID kept in `extra`, and
  the load reports how many and which. Nothing is overwritten; see README "Loading exports" for why.

Customer identity: a customer ID or name column with very few distinct values for many rows (more
than FEW_VALUES_ROWS rows per value on average) is an agency, a department or a company, not a
customer: it is not used for customer_key, and the load says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipelines.ingest.mapping import FIELD_LABELS, Mapping
from pipelines.ingest.sources import Source
from pipelines.store import db

# An ID column whose values are the row's position (offset -1, 0 or +1: 0-based, 1-based, Excel's
# row number) in at least this share of rows is a row counter.
COUNTER_SHARE = 0.95
# More than this share of an ID column's values shared by different cases: the column is not an ID.
CONFLICT_SHARE = 0.01
# A customer column judged on at least MIN_ROWS rows, with more than FEW_VALUES_ROWS rows per distinct value.
FEW_VALUES_MIN_ROWS = 20
FEW_VALUES_ROWS = 20
# A "response" column in which at least this share of values are dates holds dates, not responses.
DATE_SHARE = 0.8
CONFLICT_EXAMPLES = 5


@dataclass(frozen=True)
class IdStats:
    """What an ID column's values look like over the rows of a file that have a value in it."""

    rows: int
    distinct: int
    counter_rows: int        # rows whose value is their position in the file
    conflicting_ids: int     # values shared by rows of different cases (different date and text)


@dataclass(frozen=True)
class Verdict:
    """Whether a column may serve as what it was mapped to, and why (Japanese and English)."""

    usable: bool
    ja: str
    en: str


def judge_id_column(header: str, stats: IdStats) -> Verdict:
    """The value half of the case-ID rule (the header half is mapping.is_case_id_header)."""
    generated_ja = "各行の全項目からケースIDを生成します（まったく同じ内容の行だけが重複としてまとめられます）"
    generated_en = "case IDs are generated from every field of each row (only identical rows merge)"
    if stats.rows >= 2 and stats.counter_rows >= COUNTER_SHARE * stats.rows:
        return Verdict(False,
                       f"「{header}」は 1, 2, 3… と行の順に振られた行番号のため、ケース番号として使わず、{generated_ja}。",
                       f"'{header}' numbers the rows 1, 2, 3… in file order (a row counter, which restarts in "
                       f"every export), so it is not used as the case ID; {generated_en}.")
    if stats.conflicting_ids > CONFLICT_SHARE * stats.distinct:
        return Verdict(False,
                       f"「{header}」の値のうち {stats.conflicting_ids:,} 件が、ファイル内で受付日時も内容も異なる別々の"
                       f"ケースに使われているため、ケース番号として使わず、{generated_ja}。",
                       f"{stats.conflicting_ids:,} value(s) of '{header}' are shared by different cases in the file "
                       f"(different received date and text), so it is not used as the case ID; {generated_en}.")
    if stats.conflicting_ids:
        return Verdict(True, f"「{header}」をケース番号として使いました（値はほぼ一意で、行番号でもないため。"
                             f"別々のケースに使われていた {stats.conflicting_ids:,} 件の番号は下記のとおり分けて保存）。",
                       f"'{header}' was used as the case ID (its values are unique in the file but for "
                       f"{stats.conflicting_ids:,} shared by different cases, kept apart as below, and are not row numbers).")
    return Verdict(True, f"「{header}」をケース番号として使いました（値がファイル内で一意で、行番号でもないため）。",
                   f"'{header}' was used as the case ID (its values are unique in the file and are not row numbers).")


def few_values(rows: int, distinct: int) -> bool:
    """Very few distinct values for many rows: an agency or department, not a customer."""
    return rows >= FEW_VALUES_MIN_ROWS and rows > FEW_VALUES_ROWS * max(distinct, 1)


def customer_verdict(fld: str, header: str, rows: int, distinct: int) -> Verdict:
    """Whether a customer ID/name column may identify customers (customer_key, repeat contacts)."""
    if not few_values(rows, distinct):
        return Verdict(True, "", "")
    return Verdict(False,
                   f"「{header}」は {rows:,} 行に {distinct:,} 種類の値しかないため、お客様の識別（再問い合わせの判定）"
                   "に使いません。部署名・機関名・会社名の列ではありませんか。",
                   f"'{header}' ({fld}) has only {distinct:,} distinct value(s) over {rows:,} rows, so it is not used "
                   "to identify customers (repeat contacts); it looks like an agency, department or company column.")


# -- the SQL both the load and the preview run over staged rows -------------------------------------

def id_stats(con: duckdb.DuckDBPyConnection, rows: str) -> IdStats:
    """IdStats over `rows`, a relation (ours) with rowno, source_id, received_at and text_hash
    (rows without a source_id are ignored). Leaves the TEMP table id_groups: each value found on
    more than one row, with its number of rows and its first row's day, text_hash and received_at."""
    total = con.execute(f"SELECT count(*) FROM {rows} WHERE source_id IS NOT NULL").fetchall()[0][0]
    # A row counter needs COUNTER_SHARE of the rows at their position: once more rows than the rest
    # are found elsewhere it is not one, and the scan stops there (a few per cent of a real ID column).
    enough = int(total * (1 - COUNTER_SHARE)) + 1
    off = con.execute(f"""
        SELECT count(*) FROM (SELECT 1 FROM {rows} WHERE source_id IS NOT NULL
                              AND (try_cast(source_id AS BIGINT) - rowno BETWEEN -1 AND 1) IS NOT TRUE LIMIT {enough})
        """).fetchall()[0][0]
    counter = total - off if off < enough else 0
    # The values on several rows first (a plain count), then their first rows: arg_min over every
    # value of a unique column would cost twice as much for nothing.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE id_groups AS
        SELECT source_id, count(*) AS n, arg_min(CAST(received_at AS DATE), rowno) AS day,
               arg_min(text_hash, rowno) AS text_hash, arg_min(received_at, rowno) AS received_at
        FROM {rows} WHERE source_id IN (SELECT source_id FROM {rows} WHERE source_id IS NOT NULL
                                        GROUP BY source_id HAVING count(*) > 1)
        GROUP BY source_id""")
    extra_rows, conflicting = con.execute(f"""
        SELECT (SELECT coalesce(sum(n - 1), 0) FROM id_groups),
               (SELECT count(DISTINCT g.source_id) FROM {rows} g JOIN id_groups f USING (source_id)
                WHERE CAST(g.received_at AS DATE) IS DISTINCT FROM f.day
                  AND g.text_hash IS DISTINCT FROM f.text_hash)""").fetchall()[0]
    return IdStats(total, total - int(extra_rows), counter, conflicting)


def distinct_values(con: duckdb.DuckDBPyConnection, rows: str, column: str, where: str = "TRUE") -> tuple[int, int]:
    """(rows with a value, distinct values) of a column (names ours) of `rows`. The exact count only
    when an estimate says the values might be few: counting a million distinct keys exactly costs
    a hash table as big as the column."""
    filled, estimate = con.execute(
        f"SELECT count({column}), approx_count_distinct({column}) FROM {rows} WHERE {where}").fetchall()[0]
    if not few_values(filled, int(estimate * 0.8)):
        return filled, estimate
    return tuple(con.execute(f"SELECT count({column}), count(DISTINCT {column}) FROM {rows} WHERE {where}").fetchall()[0])


def generated_id_sql(mapping: Mapping) -> str:
    """SQL (over the staged columns of load.stage_cases, with $salt) for a generated case ID:
    every mapped field and every other column of the export, the customer through its salted key.
    md5: an identity, not a secret (the salt keeps the personal parts unguessable), at half sha256's cost."""
    parts = ["strftime(received_at, '%Y-%m-%dT%H:%M:%S')", "replace(text_raw, chr(13), '')", "customer_key",
             "channel", "product", "category", "department", "status", "priority", "cause", "route",
             "CAST(closed_at AS VARCHAR)", "closed_unreadable", "CAST(updated_at AS VARCHAR)",
             "replace(response_raw, chr(13), '')"] + [f"c{i}" for i in mapping.extras]
    joined = ", chr(31), ".join(f"coalesce({p}, '')" for p in parts)
    return f"'R-' || left(md5(concat($salt, chr(31), {joined})), 16)"


# -- what a load decided ----------------------------------------------------------------------------

@dataclass
class Identity:
    """What stage_cases decided: the mapping it staged with (a customer column judged not to be one
    moves to the extras), the case ID column used (None: generated) and why, the customer notes,
    and the rows kept under a derived ID (conflicts)."""

    mapping: Mapping
    column: str | None
    reason_ja: str
    reason_en: str
    customer_notes_ja: list[str] = field(default_factory=list)
    customer_notes_en: list[str] = field(default_factory=list)
    conflicts: int = 0
    conflict_examples: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The ID column's header, or "generated"."""
        return self.column or "generated"


def no_id_column() -> tuple[str, str]:
    return ("ケース番号の列がないため、各行の全項目からケースIDを生成します（まったく同じ内容の行だけが重複としてまとめられます）。",
            ("The file has no case ID column, so case IDs are generated from every field of each row "
            "(only identical rows merge)."))


def conflict_note(conflicts: int, examples: list[dict]) -> tuple[str, str]:
    """(Japanese, English) sentences about the rows kept under a derived ID."""
    if not conflicts:
        return "", ""
    shown_ja = "、".join(
        f"{e['line']} 行目の「{e['case_id']}」（受付 {e['received']}；既存 {e['other_received']}）→「{e['kept_as']}」"
        for e in examples)
    shown_en = "; ".join(
        f"line {e['line']}: '{e['case_id']}' received {e['received']} (the other case: {e['other_received']}) "
        f"kept as '{e['kept_as']}'" for e in examples)
    return ((f"{conflicts:,} 行は、ケース番号が受付日時も内容も異なる別のケースにすでに使われていたため、上書きせず"
            f"派生ID（番号~受付日）で別のケースとして保存しました（例: {shown_ja}）。"),
            (f"{conflicts:,} row(s) carried a case ID that already belongs to a different case (different received "
            f"date and text); nothing was overwritten: each was kept as a separate case under a derived ID "
            f"<ID>~<received date> (e.g. {shown_en})."))


# -- the upload page's checks of a mapping -----------------------------------------------------------

@dataclass(frozen=True)
class FieldCheck:
    """One mapped field as the upload page shows it before loading.

    field     the case field (received_at, text, case_id, …)
    label     its Japanese name (mapping.FIELD_LABELS)
    header    the file's column mapped to it
    samples   up to three distinct non-empty values of that column, in file order, as written
    warnings_ja, warnings_en
              why the choice looks wrong, one sentence each (empty when it looks right): an ID that
              is not unique or is a row counter; a customer column with very few distinct values for
              many rows; a response column holding dates
    """

    field: str
    label: str
    header: str
    samples: tuple[str, ...] = ()
    warnings_ja: tuple[str, ...] = ()
    warnings_en: tuple[str, ...] = ()


PREVIEW_ROWS = 100_000   # the checks read at most this many rows (the load decides on all of them)


def check_fields(con: duckdb.DuckDBPyConnection, mapping: Mapping, rows: str) -> list[FieldCheck]:
    """A FieldCheck per mapped field of a cases mapping, from `rows`: a relation (ours) of the
    file's rows as text, rowno plus columns c0..cN (the macros of store.db must be installed)."""
    cell = {f: f"kk_cell(c{i})" for f, i in mapping.columns.items()}
    text = cell.get("text") or cell.get("subject")
    if text and "subject" in cell and "text" in cell:
        text = f"coalesce({cell['text']}, {cell['subject']})"
    checks = []
    for fld, index in mapping.columns.items():
        header = mapping.header[index]
        values = [v for (v,) in con.execute(
            f"SELECT v FROM (SELECT {cell[fld]} AS v, min(rowno) AS first FROM {rows} WHERE {cell[fld]} IS NOT NULL "
            "GROUP BY v ORDER BY first LIMIT 3)").fetchall()]
        verdicts: list[Verdict] = []
        if fld == "case_id" and "received_at" in cell and text:
            stats = id_stats(con, f"(SELECT rowno, {cell[fld]} AS source_id, kk_ts({cell['received_at']}) AS received_at, "
                                  f"hash({text}) AS text_hash FROM {rows})")
            verdicts.append(judge_id_column(header, stats))
        elif fld in ("customer_id", "customer_name"):
            verdicts.append(customer_verdict(fld, header, *distinct_values(con, rows, cell[fld])))
        elif fld == "response":
            filled, dated = con.execute(f"SELECT count({cell[fld]}), count(kk_ts({cell[fld]})) FROM {rows}").fetchall()[0]
            if filled and dated >= DATE_SHARE * filled:
                verdicts.append(Verdict(
                    False, f"「{header}」の値の多くは日付です（{dated:,} / {filled:,} 行）。対応内容ではなく完了日時や更新日時の列ではありませんか。",
                    f"Most values of '{header}' are dates ({dated:,} of {filled:,}): it looks like a closed or "
                    "updated date, not the desk's response."))
        bad = [v for v in verdicts if not v.usable]
        checks.append(FieldCheck(fld, FIELD_LABELS.get(fld, fld), header, tuple(values),
                                 tuple(v.ja for v in bad), tuple(v.en for v in bad)))
    return checks


def check_source(source: Source, mapping: Mapping) -> list[FieldCheck]:
    """check_fields over the first PREVIEW_ROWS rows of a decoded export, in a throwaway database."""
    if mapping.kind != "cases" or not mapping.columns:
        return []
    con = duckdb.connect(":memory:")
    try:
        db.install_macros(con)
        columns = {f"c{i}": "VARCHAR" for i in range(len(mapping.header))}
        # Lenient: a malformed record is the load's business (it rejects it with a reason), not the preview's.
        # Not parallel: DuckDB's parallel scanner refuses null_padding on files with line breaks in quoted cells.
        con.execute(
            "CREATE TABLE kk_sample AS SELECT row_number() OVER () AS rowno, * FROM (SELECT * FROM read_csv($path, "
            "delim = $delim, quote = '\"', escape = '\"', header = false, skip = $skip, columns = $columns, "
            "auto_detect = false, strict_mode = false, ignore_errors = true, null_padding = true, parallel = false) "
            "LIMIT $limit)",
            {"path": str(source.csv_path), "delim": source.delimiter, "skip": source.header_line, "columns": columns,
             "limit": PREVIEW_ROWS})
        return check_fields(con, mapping, "kk_sample")
    finally:
        con.close()
