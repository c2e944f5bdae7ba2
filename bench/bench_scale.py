"""Benchmark: do the pages stay fast at a million cases? (issue 15)

    .venv/bin/python bench/bench_scale.py [--pages home,trends,...] [--repeat 1] [--rebuild]

Builds once, under bench/out/scale/ (git-ignored), two stores of the same shape:
  * 10k — a generated held-out period (devtools.sample, seed 11, 10,000 cases over 14 months from
    2024-11-01, with its events and countermeasures), loaded and analysed by the real pipeline;
  * 1M — that store replicated 100 times by SQL (INSERT … SELECT, the case ID and the customer ID
    suffixed per copy, times unchanged: 100× the cases per day, every chain, stall and spike 100×,
    cases in order of receipt as a store loaded month by month holds them), then opened as a store
    of the previous release: the migration to schema 3 builds its summaries from scratch.
Then times every navigation page of app.py cold (Streamlit's AppTest, the script a browser runs,
st.cache_data cleared before each view, best of --repeat; bench_pages.time_page) on both stores in
one run, and prints page | 10k | 1M | ratio. Targets: every page ≤ 3× its 10k time and ≤ 2 s at 1M.

Incremental cost: a load of 10,000 new cases (another generated period, seed 12, from 2026-01-01,
with its events and countermeasures) into a copy of the 1M store, with the summaries' update and
the analysis, against building the 1M store from scratch with the same pipeline — taken as 100 × the
same load into an empty store, measured in the same run (the load is linear in the cases it reads:
bench_ingest.py and bench_analyze.py measure its throughput at 1M); target ≤ 5%.
The machine is shared: the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "scale"
COPIES = 100
PLACEHOLDER_KEYS = r"^(0+|-+|不明|なし|無し|未登録|未入力|該当なし|ゲスト|guest|unknown|anonymous|n/?a|none|null)$"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(out: Path, seed: int, cases: int, start: date = date(2024, 11, 1)) -> Path:
    """A generated export (cases, events, countermeasures) — once."""
    from devtools.sample import generate as make

    if not (out / "manifest.json").exists():
        make(out, seed=seed, n_cases=cases, start=start, months=14)
    return out


def load_export(folder: Path, store: Path) -> float:
    """Load cases, events and countermeasures of `folder` and analyse: the real pipeline; seconds."""
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file

    started = time.perf_counter()
    for name, kind in (("cases.csv", "cases"), ("events.csv", "events"), ("countermeasures.csv", "countermeasures")):
        load_file(folder / name, store, LoadOptions(kind=kind))
    analyze(store)
    return time.perf_counter() - started


def build_small(source: Path) -> tuple[Path, float]:
    store = OUT / "store_10k.duckdb"
    timing = OUT / "build_10k.json"
    if not store.exists() or not timing.exists():
        store.unlink(missing_ok=True)
        seconds = load_export(source, store)
        timing.write_text(json.dumps({"seconds": seconds}))
    from pipelines.store import db

    with db.writer(store):   # a store built by an earlier release is upgraded: its summaries built
        pass
    return store, json.loads(timing.read_text())["seconds"]


# Per table: the columns of a copy, with k the copy number. Case IDs and customer IDs of copies 1..
# get a suffix so every copy is its own set of cases and customers; everything else is kept as is.
def _replica_columns(con, table: str) -> str:
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]).fetchall()]
    out = []
    for column in columns:
        if column == "case_id":
            out.append("CASE WHEN k.k = 0 THEN t.case_id ELSE t.case_id || '~r' || k.k END")
        elif column == "customer_key":
            out.append(f"CASE WHEN k.k = 0 OR t.customer_key IS NULL OR regexp_matches(lower(trim(t.customer_key)), "
                       f"'{PLACEHOLDER_KEYS}') THEN t.customer_key ELSE t.customer_key || '~r' || k.k END")
        else:
            out.append(f't."{column}"')
    return ", ".join(out)


REPLICATED = ("cases", "case_events", "case_themes", "case_causes", "case_scores", "analysis_state", "case_terms")


def build_large(small: Path) -> tuple[Path, dict]:
    """The 10k store replicated COPIES times by SQL (cases in order of receipt, as a store loaded
    month by month holds them), then upgraded as a store of the previous release: the migration to
    schema 3 builds its summaries from scratch — once."""
    import duckdb

    store = OUT / "store_1m.duckdb"
    timing = OUT / "build_1m.json"
    if store.exists() and timing.exists():
        return store, json.loads(timing.read_text())
    store.unlink(missing_ok=True)
    partial = OUT / "store_1m.partial.duckdb"
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    shutil.copy2(small, partial)
    con = duckdb.connect(str(partial))
    con.execute("SET memory_limit = '1500MB'")
    con.execute("SET preserve_insertion_order = true")
    for table in REPLICATED:
        _log(f"replicating {table} …")
        columns = _replica_columns(con, table)
        order = " ORDER BY t.received_at, k.k" if table == "cases" else ""
        con.execute(f"CREATE TEMP TABLE base AS FROM {table}")   # fixed table names
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT {columns} FROM base t, "
                    f"(SELECT range AS k FROM range({COPIES})) k{order}")
        con.execute("DROP TABLE base")
    # As a store of schema 2: the upgrade builds the summaries, as it does for a customer's store.
    for table in ("sum_case_flow", "sum_stints", "sum_daily", "sum_chains", "sum_termsets"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    con.execute("CHECKPOINT")
    con.close()
    replicated = time.perf_counter() - started
    from pipelines.store import db

    with db.writer(partial):
        pass
    migrated = time.perf_counter() - started - replicated
    for leftover in OUT.glob("store_1m.partial.duckdb.v*.bak"):
        leftover.unlink()   # the upgrade's copy of the file
    partial.rename(store)
    figures = {"replicate_seconds": replicated, "migrate_seconds": migrated}
    timing.write_text(json.dumps(figures))
    return store, figures


def time_pages(store: Path, pages: list[str], as_of: str | None, repeat: int) -> dict[str, tuple[float, bool]]:
    """Every page cold on `store`, as bench_pages.py times it (AppTest, caches cleared, best of `repeat`);
    a page that raises or times out is marked failed."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_pages import time_page

    os.environ["KAKEHASHI_DB"] = str(store)
    times = {}
    for page in pages:
        started = time.perf_counter()
        try:
            times[page] = time_page(page, as_of, repeat)
        except Exception as exc:   # a page under another change, or AppTest's 120 s limit: say so, go on
            _log(f"{page}: {type(exc).__name__}: {str(exc)[:200]}")
            times[page] = (time.perf_counter() - started, True)
        _log(f"{store.name} {page}: {times[page][0]:.2f} s")
    return times


def page_calls(as_of: str | None) -> dict[str, list[tuple[str, object]]]:
    """The read functions each page calls on a first view with the default filters (pages/*.py), in
    order: what --functions times, without Streamlit (no cache; each opens its own connection)."""
    from pipelines.detect import alerts, returns
    from pipelines.reports import caselist, flow, recurrence, shared, summary, trends
    from pipelines.store.filters import Filters

    f = Filters(as_of=date.fromisoformat(as_of)) if as_of else Filters()

    def home_view(store):
        current = alerts.current(f, budget=5, store=store)
        return summary.home(f, tuple(current), store=store)

    return {
        "経営サマリー": [("kpis", lambda s: summary.kpis(f, store=s)), ("options", lambda s: shared.filter_options(store=s)),
                     ("alerts+home", home_view)],
        "トレンド": [("series", lambda s: trends.series(f, "theme", "week", 10, store=s)),
                  ("alerts", lambda s: alerts.for_period(f, store=s)), ("breakdown", lambda s: trends.breakdown(f, "theme", store=s))],
        "ケース一覧": [("search", lambda s: caselist.search(caselist.CaseQuery(filters=f), 1, 50, store=s))],
        "再発": [("status", lambda s: recurrence.data_status(store=s)), ("period", lambda s: shared.period(f, store=s)),
               ("recurring", lambda s: recurrence.recurring_causes(f, store=s)),
               ("effects", lambda s: returns.countermeasure_effects(f, store=s)),
               ("repeats", lambda s: recurrence.repeat_customers(f, store=s)),
               ("duplicates", lambda s: recurrence.near_duplicates(f, store=s)),
               ("log", lambda s: recurrence.countermeasure_log(store=s)), ("targets", lambda s: returns.target_choices(store=s))],
        "部門フロー": [("causes", lambda s: flow.cause_options(store=s)), ("period", lambda s: shared.period(f, store=s)),
                  ("coverage", lambda s: flow.coverage(f, store=s)), ("sankey", lambda s: flow.sankey_links(f, store=s)),
                  ("departments", lambda s: flow.department_stats(f, store=s)), ("stalls", lambda s: flow.stalls(f, store=s)),
                  ("pingpong", lambda s: flow.ping_pong(f, store=s)), ("escalation", lambda s: flow.escalation_check(f, store=s)),
                  ("matrix", lambda s: flow.theme_department_matrix(f, store=s))],
    }


def time_functions(store: Path, as_of: str | None, repeat: int) -> dict[str, tuple[float, bool]]:
    """Per page, the sum of its read functions' times (best of `repeat` each)."""
    times = {}
    for page, calls in page_calls(as_of).items():
        total, failed = 0.0, False
        for name, call in calls:
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                try:
                    call(store)
                except Exception as exc:   # report and go on: one broken call must not hide the rest
                    _log(f"{page}/{name}: {type(exc).__name__}: {str(exc)[:200]}")
                    failed = True
                best = min(best, time.perf_counter() - started)
            _log(f"{store.name} {page}/{name}: {best:.2f} s")
            total += best
        times[page] = (total, failed)
    return times


def incremental(large: Path, new_export: Path) -> tuple[float, float]:
    """Seconds to load and analyse `new_export` (10,000 new cases with their events) into a copy of
    the 1M store, and into an empty store (the per-10k cost of building from scratch)."""
    copy = OUT / "store_1m_incremental.duckdb"
    empty = OUT / "store_new_only.duckdb"
    for path in (copy, empty):
        path.unlink(missing_ok=True)
    shutil.copy2(large, copy)
    try:
        into_large = load_export(new_export, copy)
        into_empty = load_export(new_export, empty)
    finally:
        copy.unlink(missing_ok=True)
        empty.unlink(missing_ok=True)
    return into_large, into_empty


def main() -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_pages import navigation_pages

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", help="comma-separated page titles (default: every navigation page)")
    parser.add_argument("--as-of", help="基準日 for the page views (default: the stores' latest day)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--functions", action="store_true",
                        help="time each page's read functions (no Streamlit) instead of running the pages")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    _log(f"load average before: {os.getloadavg()}")
    source = generate(OUT / "src_10k", 11, 10_000)
    new_export = generate(OUT / "src_new", 12, 10_000, date(2026, 1, 1))
    small, small_seconds = build_small(source)
    large, large_figures = build_large(small)
    if args.functions:
        small_times = time_functions(small, args.as_of, args.repeat)
        large_times = time_functions(large, args.as_of, args.repeat)
        pages = list(small_times)
    else:
        pages = args.pages.split(",") if args.pages else navigation_pages()
        small_times = time_pages(small, pages, args.as_of, args.repeat)
        large_times = time_pages(large, pages, args.as_of, args.repeat)
    worst_ratio, slowest = 0.0, 0.0
    print("| page | 10k | 1M | ratio |\n|---|---|---|---|")
    for page in pages:
        (s, s_failed), (m, m_failed) = small_times[page], large_times[page]
        worst_ratio, slowest = max(worst_ratio, m / s), max(slowest, m)
        flag = "  (EXCEPTION)" if s_failed or m_failed else ""
        print(f"| {page} | {s:.2f} s | {m:.2f} s | {m / s:.1f}× |{flag}")
    print(f"\n1M store: replicated in {large_figures['replicate_seconds']:.0f} s, its summaries built by the "
          f"schema-3 migration in {large_figures['migrate_seconds']:.0f} s; 10k store built in {small_seconds:.1f} s")
    ok = worst_ratio <= 3 and slowest <= 2
    if not args.skip_incremental:
        into_large, into_empty = incremental(large, new_export)
        from_scratch = into_empty * COPIES
        share = into_large / from_scratch
        print(f"incremental: 10,000 new cases (+ events, countermeasures, analysis, summaries) into the 1M store "
              f"{into_large:.1f} s; into an empty store {into_empty:.1f} s, so building 1M from scratch ≈ "
              f"{COPIES} × {into_empty:.1f} = {from_scratch:.0f} s; incremental = {share:.1%} of it (target ≤ 5%)")
        ok = ok and share <= 0.05
    _log(f"load average after: {os.getloadavg()}")
    print("targets met" if ok else "TARGETS MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
