"""The text-analysis pipeline: themes, causes and emotion level per case, from stored terms.

A load analyses each text it tokenizes (tag_docs in its workers, store_results in its transaction).
analyze() is incremental: only cases whose text, rules or repeat-contact count changed are analysed
again, and never re-tokenized — the terms stored at load (case_terms) are all it reads. Work is
spread over fork workers; inputs and results travel as Parquet files, not pickles.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipelines.analysis import infer
from pipelines.analysis.pool import make_pool, map_bounded
from pipelines.analysis.tagging import GUARDED_NAMES_KEY, store_results, tag_docs
from pipelines.analysis.tokenize import TERM_SCHEMA
from pipelines.nlp.text import CaseDoc, Term, release_dictionary_pages
from pipelines.rules.bundle import RuleBundle, load_bundle
from pipelines.rules.themes.packs import store_pack_choice
from pipelines.store import db, scratch, summaries
from pipelines.store.definitions import REPEAT_WINDOW_DAYS

CHUNK_CASES = 5000
Progress = Callable[[str, int, int], None]


@dataclass
class AnalyzeResult:
    analysed: int = 0
    skipped: int = 0
    themes: int = 0
    coverage: float = 0.0
    inferred: int = 0          # cases with an inferred (推定) theme: no rule tags them (analysis.infer)
    seconds: dict[str, float] = field(default_factory=dict)


def analyse_chunk(job: tuple[int, str, str], rules: RuleBundle | None = None) -> int:
    """Tag one chunk of cases, read from the input folders _run_chunks wrote (`rules`: in this
    process; a worker has the ones it was forked with)."""
    chunk_no, in_dir, out_dir = job
    docs, repeats = _read_chunk(Path(in_dir), chunk_no)
    tag_docs(docs, repeats, Path(out_dir), chunk_no, rules)
    return len(docs)


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


def analyze(store=None, full: bool = False, workers: int = 2, progress: Progress | None = None,
            theme_pack: str | None = None) -> AnalyzeResult:
    """Analyse new or changed cases (all with full=True) and store themes, causes and scores.

    `theme_pack`: an industry pack ID to choose for the store ("" = the default taxonomy alone), stored
    with the results; None keeps the store's choice. A new choice changes the rules hash, so every
    case is re-tagged from its stored terms."""
    result = AnalyzeResult()
    started = time.perf_counter()
    rules = load_bundle(store) if theme_pack is None else load_bundle(store, pack=theme_pack)
    rules_hash = rules.hash()
    release_dictionary_pages()  # analysis reads stored terms: nothing here tokenizes again
    # Fork before DuckDB starts its threads (see pool.make_pool).
    pool = make_pool(workers, rules)
    try:
        with scratch.work_folder("analyze") as tmp, db.writer(store) as con:
            out = Path(tmp)
            pending = _select_pending(con, rules_hash, full, _names_changed(con, rules))
            result.skipped = con.execute("SELECT count(*) FROM cases").fetchall()[0][0] - pending
            result.analysed = pending
            t = time.perf_counter()
            _run_chunks(con, out, pending, pool, rules, progress)
            result.seconds["tag"] = time.perf_counter() - t
            t = time.perf_counter()
            _write(con, out, rules, rules_hash, theme_pack)
            result.seconds["write"] = time.perf_counter() - t
            result.themes, result.coverage = con.execute(
                "SELECT (SELECT count(*) FROM themes), "
                "coalesce((SELECT count(DISTINCT case_id) FROM case_themes) / nullif((SELECT count(*) FROM cases), 0), 0)"
            ).fetchall()[0]
            result.inferred = con.execute("SELECT count(DISTINCT case_id) FROM case_inferred_themes").fetchone()[0]
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    result.seconds["total"] = time.perf_counter() - started
    return result


def _names_changed(con, rules: RuleBundle) -> list[str]:
    """Names guarded now and not when the store was last tagged, or the other way round."""
    stored = db.meta(con, GUARDED_NAMES_KEY)
    before = set(json.loads(stored)) if stored else set()
    return sorted(before.symmetric_difference(rules.themes.names))


def _select_pending(con, rules_hash: str, full: bool, names_changed: list[str] = ()) -> int:
    """pending(rowno, case_id, repeat): cases whose text, rules or repeat-contact count changed, or
    whose text holds a name whose guard changed."""
    repeat_counts(con, "cases")
    con.execute("""
    CREATE OR REPLACE TEMP TABLE pending AS
    SELECT row_number() OVER (ORDER BY c.case_id) AS rowno, c.case_id, r.repeat
    FROM cases c JOIN repeats r USING (case_id)
    LEFT JOIN analysis_state s USING (case_id)
    LEFT JOIN case_scores sc USING (case_id)
    WHERE $full OR s.case_id IS NULL OR s.text_hash IS DISTINCT FROM c.text_hash
       OR s.rules_hash IS DISTINCT FROM $rules OR sc.repeat_contacts IS DISTINCT FROM r.repeat
       OR EXISTS (SELECT 1 FROM unnest(CAST($names AS VARCHAR[])) AS g(name) WHERE contains(c.text, g.name))""",
                {"full": full, "rules": rules_hash, "names": list(names_changed)})
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


def _run_chunks(con, out: Path, pending: int, pool, rules: RuleBundle, progress: Progress | None) -> None:
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
    pool = pool if pending >= 2 * CHUNK_CASES else None
    for cases in map_bounded(pool, analyse_chunk if pool else partial(analyse_chunk, rules=rules), jobs):
        done += cases
        if progress:
            progress("analyze", done, pending)


def _write(con, out: Path, rules: RuleBundle, rules_hash: str, theme_pack: str | None = None) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        store_results(con, out, rules, rules_hash)
        if theme_pack is not None:   # the pack is stored with the tags it made, in one transaction
            store_pack_choice(con, theme_pack)
        # State of cases that no longer exist is dropped with their tags.
        for table in ("case_themes", "case_causes", "case_scores", "analysis_state"):
            con.execute(f"DELETE FROM {table} WHERE case_id NOT IN (SELECT case_id FROM cases)")
        # After the rule tags, a load's included: proposals for the cases they leave untagged.
        infer.refresh(con, rules_hash)
        summaries.refresh(con, "SELECT case_id FROM pending")   # re-tagged: their counts and chains
        con.execute("DELETE FROM store_meta WHERE key = 'analyzed_at'")
        con.execute("INSERT INTO store_meta VALUES ('analyzed_at', ?)", [dt.datetime.now().isoformat(timespec="seconds")])
        db.bump_version(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
