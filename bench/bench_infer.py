"""How precisely the inferred (推定) themes recover rule tags they did not learn from (issue 14, item 3):

    .venv/bin/python bench/bench_infer.py                 # loads the bundled sample into a temporary store
    .venv/bin/python bench/bench_infer.py --db STORE      # an analysed store, read only

One rule-tagged case in five (by hash of case_id) is held out; the classifier (pipelines.analysis.infer,
its default settings) is trained on the others and proposes themes for the held-out cases as if no rule
tagged them. Printed: held-out cases, the share it proposed a theme for (coverage, the rest abstained),
and the share of proposals among the case's rule tags (precision), overall and per theme, at the
default threshold and at a few others. These cases are easier than the ones no rule tags (their words
are the rules' words), so the figure is an upper bound of what a lead will see; desk labels
(python -m pipelines labels export) measure the real thing.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="an analysed store (default: the bundled sample, loaded into a temp store)")
    args = parser.parse_args(argv)
    # Function-local: `--help` needs no pipeline.
    import duckdb

    from pipelines.analysis import infer

    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-infer-") as tmp:
        store = args.db
        if store is None:
            from pipelines.__main__ import main as cli

            store = Path(tmp) / "sample.duckdb"
            if cli(["load-sample", "--db", str(store), "--quiet"]) != 0:
                return 2
        con = duckdb.connect(str(store), read_only=True)
        try:
            print(f"store: {store}")
            for threshold in (0.5, 0.8, infer.DEFAULT.threshold, 0.99):
                settings = dataclasses.replace(infer.DEFAULT, threshold=threshold)
                started = time.perf_counter()
                held = infer.evaluate(con, settings)
                mark = "  (default)" if threshold == infer.DEFAULT.threshold else ""
                print(f"threshold {threshold:.2f}: held out {held.held_out}, proposed {held.proposed} "
                      f"(coverage {held.coverage:.3f}), precision {held.precision:.3f}  "
                      f"[{time.perf_counter() - started:.1f} s]{mark}")
                if threshold == infer.DEFAULT.threshold:
                    for theme_id, (proposed, correct) in sorted(held.per_theme.items()):
                        print(f"    {theme_id:<14} proposed {proposed:>5}  precision {correct / proposed:.3f}")
        finally:
            con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
