"""Per-text work done once at load: normalization, masking and tokenization, on fork workers.

Workers read their texts from Parquet and write their terms to Parquet, so that millions of texts
and tokens never travel through pickles or sit in the parent's memory; DuckDB writes and reads the
files, in parallel.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .pii import mask_names
from .text import for_tokenizer, tokenize_many

CHUNK_ROWS = 5000
TERM_SCHEMA = pa.schema([("rowno", pa.int64()), ("idx", pa.int16()), ("surface", pa.string()),
                         ("lemma", pa.string()), ("pos", pa.string()), ("negated", pa.bool_())])
TEXT_SCHEMA = pa.schema([("rowno", pa.int64()), ("text", pa.string()), ("response", pa.string())])


def process_chunk(job: tuple[int, str, str, bool]) -> int:
    """Tokenize a chunk of regex-masked texts, read from its Parquet folder (rowno, text, response),
    mask names, write final texts and terms. Returns rows done."""
    chunk_no, in_dir, out_dir, with_terms = job
    table = pq.read_table(in_dir)
    rownos, texts, responses = (table.column(name).to_pylist() for name in TEXT_SCHEMA.names)
    out_texts = []
    terms: list[tuple] = []  # (rowno, position, *Token) of each stored term; columns at the end
    token_lists = tokenize_many([for_tokenizer(text or "") for text in texts])
    for rowno, text, tokens in zip(rownos, texts, token_lists):
        masked = mask_names(text or "", tokens)
        out_texts.append(masked.text)
        if with_terms:
            terms += [(rowno, position, *tok) for position, tok in enumerate(masked.tokens) if tok.is_content]
    out = Path(out_dir)
    pq.write_table(pa.table({"rowno": rownos, "text": out_texts, "response": mask_free_texts(responses)},
                            schema=TEXT_SCHEMA), out / f"text-{chunk_no:06d}.parquet")
    if with_terms:
        term_rownos, positions, surfaces, poses, lemmas, _known, _starts, negated = zip(*terms) if terms else [()] * 8
        columns = {"rowno": term_rownos, "idx": [min(position, 32767) for position in positions],
                   "surface": surfaces, "lemma": lemmas, "pos": poses, "negated": negated}
        pq.write_table(pa.table(columns, schema=TERM_SCHEMA), out / f"terms-{chunk_no:06d}.parquet")
    return len(rownos)


def mask_free_texts(values: list[str | None]) -> list[str | None]:
    """Desk-written texts (already regex-masked): mask staff and customer names too."""
    token_lists = tokenize_many([for_tokenizer(value) if value else "" for value in values])
    return [mask_names(value, tokens).text if value else value for value, tokens in zip(values, token_lists)]


def make_pool(workers: int):
    """Create worker processes before any DuckDB connection exists: forking a process whose
    database threads hold locks can deadlock the children. fork, not spawn: workers inherit the
    loaded dictionary and start at once."""
    if workers <= 1:
        return None
    return mp.get_context("fork").Pool(processes=workers, initializer=tune_worker_gc)


def tune_worker_gc() -> None:
    """In a fork worker: keep what it inherited (dictionary, rules) out of garbage collection, and
    collect young objects less often. A chunk makes millions of short-lived objects, and the
    collections they triggered walked every inherited object too (~8% of the analysis time)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def run(in_dir: Path, out_dir: Path, total: int, pool, with_terms: bool,
        progress: Callable[[str, int, int], None] | None) -> None:
    """Process all chunks, on the pool when there is one, keeping at most a few chunks in flight.

    `in_dir` holds one folder per chunk, chunk=0 … (COPY … PARTITION_BY (chunk)), of TEXT_SCHEMA
    rows, up to CHUNK_ROWS each: the workers read their own texts rather than have them pickled over.
    """
    folders = sorted(in_dir.glob("chunk=*"), key=lambda folder: int(folder.name.removeprefix("chunk=")))
    jobs = ((n, str(folder), str(out_dir), with_terms) for n, folder in enumerate(folders))
    done = 0
    for rows in map_bounded(pool if total >= 2 * CHUNK_ROWS else None, process_chunk, jobs):
        done += rows
        if progress:
            progress("tokenize", done, total)


def map_bounded(pool, fn: Callable, jobs: Iterable) -> Iterator:
    """fn(job) for each job, in order: on the fork pool when there is one, with at most two jobs
    per worker in flight (each holds a chunk of texts), else in this process."""
    if pool is None:
        yield from map(fn, jobs)
        return
    window = 2 * (pool._processes or 2)
    in_flight: list = []
    for job in jobs:
        in_flight.append(pool.apply_async(fn, (job,)))
        while len(in_flight) >= window or (in_flight and in_flight[0].ready()):
            yield in_flight.pop(0).get()
    for result in in_flight:
        yield result.get()