"""Benchmark: how long each dashboard page takes to compute on the 24k-case sample.

    .venv/bin/python bench/bench_pages.py [--db STORE] [--as-of 2025-07-23] [--repeat 3]

Every page of app.py's navigation is run headless (Streamlit's AppTest, the same script run a
browser triggers) with cold caches, best of --repeat runs; the figure is the server-side time of
one page view — queries, detection, chart building — without the browser's drawing. Without
--db the bundled sample is loaded (and analysed) into a temporary store first.
Target: every page well under 2 s on an idle 2-core machine.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def navigation_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"]


def load_sample(store: Path) -> None:
    from pipelines.ingest.load import load_sample as load

    load(store)


def time_page(page: str, as_of: str | None, repeat: int) -> tuple[float, bool]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    best, failed = float("inf"), False
    for _ in range(repeat):
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        if as_of:
            at.query_params["as_of"] = as_of
        at.run()
        started = time.perf_counter()
        at.switch_page(page).run()
        best = min(best, time.perf_counter() - started)
        failed = failed or bool(at.exception)
    return best, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="an existing store (default: load the sample into a temp store)")
    parser.add_argument("--as-of", default="2025-07-23", help="基準日 for the run (default: inside the sample's spike)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-pages-") as tmp:
        store = args.db
        if store is None:
            store = Path(tmp) / "store.duckdb"
            started = time.perf_counter()
            load_sample(store)
            print(f"loaded the sample in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        os.environ["KAKEHASHI_DB"] = str(store)
        slowest = 0.0
        for page in navigation_pages():
            seconds, failed = time_page(page, args.as_of, args.repeat)
            slowest = max(slowest, seconds)
            print(f"{page:28s} {seconds:6.2f} s{'  (EXCEPTION)' if failed else ''}")
    print("target met (every page < 2 s)" if slowest < 2 else "TARGET MISSED", file=sys.stderr)
    return 0 if slowest < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
