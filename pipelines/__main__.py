"""Command line: python -m pipelines ingest|sample|... (progress and diagnostics on stderr)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time
from pathlib import Path

from pipelines.store.errors import KakehashiError, store_fault
from pipelines.store.settings import db_path


class _Bar:
    """A tqdm bar per phase, moving by bytes read or rows processed."""

    LABELS = {"decode": "decode", "tokenize": "tokenize"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm  # only when a progress bar is drawn

        bar = self.bars.get(phase)
        if bar is None:
            unit = "B" if phase == "decode" else "rows"
            bar = self.bars[phase] = tqdm(total=total, desc=phase, unit=unit, unit_scale=True, file=sys.stderr,
                                          leave=False)
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def cmd_ingest(args: argparse.Namespace) -> int:
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.ingest.load import LoadOptions, load_file

    kind = "events" if args.events else "countermeasures" if args.countermeasures else "cases"
    failed = 0
    for file in args.files:
        bar = _Bar(not args.quiet and sys.stderr.isatty())
        options = LoadOptions(kind=kind, mapping=args.mapping, progress=bar, workers=args.workers,
                              save_mapping_as=args.save_mapping)
        try:
            result = load_file(Path(file), args.db, options)
        except KakehashiError as exc:
            bar.close()
            print(f"error: {file}: {exc.message_en()}", file=sys.stderr)
            failed = exc.exit_code
            continue
        except FileNotFoundError:
            print(f"error: {file}: no such file. Check the path with `ls {file}`.", file=sys.stderr)
            failed = 2
            continue
        except Exception as exc:  # noqa: BLE001 - load_file records its own failures; this is the last word
            bar.close()
            fault = store_fault(exc, db_path(args.db))
            if fault is not None:
                print(f"error: {file}: {fault.message_en()}", file=sys.stderr)
                failed = 2
                continue
            print(f"error: {file}: the load stopped unexpectedly ({type(exc).__name__}: {exc}). Loads are atomic, "
                  "so no row of this file is stored; run the command again, and report the message if it "
                  "repeats (issues may be written in Japanese).", file=sys.stderr)
            failed = 2
            continue
        bar.close()
        summary = {"file": file, "batch_id": result.batch_id, "encoding": result.encoding, "format": result.format,
                   "rows_read": result.rows_read, "inserted": result.inserted, "updated": result.updated,
                   "unchanged": result.unchanged, "duplicate": result.duplicate, "rejected": result.rejected,
                   "recovered": result.recovered}
        if kind == "cases":
            summary.update(identity=result.identity, conflicts=result.conflicts)
        print(json.dumps(summary, ensure_ascii=False))
        if kind == "cases":
            # Which case identity the load used, and anything it kept apart or did not trust, in words.
            for line in [f"case identity: {result.identity_reason_en}", *result.customer_notes_en]:
                print(f"{file}: {line}", file=sys.stderr)
        for note in result.notes_en:
            print(f"{file}: read after a repair: {note}", file=sys.stderr)
        if result.rejected:
            print(f"{file}: {result.rejected} row(s) rejected; see rejected_rows for batch {result.batch_id} "
                  "(or the import history page).", file=sys.stderr)
        if kind == "cases" and not result.analysed:
            print(f"{file}: cases stored without themes, causes or emotion levels because a rules file does not "
                  "parse; run `python -m pipelines analyze` to see where.", file=sys.stderr)
    return failed


def cmd_sample(args: argparse.Namespace) -> int:
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.ingest.load import load_sample

    for result in load_sample(args.db, progress=None if args.quiet else _Bar(sys.stderr.isatty())):
        print(json.dumps({"file": result.file_name, "inserted": result.inserted, "rejected": result.rejected},
                         ensure_ascii=False))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.analysis.analyze import analyze

    bar = _Bar(not args.quiet and sys.stderr.isatty())
    try:
        result = analyze(args.db, full=args.full, workers=args.workers, progress=bar)
    except KakehashiError as exc:
        bar.close()
        print(f"error: {exc.message_en()}", file=sys.stderr)
        return exc.exit_code
    bar.close()
    print(json.dumps({"analysed": result.analysed, "skipped": result.skipped, "themes": result.themes,
                      "coverage": round(result.coverage, 4), "inferred": result.inferred,
                      "seconds": {k: round(v, 2) for k, v in result.seconds.items()}}, ensure_ascii=False))
    return 0


def _cli_day(value: str | None, option: str):
    """A YYYY-MM-DD option value as a date (None when absent); ValueError says how to fix it."""

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option} {value!r} is not a date. Use YYYY-MM-DD, e.g. {option} 2025-07-01.") from None


def cmd_alerts(args: argparse.Namespace) -> int:

    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.detect import alerts
    from pipelines.store import db
    from pipelines.store.settings import db_path

    try:
        since, now_day = _cli_day(args.since, "--since"), _cli_day(args.now, "--now")
        if since and now_day and since > now_day:
            raise ValueError(f"--since {since} is after --now {now_day}. Pick a --since on or before --now.")
        if args.budget < 1:
            raise ValueError(f"--budget {args.budget}: give at least 1 (the most alerts to print).")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = db_path(args.db)
    if not store.exists():
        print(f"error: no store at {store}. Pass the store with --db PATH, or load data first with "
              f"`python -m pipelines load-sample --db {store}`; check with `ls -l {store}`.", file=sys.stderr)
        return 2
    now = datetime.combine(now_day, time(23, 59, 59)) if now_day else None
    try:
        with db.reader(store) as con:
            found = alerts.detect(con, now=now, since=since, budget=args.budget)
    except KakehashiError as exc:
        print(f"error: {exc.message_en()}", file=sys.stderr)
        return exc.exit_code
    for alert in found:
        # Data only on stdout (JSON Lines with --json): the summary goes to stderr, or it would
        # contaminate piped output.
        print(json.dumps(alert.to_json(), ensure_ascii=False) if args.json else
              f"{alert.detected_on}  {alerts.KINDS[alert.kind]}  {alert.message}"
              + (f"  (q={alert.q_value:.2g})" if alert.q_value is not None else ""))
    print(f"{len(found)} alert(s) from {store}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    # The review imports the page query functions and nothing of the load pipeline.
    from pipelines.reports import review
    from pipelines.store import db
    from pipelines.store.settings import db_path

    try:
        as_of = _cli_day(args.as_of, "--as-of")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store, out = db_path(args.db), Path(args.out)
    if not store.exists():
        print(f"error: no store at {store}. Pass the store with --db PATH, or load data first with "
              f"`python -m pipelines load-sample --db {store}`; check with `ls -l {store}`.", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"error: --out {out}: the folder {out.parent} does not exist. Create it first (`mkdir -p {out.parent}`).",
              file=sys.stderr)
        return 2
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        print(f"error: --out {out}: give a .html or .pdf file name (a .pdf also writes the .html beside it).",
              file=sys.stderr)
        return 2
    try:
        if as_of is None:
            with db.reader(store) as con:
                as_of = con.execute("SELECT CAST(max(received_at) AS DATE) FROM cases").fetchone()[0]
        if as_of is None:
            print(f"error: the store {store} has no cases yet. Load data first (`python -m pipelines ingest FILE`).",
                  file=sys.stderr)
            return 2
        built = review.build(args.period, as_of, store)
        html_file = out if out.suffix.lower() != ".pdf" else out.with_suffix(".html")
        html_file.write_text(review.to_html(built), encoding="utf-8")
        print(f"wrote {html_file}", file=sys.stderr)
        if out.suffix.lower() == ".pdf" or args.pdf:
            pdf_file = out if out.suffix.lower() == ".pdf" else out.with_suffix(".pdf")
            if not review.to_pdf(html_file, pdf_file):
                print("error: chromium is not installed, so no PDF was written (the HTML was). "
                      "Install it with `apt-get install chromium fonts-noto-cjk`; check with `chromium --version`.",
                      file=sys.stderr)
                return 2
            print(f"wrote {pdf_file}", file=sys.stderr)
    except KakehashiError as exc:
        print(f"error: {exc.message_en()}", file=sys.stderr)
        return exc.exit_code
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Read every row of every table, as a writer does before writing to a store it did not leave."""
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.store import db

    store = db_path(args.db)
    if not store.exists():
        print(f"error: no store at {store}; check the path with `ls -l {store}`.", file=sys.stderr)
        return 2
    with db.reader(store, wait_seconds=10.0) as con:
        tables = db.verify(con, store, force=True)
    print(f"{store}: {tables} tables read, every block's checksum matched", file=sys.stderr)
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    """The desk's labels as a test set in bench/data/real/'s format (texts.csv, labels.csv)."""
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.store import labels
    from pipelines.store.settings import db_path

    store, out = db_path(args.db), Path(args.out)
    if not store.exists():
        print(f"error: no store at {store}. Pass the store with --db PATH; check with `ls -l {store}`.", file=sys.stderr)
        return 2
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file; give a folder (texts.csv and labels.csv are written into it).",
              file=sys.stderr)
        return 2
    exported = labels.export_set(args.industry, args.source, store)
    for note in exported.notes():
        print(f"note: {note}", file=sys.stderr)
    if not exported.cases:
        print(f"error: the store {store} has no labelled cases yet, so nothing was written. Label cases on the "
              "case view (相談室長) first; check with `python -m pipelines check`.", file=sys.stderr)
        return 2
    texts, labels_file = labels.write_set(exported, out)
    print(f"wrote {exported.cases} labelled case(s) to {texts} and {labels_file}; measure with: "
          f".venv/bin/python bench/bench_themes_real.py --set {out}", file=sys.stderr)
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    # Each command imports its own stack: `--help` and `alerts` need no tokenizer or load pipeline.
    from pipelines.jobs.runner import run

    return run(Path(args.job_file))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description="Kakehashi pipelines")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="load case, event or countermeasure exports (CSV/TSV/xlsx)")
    ingest.add_argument("files", nargs="+", help="export files")
    ingest.add_argument("--db", help="store path (default: $KAKEHASHI_DB or data/kakehashi.duckdb)")
    ingest.add_argument("--mapping", help="preset name (data/mappings/*.json), a saved mapping name, or a .json file")
    ingest.add_argument("--save-mapping", help="save the mapping used under this name")
    group = ingest.add_mutually_exclusive_group()
    group.add_argument("--events", action="store_true", help="the files are hand-off event exports")
    group.add_argument("--countermeasures", action="store_true", help="the files are countermeasure logs")
    ingest.add_argument("--workers", type=int, default=2, help="tokenizer processes (default 2)")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(func=cmd_ingest)

    sample = sub.add_parser("load-sample", help="load the bundled sample data into the store")
    sample.add_argument("--db")
    sample.add_argument("--quiet", action="store_true")
    sample.set_defaults(func=cmd_sample)

    analyze = sub.add_parser("analyze", help="tag themes, causes and emotion level (incremental)")
    analyze.add_argument("--db")
    analyze.add_argument("--full", action="store_true", help="analyse every case again, not only new or changed ones")
    analyze.add_argument("--workers", type=int, default=2)
    analyze.add_argument("--quiet", action="store_true")
    analyze.set_defaults(func=cmd_analyze)

    alerts = sub.add_parser("alerts", help="spikes, sustained rises and causes back after their countermeasure "
                                           "(docs/alerts.md)")
    alerts.add_argument("--db", help="store path (default: $KAKEHASHI_DB or data/kakehashi.duckdb)")
    alerts.add_argument("--since", help="only alerts first raised on or after this day (YYYY-MM-DD; "
                                        "default: the 28 days up to --now)")
    alerts.add_argument("--now", help="run as of the end of this day (YYYY-MM-DD; default: the latest case)")
    alerts.add_argument("--budget", type=int, default=12, help="at most this many alerts, strongest first (default 12)")
    alerts.add_argument("--json", action="store_true", help="one JSON object per line (JSON Lines), nothing else on stdout")
    alerts.set_defaults(func=cmd_alerts)

    report = sub.add_parser("report", help="the 定例会議 review as a self-contained HTML file (and a PDF via Chromium)")
    report.add_argument("--db", help="store path (default: $KAKEHASHI_DB or data/kakehashi.duckdb)")
    report.add_argument("--period", choices=["week", "month"], default="week",
                        help="week: the 7 days up to --as-of; month: the month up to --as-of (default week)")
    report.add_argument("--as-of", help="the 基準日 (YYYY-MM-DD; default: the latest case)")
    report.add_argument("--out", required=True, help="output file: .html, or .pdf (writes the .html beside it)")
    report.add_argument("--pdf", action="store_true", help="with an .html --out, also print a PDF beside it")
    report.set_defaults(func=cmd_report)

    check = sub.add_parser("check", help="read the whole store and report damage (a truncated or overwritten file)")
    check.add_argument("--db", help="store path (default: $KAKEHASHI_DB or data/kakehashi.duckdb)")
    check.set_defaults(func=cmd_check)

    labels = sub.add_parser("labels", help="the desk's case labels: export them as a test set (bench/data/real format)")
    labels.add_argument("action", choices=["export"], help="export: write texts.csv and labels.csv into --out")
    labels.add_argument("--db", help="store path (default: $KAKEHASHI_DB or data/kakehashi.duckdb)")
    labels.add_argument("--out", required=True, help="folder to write texts.csv and labels.csv into (made when missing)")
    labels.add_argument("--industry", default="other", help="the industry column of every text (default other)")
    labels.add_argument("--source", default="desk", help="the source column and id prefix (default desk)")
    labels.set_defaults(func=cmd_labels)

    job = sub.add_parser("job", help="run a background job written by the dashboard (internal)")
    job.add_argument("job_file")
    job.set_defaults(func=cmd_job)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KakehashiError as exc:
        # A fault of the store (full disk, read-only or missing folder, damaged file, lock held too
        # long) in any command: its message, never a traceback. Errors go to stderr.
        print(f"error: {exc.message_en()}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        fault = store_fault(exc, db_path(getattr(args, "db", None)))
        if fault is None:
            raise
        print(f"error: {fault.message_en()}", file=sys.stderr)
        return fault.exit_code


if __name__ == "__main__":
    sys.exit(main())
