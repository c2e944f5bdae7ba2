"""The one fork worker pool: tokenization at load and tagging in analyze() both run on it.

A worker receives the rule bundle once, when it is forked (make_pool), and reads it with
worker_rules(); everything else a job needs travels in the job's arguments and Parquet folders.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator

from pipelines.rules.bundle import RuleBundle

_RULES: RuleBundle | None = None  # in a worker: the rules it was forked with (make_pool), or None


def make_pool(workers: int, rules: RuleBundle | None = None):
    """Create worker processes before any DuckDB connection exists: forking a process whose
    database threads hold locks can deadlock the children. fork, not spawn: workers inherit the
    loaded dictionary and start at once. With `rules`, the workers analyse what they tokenize."""
    if workers <= 1:
        return None
    return mp.get_context("fork").Pool(processes=workers, initializer=_start_worker, initargs=(rules,))


def _start_worker(rules: RuleBundle | None) -> None:
    global _RULES
    _RULES = rules
    tune_worker_gc()


def tune_worker_gc() -> None:
    """In a fork worker: keep what it inherited (dictionary, rules) out of garbage collection, and
    collect young objects less often. A chunk makes millions of short-lived objects, and the
    collections they triggered walked every inherited object too (~8% of the analysis time)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def worker_rules() -> RuleBundle | None:
    """The bundle this worker was forked with (make_pool), or None outside a worker."""
    return _RULES


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
