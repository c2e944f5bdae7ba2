"""Back-test of the alert detector (the table in docs/alerts.md):

    .venv/bin/python bench/backtest_alerts.py
    .venv/bin/python bench/backtest_alerts.py --db data/kakehashi.duckdb --manifest data/sample/manifest.json

Without --db it builds two stores in a temporary folder, as the tests do: the bundled sample
(seed 7, 24,000 cases) and a second generated data set (seed 11, 12,000 cases), each loaded and
analysed (about a minute). Spikes of every size × duration are injected into every theme, cause and
product series at --starts random dates away from the spike the generator planted, and the
detector is run as a daily job would be. Prints one Markdown table per data set and the run time.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(folder: Path, seed: int | None) -> tuple[Path, dict]:
    """Load and analyse the bundled sample (seed None) or a generated one into `folder`."""
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file
    from pipelines.store.settings import SAMPLE_FILES
    from devtools.sample import generate
    from pipelines.store.settings import SAMPLE_DIR

    source = SAMPLE_DIR
    if seed is not None:
        source = folder / f"sample{seed}"
        generate(source, seed, 12000, date(2024, 1, 1), 18)
    store = folder / f"store{seed or 7}.duckdb"
    for name, kind in SAMPLE_FILES:
        if (source / name).exists():
            load_file(source / name, store, LoadOptions(kind=kind))
    analyze(store)
    return store, json.loads((source / "manifest.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    from devtools import backtest

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help="a loaded and analysed store (repeatable)")
    parser.add_argument("--manifest", action="append", help="its generator manifest, in the same order as --db")
    parser.add_argument("--starts", type=int, default=4, help="injection dates per series, size and duration")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injection dates and sizes")
    args = parser.parse_args(argv)
    if args.db and len(args.db) != len(args.manifest or []):
        print("error: give one --manifest per --db (the generator's manifest.json, which names the planted "
              "spike the injections avoid).", file=sys.stderr)
        return 2
    options = backtest.BacktestOptions(starts_per_series=args.starts, seed=args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kakehashi-backtest-") as tmp:
        if args.db:
            stores = [(Path(store), json.loads(Path(manifest).read_text(encoding="utf-8")))
                      for store, manifest in zip(args.db, args.manifest)]
        else:
            print("building the two sample stores (about a minute)…", file=sys.stderr)
            stores = [build(Path(tmp), None), build(Path(tmp), 11)]
        built = time.perf_counter()
        results = {}
        for store, manifest in stores:
            label = f"seed {manifest.get('seed', '?')} ({manifest.get('n_cases', '?')} cases)"
            results[label] = backtest.run(store, manifest, options)
    finished = time.perf_counter()
    print(backtest.markdown(results))
    print(f"back-test {finished - built:.1f} s (stores built in {built - started:.1f} s); "
          f"{options.starts_per_series} dates per series, seed {options.seed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
