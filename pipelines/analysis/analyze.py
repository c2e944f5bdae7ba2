"""The text-analysis pipeline: themes, causes and emotion level per case, from stored terms.

A load analyses each text it tokenizes (tag_docs in its workers, store_results in its transaction).
analyze() is incremental: only cases whose text, rules or repeat-contact count changed are analysed
again, and never re-tokenized — the terms stored at load (case_terms) are all it reads. Work is
spread over fork workers; inputs and results travel as Parquet files, not pickles.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.store import db
from pipelines.nlp.text import CaseDoc, Term, release_dictionary_pages
from pipelines.analysis.tokenize import TERM_SCHEMA, map_bounded, tune_worker_gc

CHUNK_CASES = 5000
REPEAT_WINDOW_DAYS = 30
Progress = Callable[[str, int, int], None]

# The three outputs each worker writes per chunk.
THEME_SCHEMA = pa.schema([("case_id", pa.string()), ("theme_id", pa.string()), ("evidence", pa.list_(pa.string()))])
CAUSE_SCHEMA = pa.schema([("case_id", pa.string()), ("cause", pa.string()), ("source", pa.string()),
                          ("evidence", pa.list_(pa.string()))])
SCORE_SCHEMA = pa.schema([("case_id", pa.string()), ("emotion_level", pa.int8()), ("reasons", pa.list_(pa.string())),
                          ("harassment", pa.list_(pa.string())), ("repeat_contacts", pa.int32())])


@dataclass
class AnalyzeResult:
    analysed: int = 0
    skipped: int = 0
    themes: int = 0
    coverage: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Rules:
    themes: object
    causes: object

    def hash(self) -> str:
        from pipelines.rules import severity

        parts = [self.themes.hash(), self.causes.hash(), getattr(severity, "VERSION", "1")]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def load_rules() -> _Rules:
    from pipelines.rules.causes import load_cause_rules
    from pipelines.rules.themes import load_rules as load_theme_rules

    return _Rules(load_theme_rules(), load_cause_rules())


_WORKER_RULES: _Rules | None = None


def _init_worker(rules: _Rules) -> None:
    global _WORKER_RULES
    _WORKER_RULES = rules


def _start_worker(rules: _Rules) -> None:
    _init_worker(rules)
    tune_worker_gc()


def analyse_chunk(job: tuple[int, str, str]) -> int:
    """Tag one chunk of cases, read from the input folders _run_chunks wrote."""
    chunk_no, in_dir, out_dir = job
    docs, repeats = _read_chunk(Path(in_dir), chunk_no)
    tag_docs(docs, repeats, Path(out_dir), chunk_no)
    return len(docs)


def tag_docs(docs: list[CaseDoc], repeats: list[int | None], out: Path, chunk_no: int,
             rules: _Rules | None = None) -> None:
    """Themes, causes and scores of a chunk of cases, written as Parquet files to `out`.

    Called by the analysis workers, and by the load's tokenization workers while each text's terms
    are still in hand (see ingest._tokenize): either way the results go through store_results().
    """
    from pipelines.rules.severity import score

    rules = rules or _WORKER_RULES
    themes: dict[str, list] = {n: [] for n in THEME_SCHEMA.names}
    causes: dict[str, list] = {n: [] for n in CAUSE_SCHEMA.names}
    scores: dict[str, list] = {n: [] for n in SCORE_SCHEMA.names}
    # One analysis at a time over the whole chunk, not all three per case: each then stays hot in the
    # CPU's caches, which makes the chunk some 15% faster.
    for case_id, theme_id, evidence in rules.themes.tag_many(docs):
        themes["case_id"].append(case_id)
        themes["theme_id"].append(theme_id)
        themes["evidence"].append(list(evidence))
    for doc in docs:
        for hit in rules.causes.extract(doc):
            causes["case_id"].append(doc.case_id)
            causes["cause"].append(hit.cause)
            causes["source"].append("extracted")
            causes["evidence"].append(list(hit.evidence))
    for doc, contacts in zip(docs, repeats):
        severity = score(doc, repeat_contacts=contacts or 0)
        scores["case_id"].append(doc.case_id)
        scores["emotion_level"].append(severity.level)
        scores["reasons"].append(list(severity.reasons))
        scores["harassment"].append(list(severity.harassment))
        scores["repeat_contacts"].append(contacts or 0)
    for name, data, schema in (("themes", themes, THEME_SCHEMA), ("causes", causes, CAUSE_SCHEMA),
                               ("scores", scores, SCORE_SCHEMA)):
        pq.write_table(pa.table(data, schema=schema), out / f"{name}-{chunk_no:06d}.parquet")


def _read_chunk(in_dir: Path, chunk_no: int) -> tuple[list[CaseDoc], list[int | None]]:
    """A chunk's CaseDocs and repeat-contact counts, in rowno order.

    Terms come flat, one row each: DuckDB writes them three times faster than a list per case
    (an ordered list aggregate sorts each of its columns). Sorted here, they are cut into cases
    where each case's rows start and end.
    """
    cases = pq.read_table(in_dir / "cases" / f"chunk={chunk_no}").sort_by("rowno")
    folder = in_dir / "terms" / f"chunk={chunk_no}"
    terms = pq.read_table(folder) if folder.exists() else TERM_SCHEMA.empty_table()  # no case has terms
    terms = terms.sort_by([("rowno", "ascending"), ("idx", "ascending")])
    term_rownos, case_rownos = terms.column("rowno").to_numpy(), cases.column("rowno").to_numpy()
    starts = np.searchsorted(term_rownos, case_rownos, "left").tolist()
    ends = np.searchsorted(term_rownos, case_rownos, "right").tolist()
    # tuple.__new__ skips the NamedTuple's Python-level __new__, which costs half as much again.
    flat = list(map(tuple.__new__, repeat(Term), zip(*(terms.column(name).to_pylist() for name in Term._fields))))
    docs = [CaseDoc(case_id, text or "", tuple(flat[start:end]))
            for case_id, text, start, end in zip(cases.column("case_id").to_pylist(), cases.column("text").to_pylist(),
                                                 starts, ends)]
    return docs, cases.column("repeat").to_pylist()


def analyze(store=None, full: bool = False, workers: int = 2, progress: Progress | None = None) -> AnalyzeResult:
    """Analyse new or changed cases (all with full=True) and store themes, causes and scores."""
    result = AnalyzeResult()
    started = time.perf_counter()
    rules = load_rules()
    rules_hash = rules.hash()
    release_dictionary_pages()  # analysis reads stored terms: nothing here tokenizes again
    # Fork before DuckDB starts its threads (see textjobs.make_pool).
    pool = mp.get_context("fork").Pool(workers, initializer=_start_worker, initargs=(rules,)) if workers > 1 else None
    _init_worker(rules)
    try:
        with tempfile.TemporaryDirectory(prefix="kakehashi-analyze-") as tmp, db.writer(store) as con:
            out = Path(tmp)
            pending = _select_pending(con, rules_hash, full)
            result.skipped = con.execute("SELECT count(*) FROM cases").fetchall()[0][0] - pending
            result.analysed = pending
            t = time.perf_counter()
            _run_chunks(con, out, pending, pool, progress)
            result.seconds["tag"] = time.perf_counter() - t
            t = time.perf_counter()
            _write(con, out, rules, rules_hash)
            result.seconds["write"] = time.perf_counter() - t
            result.themes, result.coverage = con.execute(
                "SELECT (SELECT count(*) FROM themes), "
                "coalesce((SELECT count(DISTINCT case_id) FROM case_themes) / nullif((SELECT count(*) FROM cases), 0), 0)"
            ).fetchall()[0]
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    result.seconds["total"] = time.perf_counter() - started
    return result


def _select_pending(con, rules_hash: str, full: bool) -> int:
    """pending(rowno, case_id, repeat): cases whose text, rules or repeat-contact count changed."""
    repeat_counts(con, "cases")
    con.execute("""
    CREATE OR REPLACE TEMP TABLE pending AS
    SELECT row_number() OVER (ORDER BY c.case_id) AS rowno, c.case_id, r.repeat
    FROM cases c JOIN repeats r USING (case_id)
    LEFT JOIN analysis_state s USING (case_id)
    LEFT JOIN case_scores sc USING (case_id)
    WHERE $full OR s.case_id IS NULL OR s.text_hash IS DISTINCT FROM c.text_hash
       OR s.rules_hash IS DISTINCT FROM $rules OR sc.repeat_contacts IS DISTINCT FROM r.repeat""",
                {"full": full, "rules": rules_hash})
    return con.execute("SELECT count(*) FROM pending").fetchall()[0][0]


def repeat_counts(con, contacts: str) -> None:
    """TEMP TABLE repeats(case_id, repeat): the repeat-contact count, defined here once — a case's
    earlier contacts from the same customer_key within REPEAT_WINDOW_DAYS (0 without a key).

    `contacts` is a table name or a parenthesised query (ours, never user input) with case_id,
    customer_key and received_at: the store's cases, or what they will be after a load.
    """
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE repeats AS
    SELECT case_id,
           CAST(CASE WHEN customer_key IS NULL THEN 0 ELSE count(*) OVER (
               PARTITION BY customer_key ORDER BY received_at
               RANGE BETWEEN INTERVAL {REPEAT_WINDOW_DAYS} DAYS PRECEDING AND CURRENT ROW) - 1 END AS INTEGER) AS repeat
    FROM {contacts} AS contacts""")


def _run_chunks(con, out: Path, pending: int, pool, progress: Progress | None) -> None:
    """Tag every pending case, chunk by chunk on the workers.

    Two parallel DuckDB statements write each chunk's cases and terms to Parquet folders of their
    own, which the worker reads itself (see _read_chunk). Fetching each chunk in this process
    instead cost some 70 µs a case, serially, on a core the workers needed.
    """
    inputs = out / "inputs"
    inputs.mkdir()
    chunk = f"(p.rowno - 1) // {CHUNK_CASES} AS chunk"
    con.execute(f"COPY (SELECT {chunk}, p.rowno, p.case_id, c.text, p.repeat "
                "FROM pending p JOIN cases c USING (case_id)) TO ? (FORMAT parquet, PARTITION_BY (chunk))",
                [str(inputs / "cases")])
    con.execute(f"COPY (SELECT {chunk}, p.rowno, t.idx, t.surface, t.lemma, t.pos, t.negated "
                "FROM pending p JOIN case_terms t USING (case_id)) TO ? (FORMAT parquet, PARTITION_BY (chunk))",
                [str(inputs / "terms")])
    jobs = ((n, str(inputs), str(out)) for n in range(-(-pending // CHUNK_CASES)))
    done = 0
    for cases in map_bounded(pool if pending >= 2 * CHUNK_CASES else None, analyse_chunk, jobs):
        done += cases
        if progress:
            progress("analyze", done, pending)


def _write(con, out: Path, rules: _Rules, rules_hash: str) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        store_results(con, out, rules, rules_hash)
        # State of cases that no longer exist is dropped with their tags.
        for table in ("case_themes", "case_causes", "case_scores", "analysis_state"):
            con.execute(f"DELETE FROM {table} WHERE case_id NOT IN (SELECT case_id FROM cases)")
        con.execute("DELETE FROM store_meta WHERE key = 'analyzed_at'")
        con.execute("INSERT INTO store_meta VALUES ('analyzed_at', ?)", [dt.datetime.now().isoformat(timespec="seconds")])
        db.bump_version(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def store_results(con, out: Path, rules: _Rules, rules_hash: str) -> None:
    """Inside the caller's transaction: replace the themes, causes and scores of the cases in TEMP TABLE
    pending(case_id) with what tag_docs() wrote to `out`, let the export's own cause column win, and
    record each case's text and rules hash so that the next analyze() skips it."""
    from pipelines.rules.causes import canonical_cause

    for table in ("case_themes", "case_causes", "case_scores"):
        con.execute(f"DELETE FROM {table} WHERE case_id IN (SELECT case_id FROM pending)")
    for table, prefix in (("case_themes", "themes"), ("case_causes", "causes"), ("case_scores", "scores")):
        if any(out.glob(f"{prefix}-*.parquet")):
            con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet(?)", [str(out / f"{prefix}-*.parquet")])
    # The desk's own cause column is the trusted source: it replaces the extracted causes.
    labels = con.execute("SELECT DISTINCT cause FROM cases WHERE cause IS NOT NULL AND case_id IN "
                         "(SELECT case_id FROM pending)").fetchall()
    if labels:
        mapping = pa.table({"label": [r[0] for r in labels], "canonical": [canonical_cause(r[0]) for r in labels]})
        con.register("kk_cause_labels", mapping)
        con.execute("DELETE FROM case_causes WHERE case_id IN (SELECT case_id FROM cases c JOIN pending USING "
                    "(case_id) WHERE c.cause IS NOT NULL)")
        con.execute("INSERT INTO case_causes SELECT c.case_id, m.canonical, 'export', [c.cause] FROM cases c "
                    "JOIN pending USING (case_id) JOIN kk_cause_labels m ON m.label = c.cause")
        con.unregister("kk_cause_labels")
    con.execute("DELETE FROM analysis_state WHERE case_id IN (SELECT case_id FROM pending)")
    con.execute("INSERT INTO analysis_state SELECT p.case_id, c.text_hash, ? FROM pending p JOIN cases c USING (case_id)",
                [rules_hash])
    _sync_themes(con, rules)


def _sync_themes(con, rules: _Rules) -> None:
    con.execute("DELETE FROM themes")
    rows = [(t.theme_id, t.name, t.color, i) for i, t in enumerate(rules.themes.themes)]
    if rows:
        con.executemany("INSERT INTO themes VALUES (?, ?, ?, ?)", rows)
