"""Benchmark: load a generated 1M-row CP932 export and compare with DuckDB's own read_csv.

    .venv/bin/python bench/bench_ingest.py --rows 1000000

Reports, in one run on the same data:
  - baseline: CREATE TABLE … AS SELECT * FROM read_csv(<UTF-8 copy>) into a database file;
  - our load without morphology (decode + map + validate + write), with NFKC and regex masking
    reported as their own lines (targets: the core ≤ 2.5× the baseline — issue 12's identity and
    malformed-row checks may spend some headroom —, NFKC and masking ≤ 2× each; peak RSS ≤ 1 GB);
  - our full load with morphology (tokenization, name masking and the text analysis that rides
    along with them), reported separately.
Each measured load runs in its own process so peak RSS is per process (parent and each worker).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = ["受付番号", "受付日時", "受付チャネル", "顧客ID", "お客様氏名", "電話番号", "商品名", "分類", "担当部署",
          "対応状況", "優先度", "完了日時", "問い合わせ内容", "対応内容"]


def generate(path_cp932: Path, path_utf8: Path, rows: int, seed: int = 11) -> None:
    """Rows built from the bundled sample's texts (real-looking wording), ~80-120 characters each."""
    from pipelines.store.settings import SAMPLE_DIR

    with (SAMPLE_DIR / "cases.csv").open(encoding="utf-8-sig", newline="") as fh:
        sample = list(csv.DictReader(fh))
    rng = random.Random(seed)
    with path_cp932.open("w", encoding="cp932", errors="replace", newline="") as out_sj, \
            path_utf8.open("w", encoding="utf-8", newline="") as out_u8:
        writers = [csv.writer(out_sj), csv.writer(out_u8)]
        for writer in writers:
            writer.writerow(HEADER)
        for index in range(rows):
            src = sample[rng.randrange(len(sample))]
            day = 1 + index % 28
            row = [f"B-{index:08d}", f"2025/{1 + index % 12}/{day} {index % 24}:{index % 60:02d}",
                   src.get("受付チャネル", ""), f"M{rng.randrange(200_000):06d}", src.get("お客様氏名", ""),
                   src.get("電話番号", ""), src.get("商品名", ""), src.get("分類", ""), src.get("担当部署", ""),
                   src.get("対応状況", ""), src.get("優先度", ""), "", src.get("問い合わせ内容", ""),
                   src.get("対応内容", "")]
            for writer in writers:
                writer.writerow(row)


def baseline(utf8: Path, workdir: Path) -> float:
    import duckdb

    con = duckdb.connect(str(workdir / "baseline.duckdb"))
    start = time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(utf8)])
    con.close()
    return time.perf_counter() - start


def measured_load(path: Path, store: Path, morphology: bool) -> dict:
    """Run in a child process: the load's phase timings and the child's own peak RSS."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from pipelines.ingest.load import LoadOptions, load_file\n"
        "t = time.perf_counter()\n"
        f"r = load_file(Path({str(path)!r}), Path({str(store)!r}), LoadOptions(morphology={morphology}))\n"
        "total = time.perf_counter() - t\n"
        "print(json.dumps({'seconds': r.seconds, 'total': total, 'rows': r.rows_read, 'inserted': r.inserted,\n"
        "  'rejected': r.rejected, 'rss_parent_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
        "  'rss_worker_max_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-morphology", action="store_true", help="skip the (slow) full load")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-") as tmp:
        workdir = Path(tmp)
        cp932, utf8 = workdir / "export_cp932.csv", workdir / "export_utf8.csv"
        t = time.perf_counter()
        generate(cp932, utf8, args.rows)
        print(f"generated {args.rows:,} rows ({cp932.stat().st_size / 1e6:.0f} MB CP932) in "
              f"{time.perf_counter() - t:.1f}s", file=sys.stderr)
        # Flush the generated files to disk first: write-back of 700 MB of dirty pages would
        # otherwise compete with whichever run comes first.
        os.sync()
        base = baseline(utf8, workdir)
        os.sync()
        fast = measured_load(cp932, workdir / "fast.duckdb", morphology=False)
        full = None if args.skip_morphology else measured_load(cp932, workdir / "full.duckdb", morphology=True)
    s = fast["seconds"]
    core = s.get("decode", 0) + s.get("stage", 0) + s.get("map_validate", 0) + s.get("reject_write", 0) + s.get("write", 0)
    figures = {
        "rows": args.rows, "duckdb_read_csv_s": round(base, 2),
        "load_decode_map_validate_write_s": round(core, 2), "ratio_core": round(core / base, 2),
        "nfkc_s": round(s.get("nfkc", 0), 2), "ratio_nfkc": round(s.get("nfkc", 0) / base, 2),
        "mask_regex_s": round(s.get("mask_regex", 0), 2), "ratio_mask": round(s.get("mask_regex", 0) / base, 2),
        "phases_s": {k: round(v, 2) for k, v in s.items()},
        "peak_rss_parent_mb": round(fast["rss_parent_mb"]), "peak_rss_worker_mb": round(fast["rss_worker_max_mb"]),
        "inserted": fast["inserted"],
    }
    if full:
        figures.update(morphology_s=round(full["seconds"].get("morphology", 0), 2),
                       full_load_total_s=round(full["total"], 2),
                       full_peak_rss_parent_mb=round(full["rss_parent_mb"]),
                       full_peak_rss_worker_mb=round(full["rss_worker_max_mb"]))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:36s} {value}")
    ok = figures["ratio_core"] <= 2.5 and figures["ratio_nfkc"] <= 2 and figures["ratio_mask"] <= 2 \
        and figures["peak_rss_parent_mb"] <= 1024 and figures["peak_rss_worker_mb"] <= 1024
    print("targets met" if ok else "TARGETS MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
