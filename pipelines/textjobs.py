"""Per-text work done once at load: normalization, masking and tokenization, on fork workers.

Workers write their terms to Parquet so that millions of tokens never travel through pickles or
sit in the parent's memory; the parent hands DuckDB the files.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .pii import mask_names
from .text import for_tokenizer, tokenize

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
    out_texts, out_responses = [], []
    term_cols: dict[str, list] = {name: [] for name in TERM_SCHEMA.names}
    for rowno, text, response in zip(rownos, texts, responses):
        text = text or ""
        masked = mask_names(text, tokenize(for_tokenizer(text)))
        out_texts.append(masked.text)
        out_responses.append(_mask_free_text(response))
        if with_terms:
            for position, tok in enumerate(masked.tokens):
                if tok.is_content:
                    term_cols["rowno"].append(rowno)
                    term_cols["idx"].append(min(position, 32767))
                    term_cols["surface"].append(tok.surface)
                    term_cols["lemma"].append(tok.lemma)
                    term_cols["pos"].append(tok.pos)
                    term_cols["negated"].append(tok.negated)
    out = Path(out_dir)
    pq.write_table(pa.table({"rowno": rownos, "text": out_texts, "response": out_responses}, schema=TEXT_SCHEMA),
                   out / f"text-{chunk_no:06d}.parquet")
    if with_terms:
        pq.write_table(pa.table(term_cols, schema=TERM_SCHEMA), out / f"terms-{chunk_no:06d}.parquet")
    return len(rownos)


def _mask_free_text(value: str | None) -> str | None:
    """Desk-written text (already regex-masked): mask staff and customer names too."""
    if not value:
        return value
    return mask_names(value, tokenize(for_tokenizer(value))).text


def mask_free_texts(values: list[str | None]) -> list[str | None]:
    return [_mask_free_text(v) for v in values]


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
    rows, CHUNK_ROWS each: the workers read their own texts rather than have them pickled over.
    """
    jobs = ((n, str(in_dir / f"chunk={n}"), str(out_dir), with_terms) for n in range(-(-total // CHUNK_ROWS)))
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