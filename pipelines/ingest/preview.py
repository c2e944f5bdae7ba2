"""What the upload page shows before loading: format, header, first rows, mapping, validation."""
from __future__ import annotations

import csv
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.ingest.countermeasures import prepare_countermeasures
from pipelines.ingest.events import prepare_events
from pipelines.ingest.identity import FieldCheck, check_source
from pipelines.ingest.limits import check_staged
from pipelines.ingest.load import stage_cases
from pipelines.ingest.mapping import FIELD_LABELS, Mapping, auto_map, fields_for, required_for, resolve
from pipelines.ingest.sources import Source, open_source
from pipelines.ingest.staging import stage
from pipelines.store import db, scratch
from pipelines.store.errors import KakehashiError
from pipelines.store.settings import PROJECT_DIR, ReadLimits

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


@dataclass
class Checked:
    """Everything the upload page shows of a file under one mapping, from one read of it."""

    inspection: Inspection
    mapping: dict[str, str | None]           # field → header validated (None: not used)
    checks: list[FieldCheck]                 # the mapping's fields: samples and warnings
    validation: Validation | None = None
    # Why the file cannot load under this mapping: a KakehashiError's fields (code, ja, en, hint_ja,
    # hint_en), as the error itself does not pickle.
    refused: tuple[str, str, str, str, str] | None = None

    @property
    def refusal(self) -> KakehashiError | None:
        return KakehashiError(*self.refused) if self.refused else None


def inspect_file(path: Path, kind: str = "cases", display_name: str | None = None) -> Inspection:
    """Decode, find the header and guess the mapping (raises KakehashiError when refused)."""
    with scratch.work_folder("preview") as tmp:
        return _inspect(open_source(path, Path(tmp), display_name), kind)


def _inspect(source: Source, kind: str) -> Inspection:
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
    with scratch.work_folder("check") as tmp:
        return _check_mapping(open_source(path, Path(tmp), display_name), kind, mapping_headers)


def _check_mapping(source: Source, kind: str, mapping_headers: dict[str, str | None]) -> list[FieldCheck]:
    columns = {f: source.header.index(h) for f, h in mapping_headers.items() if h in source.header}
    return check_source(source, Mapping("確認", kind, columns, source.header))


def check_upload(path: Path, kind: str, display_name: str | None = None,
                 mapping_headers: dict[str, str | None] | None = None, limits: ReadLimits | None = None) -> Checked:
    """Inspect the file, check and validate it under `mapping_headers` (None: the automatic
    mapping), decoding it once, within `limits` (default: settings.read_limits()). Raises
    KakehashiError when the file itself is refused; a mapping that cannot load is the result's
    `refusal`. The upload page runs it through `isolated`, handing it the limits it reads."""
    with scratch.work_folder("check") as tmp:
        source = open_source(path, Path(tmp), display_name, limits=limits)
        inspection = _inspect(source, kind)
        chosen = dict(inspection.auto) if mapping_headers is None else dict(mapping_headers)
        checks = inspection.checks
        if {f: h for f, h in chosen.items() if h is not None} != inspection.auto:
            try:
                checks = _check_mapping(source, kind, chosen)
            except Exception:  # noqa: BLE001 — checks are advice; those of the automatic choices still hold where kept
                checks = inspection.checks
        try:
            return Checked(inspection, chosen, checks, _validate(source, kind, chosen, limits))
        except KakehashiError as exc:
            return Checked(inspection, chosen, checks, refused=_fields(exc))


# A check that runs longer than this is stopped and told as a failure (the file is bounded by the
# limits, so only a fault gets here).
ISOLATED_TIMEOUT = 600.0


class IsolatedFailure(RuntimeError):
    """The isolated call failed for another reason than the file (its message says how)."""


class _Checker:
    """The checking process: `python -c "…serve()"`, kept warm between checks (it imports pandas,
    DuckDB and the pipeline once: seconds on a busy host), answering one call at a time over its
    stdin and stdout (length-prefixed pickles of calls to this package's functions, which it
    alone reads). Not multiprocessing: its spawn re-runs the parent's __main__, which in the
    Streamlit server is the app script."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from pipelines.ingest.preview import serve; serve()"], cwd=PROJECT_DIR,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
        return self.process

    def warm_up(self) -> None:
        with self.lock:
            self._start()

    def call(self, function, args: tuple, timeout: float):
        with self.lock:
            process = self._start()
            try:
                _send(process.stdin, (function, args))
                return _receive(process.stdout, time.monotonic() + timeout)
            except TimeoutError:     # before OSError, of which it is one
                self._stop()
                raise IsolatedFailure(f"the check took longer than {timeout:.0f} s") from None
            except (OSError, EOFError, pickle.UnpicklingError):
                self._stop()
                raise IsolatedFailure("the checking process ended abruptly (killed, or out of memory)") from None

    def _stop(self) -> None:
        """Kill the process and forget it: the next call starts another."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_checker = _Checker()   # one per server process, like its connection


def warm_up() -> None:
    """Start the checking process now (the upload page calls it before a file is chosen), so the
    first check does not wait for it to start."""
    _checker.warm_up()


def isolated(function, *args, timeout: float = ISOLATED_TIMEOUT):
    """function(*args) in the checking process, its result or its KakehashiError brought back.

    The upload page parses files only this way: a hostile file can then take at most that process
    down, never the Streamlit server with every user's session in it. Not the job runner's
    detached jobs: the page waits for this answer, and nothing is written. Any other failure of the
    child (killed, out of memory, timed out) raises IsolatedFailure; the next call starts a new one."""
    outcome, value = _checker.call(function, args, timeout)
    if outcome == "refused":
        raise KakehashiError(*value)
    if outcome == "failed":
        raise IsolatedFailure(value)
    return value


def _send(stream, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _receive(stream, deadline: float):
    def read(count: int) -> bytes:
        data = b""
        while len(data) < count:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
                    raise TimeoutError
            chunk = os.read(stream.fileno(), count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    return pickle.loads(read(int.from_bytes(read(8), "big")))


def serve() -> None:
    """The checking process's loop: answer calls from the page's process until its stdin closes.
    Its own output goes to stderr, so stdout carries answers only."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        try:
            function, args = _receive(requests, None)
        except EOFError:
            return
        answer = _call(function, args)
        try:
            _send(answers, answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:   # pickling fails before any byte is sent
            _send(answers, ("failed", f"the answer could not be sent back ({type(exc).__name__}: {exc})"))


def _fields(error: KakehashiError) -> tuple[str, str, str, str, str]:
    return error.code, error.ja, error.en, error.hint_ja, error.hint_en


def _call(function, args: tuple) -> tuple[str, object]:
    """Child side of `isolated`: exceptions travel as their words (a KakehashiError does not pickle)."""
    try:
        return "ok", function(*args)
    except KakehashiError as exc:
        return "refused", _fields(exc)
    except Exception as exc:  # noqa: BLE001 — told to the page as an unexpected failure, with its type
        return "failed", f"{type(exc).__name__}: {exc}"


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
    with scratch.work_folder("validate") as tmp:
        return _validate(open_source(path, Path(tmp), display_name), kind, mapping_headers)


def _validate(source: Source, kind: str, mapping_headers: dict[str, str | None],
              limits: ReadLimits | None = None) -> Validation:
    mapping = resolve(source.header, kind, mapping_headers, "確認")
    con = duckdb.connect(":memory:")
    try:
        db.init_store(con)
        if kind == "cases":
            stage_cases(con, source, mapping, "validation")
            key = "case_id"
        else:
            stage(con, source, mapping)
        check_staged(con, source.name, limits)
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


__all__ = ["Checked", "FieldCheck", "Inspection", "IsolatedFailure", "Mapping", "Validation", "check_mapping",
           "check_upload", "inspect_file", "isolated", "mapping_choices", "serve", "validate_file", "warm_up"]
