"""What the upload page shows before loading: format, header, first rows, mapping, validation."""
from __future__ import annotations

import csv
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.ingest.countermeasures import prepare_countermeasures
from pipelines.ingest.events import prepare_events
from pipelines.ingest.identity import FieldCheck, check_source
from pipelines.ingest.load import stage_cases
from pipelines.ingest.mapping import FIELD_LABELS, Mapping, auto_map, fields_for, required_for, resolve
from pipelines.ingest.sources import Source, open_source
from pipelines.ingest.staging import stage
from pipelines.store import db
from pipelines.store.errors import KakehashiError

PREVIEW_ROWS = 20


@dataclass
class Inspection:
    source: Source
    preview: pd.DataFrame
    auto: dict[str, str]                 # field → header guessed automatically
    problem: str = ""                    # Japanese: why it cannot load as mapped (missing required field)
    # Each automatically mapped field with three sample values and warnings (identity.FieldCheck).
    checks: list[FieldCheck] = field(default_factory=list)

    @property
    def warnings(self) -> dict[str, list[str]]:
        """field → Japanese warnings about the automatic choice for it (only fields that have some)."""
        return {c.field: list(c.warnings_ja) for c in self.checks if c.warnings_ja}


@dataclass
class Validation:
    rows: int
    valid: int
    duplicates: int
    reasons: dict[str, int] = field(default_factory=dict)
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)   # 行番号, 理由, 元の行 (JSON, or None) of rejected rows


def inspect_file(path: Path, kind: str = "cases", display_name: str | None = None) -> Inspection:
    """Decode, find the header and guess the mapping (raises KakehashiError when refused)."""
    with tempfile.TemporaryDirectory(prefix="kakehashi-preview-") as tmp:
        source = open_source(path, Path(tmp), display_name)
        preview = _first_rows(source)
        columns = auto_map(source.header, kind)
        checks = check_source(source, Mapping("自動判定", kind, columns, source.header))

    auto = {f: source.header[i] for f, i in columns.items()}
    problem = ""
    try:
        resolve(source.header, kind, None)
    except KakehashiError as exc:
        problem = exc.message_ja()
    return Inspection(source, preview, auto, problem, checks)


def check_mapping(path: Path, kind: str, mapping_headers: dict[str, str | None],
                  display_name: str | None = None) -> list[FieldCheck]:
    """Three sample values and warnings for each field of a mapping chosen on the page (the
    Inspection's checks are for the automatic mapping); [] for events and countermeasures."""
    with tempfile.TemporaryDirectory(prefix="kakehashi-check-") as tmp:
        source = open_source(path, Path(tmp), display_name)
        columns = {f: source.header.index(h) for f, h in mapping_headers.items() if h in source.header}
        return check_source(source, Mapping("確認", kind, columns, source.header))


def _first_rows(source: Source) -> pd.DataFrame:
    rows: list[list[str]] = []
    with source.csv_path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter)
        for index, row in enumerate(reader, start=1):
            if index <= source.header_line:
                continue
            rows.append(row)
            if len(rows) >= PREVIEW_ROWS:
                break
    width = len(source.header)
    names = [h or f"列{i + 1}" for i, h in enumerate(source.header)]
    names = [n if names.count(n) == 1 else f"{n}({i + 1})" for i, n in enumerate(names)]
    return pd.DataFrame([(r + [""] * width)[:width] for r in rows], columns=names, dtype="string")


def validate_file(path: Path, kind: str, mapping_headers: dict[str, str], display_name: str | None = None) -> Validation:
    """A dry run of mapping and validation (no masking or tokenization) in a throwaway database."""
    with tempfile.TemporaryDirectory(prefix="kakehashi-validate-") as tmp:
        source = open_source(path, Path(tmp), display_name)
        mapping = resolve(source.header, kind, mapping_headers, "確認")
        con = duckdb.connect(":memory:")
        try:
            db.init_store(con)
            if kind == "cases":
                stage_cases(con, source, mapping, "validation")
                key = "case_id"
            else:
                stage(con, source, mapping)
            if kind == "events":
                prepare_events(con, mapping)
                key = "case_id, event_at, from_department, to_department, action"
            elif kind == "countermeasures":
                prepare_countermeasures(con, mapping)
                key = "implemented_on, target, description"
            return _report(con, key)
        finally:
            con.close()


def _report(con: duckdb.DuckDBPyConnection, key: str) -> Validation:
    structural = con.execute("SELECT count(*) FROM rejects_stage").fetchone()[0]
    rows = con.execute("SELECT count(*) FROM raw").fetchone()[0] + structural
    valid = con.execute("SELECT count(*) FROM prep WHERE reason IS NULL").fetchone()[0]
    distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM prep WHERE reason IS NULL)").fetchone()[0]
    reasons = Counter(dict(con.execute(
        "SELECT regexp_replace(reason, '「.*」', '「…」'), count(*) FROM prep WHERE reason IS NOT NULL GROUP BY 1").fetchall()))
    if structural:
        reasons["列の数が合わない行"] += structural
    # The row as read (stage_cases keeps it for rejected rows; an events file has none), so the page
    # can show each rejected row's fields beside its reason.
    raw = "raw_json" if con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'prep' "
                                    "AND column_name = 'raw_json'").fetchone()[0] else "NULL"
    sample = con.execute(
        f"SELECT line AS 行番号, reason AS 理由, {raw} AS 元の行 FROM prep WHERE reason IS NOT NULL ORDER BY line LIMIT 50").df()
    return Validation(rows, valid, valid - distinct, dict(reasons), sample)


def mapping_choices(kind: str) -> list[tuple[str, str]]:
    """(field, Japanese label) for the mapping editor, required fields first."""

    required = required_for(kind)
    ordered = list(required) + [f for f in fields_for(kind) if f not in required]
    return [(f, FIELD_LABELS.get(f, f)) for f in ordered]


__all__ = ["Inspection", "Validation", "FieldCheck", "inspect_file", "validate_file", "check_mapping", "mapping_choices",
           "Mapping"]
