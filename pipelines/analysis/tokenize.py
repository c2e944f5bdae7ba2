"""Per-text work done once at load: normalization, masking and tokenization, on fork workers.

Workers read their texts from Parquet and write their terms to Parquet, so that millions of texts
and tokens never travel through pickles or sit in the parent's memory; DuckDB writes and reads the
files, in parallel.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import repeat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.analysis.pool import map_bounded, worker_rules
from pipelines.analysis.tagging import tag_docs
from pipelines.nlp.pii import mask_names
from pipelines.nlp.text import CaseDoc, Term, for_tokenizer, tokenize_stream

CHUNK_ROWS = 5000
IDX_MAX = 32767  # case_terms.idx is a SMALLINT: later tokens of a giant text share the last position
TERM_SCHEMA = pa.schema([("rowno", pa.int64()), ("idx", pa.int16()), ("surface", pa.string()),
                         ("lemma", pa.string()), ("pos", pa.string()), ("negated", pa.bool_())])
TEXT_SCHEMA = pa.schema([("rowno", pa.int64()), ("text", pa.string()), ("response", pa.string())])


def process_chunk(job: tuple[int, str, str], rules=None) -> int:
    """Tokenize a chunk of regex-masked texts, read from its Parquet folder (rowno, text, response, and
    case_id and repeat when the load analyses too), mask names, and write the texts that changed and
    the terms — and, with `rules` (rules.bundle.load_bundle(); a load's workers get them from pool.make_pool),
    the themes, causes and scores of each text while its terms are in hand. Returns rows done."""
    chunk_no, in_dir, out_dir = job
    rules = rules or worker_rules()
    table = pq.read_table(in_dir)
    rownos, texts, responses = (table.column(name).to_pylist() for name in TEXT_SCHEMA.names)
    analyse = rules is not None  # the load then adds case_id and repeat to the chunk (pipelines.ingest.load)
    out_texts = []
    term_rownos: list[int] = []
    terms: list[Term] = []     # every stored term of the chunk, in order; columns at the end
    docs: list[CaseDoc] = []
    token_lists = tokenize_stream([for_tokenizer(text or "") for text in texts])
    case_ids = table.column("case_id").to_pylist() if analyse else repeat(None)
    new = tuple.__new__  # Term(...) without the NamedTuple's Python-level __new__
    for rowno, case_id, text, tokens in zip(rownos, case_ids, texts, token_lists):
        masked = mask_names(text or "", tokens)
        out_texts.append(masked.text)
        tokens = masked.tokens
        # t[4] is Token.content; indexing is several times cheaper than a NamedTuple attribute.
        own = tuple([new(Term, (i, t[0], t[2], t[1], t[6])) for i, t in enumerate(tokens) if t[4]])
        if len(tokens) > IDX_MAX:
            own = tuple(term._replace(idx=min(term.idx, IDX_MAX)) for term in own)
        term_rownos += repeat(rowno, len(own))
        terms += own
        if analyse:  # the case as analyze() would read it back from case_terms
            docs.append(CaseDoc(case_id, masked.text, own))
    out = Path(out_dir)
    # Only the rows that name masking changed go back: the load keeps the others as they are.
    out_responses = mask_free_texts(responses)
    changed = [i for i, (before, after, response_before, response_after)
               in enumerate(zip(texts, out_texts, responses, out_responses))
               if before != after or response_before != response_after]
    pq.write_table(pa.table({"rowno": [rownos[i] for i in changed], "text": [out_texts[i] for i in changed],
                             "response": [out_responses[i] for i in changed]}, schema=TEXT_SCHEMA),
                   out / f"text-{chunk_no:06d}.parquet")
    columns = dict(zip(Term._fields, zip(*terms))) if terms else {name: () for name in Term._fields}
    pq.write_table(pa.table({"rowno": term_rownos, **columns}, schema=TERM_SCHEMA), out / f"terms-{chunk_no:06d}.parquet")
    if analyse:
        tag_docs(docs, table.column("repeat").to_pylist(), out, chunk_no, rules)
    return len(rownos)


def mask_free_texts(values: list[str | None]) -> list[str | None]:
    """Desk-written texts (already regex-masked): mask staff and customer names too."""
    present = [i for i, value in enumerate(values) if value]  # most exports have no response column
    out = list(values)
    for i, tokens in zip(present, tokenize_stream([for_tokenizer(values[i]) for i in present])):
        out[i] = mask_names(values[i], tokens).text
    return out


def run(in_dir: Path, out_dir: Path, total: int, pool, progress: Callable[[str, int, int], None] | None,
        rules=None) -> None:
    """Process all chunks, on the pool when there is one, keeping at most a few chunks in flight.

    `in_dir` holds one folder per chunk, chunk=0 … (COPY … PARTITION_BY (chunk)), of TEXT_SCHEMA
    rows, up to CHUNK_ROWS each: the workers read their own texts rather than have them pickled over.
    `rules` are those the pool was made with (make_pool), used here when there is no pool.
    """
    folders = sorted(in_dir.glob("chunk=*"), key=lambda folder: int(folder.name.removeprefix("chunk=")))
    jobs = ((n, str(folder), str(out_dir)) for n, folder in enumerate(folders))
    done = 0
    pool = pool if total >= 2 * CHUNK_ROWS else None
    for rows in map_bounded(pool, process_chunk if pool else partial(process_chunk, rules=rules), jobs):
        done += rows
        if progress:
            progress("tokenize", done, total)
