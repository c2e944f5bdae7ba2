"""Benchmark of the text analysis, on one generated data set (~80-character complaints):

    .venv/bin/python bench/bench_analyze.py --cases 1000000

  (a) raw fugashi tokenization throughput on 2 fork workers: parse() with a custom output format
      (surface, POS, lemma) split into fields, output discarded — the fastest Python can drive MeCab;
  (b) our full pipeline per case: the load's morphological part (tokenize once, mask names, store
      terms, and tag themes, causes and emotion level while the terms are in hand), the load's write
      of those tags, and the `analyze` run that follows (what the load could not know);
  (c) a notebook-style baseline: pandas + one janome Tokenizer with .apply (measured on a subsample
      and extrapolated);
prints cases/s, the ratios (targets: b ≥ 0.7 × a, b ≥ 20 × c) and peak RSS per process.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = ["受付番号", "受付日時", "受付チャネル", "顧客ID", "商品名", "担当部署", "対応状況", "問い合わせ内容"]


def sample_texts(limit: int = 240) -> list[str]:
    """Texts of the bundled sample (77 characters on average, as real complaints run to about 80),
    only the rare longer than `limit` cut at a sentence end: they average 76 characters."""
    from pipelines.store.settings import SAMPLE_DIR

    with (SAMPLE_DIR / "cases.csv").open(encoding="utf-8-sig", newline="") as fh:
        texts = [row["問い合わせ内容"] for row in csv.DictReader(fh)]
    out = []
    for text in texts:
        if len(text) > limit:
            cut = text.rfind("。", 0, limit)
            text = text[: cut + 1] if cut > limit // 2 else text[:limit]
        out.append(text)
    return out


def generate(path: Path, cases: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    pool = sample_texts()
    texts = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for index in range(cases):
            text = pool[rng.randrange(len(pool))]
            writer.writerow([f"A-{index:08d}", f"2025/{1 + index % 12}/{1 + index % 28} 10:00", "電話",
                             f"M{rng.randrange(300_000):06d}", "商品", "お客様相談室", "完了", text])
            texts.append(text)
    return texts


_TEXTS: list[str] = []


def _parse_range(bounds: tuple[int, int]) -> int:
    from pipelines.nlp.text import tagger

    parse = tagger().parse
    for text in _TEXTS[bounds[0]:bounds[1]]:
        for line in parse(text).split("\n"):
            line.split("\t")
    return bounds[1] - bounds[0]


def raw_tokenization(texts: list[str], workers: int = 2) -> float:
    """(a): seconds to parse every text on `workers` fork processes."""
    global _TEXTS
    _TEXTS = texts
    from pipelines.nlp.text import tagger

    tagger()  # loaded before the fork, as the pipeline does
    step = 20_000
    ranges = [(i, min(i + step, len(texts))) for i in range(0, len(texts), step)]
    start = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        sum(pool.imap_unordered(_parse_range, ranges))
    return time.perf_counter() - start


def janome_baseline(texts: list[str], subsample: int) -> float:
    """(c): seconds per case for pandas + janome .apply, on a subsample."""
    import pandas as pd
    from janome.tokenizer import Tokenizer

    tokenizer = Tokenizer()
    frame = pd.DataFrame({"text": texts[:subsample]})
    start = time.perf_counter()
    frame["tokens"] = frame["text"].apply(lambda t: [(tok.surface, tok.part_of_speech, tok.base_form)
                                                     for tok in tokenizer.tokenize(t)])
    return (time.perf_counter() - start) / len(frame)


def pipeline(csv_path: Path, store: Path) -> dict:
    """(b) in a child process: load (morphology) + analyze; phase seconds and peak RSS."""
    code = (
        "import json, resource, time\n"
        "from pathlib import Path\n"
        "from pipelines.ingest.load import LoadOptions, load_file\n"
        "from pipelines.analysis.analyze import analyze\n"
        f"r = load_file(Path({str(csv_path)!r}), Path({str(store)!r}), LoadOptions())\n"
        f"a = analyze(Path({str(store)!r}))\n"
        "print(json.dumps({'load': r.seconds, 'analyze': a.seconds, 'coverage': a.coverage,\n"
        "  'rss_parent_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
        "  'rss_worker_max_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--janome-subsample", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-") as tmp:
        csv_path = Path(tmp) / "cases.csv"
        texts = generate(csv_path, args.cases)
        mean_len = sum(map(len, texts)) / len(texts)
        a_seconds = raw_tokenization(texts)
        c_per_case = janome_baseline(texts, min(args.janome_subsample, len(texts)))
        b = pipeline(csv_path, Path(tmp) / "store.duckdb")
    # The load tokenizes and analyses each new text in one pass (morphology) and stores the results
    # (analysis_write); analyze() then has only what the load could not know. All three count.
    morph = b["load"].get("morphology", 0.0)
    b_seconds = morph + b["load"].get("analysis_write", 0.0) + b["analyze"]["total"]
    figures = {
        "cases": args.cases, "mean_chars": round(mean_len, 1),
        "a_raw_tokenize_cases_per_s": round(args.cases / a_seconds),
        "b_pipeline_cases_per_s": round(args.cases / b_seconds),
        "b_morphology_s": round(morph, 1), "b_analysis_write_s": round(b["load"].get("analysis_write", 0.0), 1),
        "b_analyze_s": round(b["analyze"]["total"], 1),
        "c_janome_cases_per_s": round(1 / c_per_case),
        "ratio_b_over_a": round(a_seconds / b_seconds, 2),
        "ratio_b_over_c": round((args.cases / b_seconds) * c_per_case, 1),
        "theme_coverage": round(b["coverage"], 3),
        "peak_rss_parent_mb": round(b["rss_parent_mb"]), "peak_rss_worker_mb": round(b["rss_worker_max_mb"]),
        "load_phases_s": {k: round(v, 1) for k, v in b["load"].items()},
    }
    for key, value in figures.items():
        print(f"{key:30s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
