"""Command line: python -m pipelines ingest|sample|... (progress and diagnostics on stderr)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import KakehashiError


class _Bar:
    """A tqdm bar per phase, moving by bytes read or rows processed."""

    LABELS = {"decode": "decode", "tokenize": "tokenize"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

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
    from .ingest import LoadOptions, load_file

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
        bar.close()
        summary = {"file": file, "batch_id": result.batch_id, "encoding": result.encoding, "format": result.format,
                   "rows_read": result.rows_read, "inserted": result.inserted, "updated": result.updated,
                   "unchanged": result.unchanged, "duplicate": result.duplicate, "rejected": result.rejected}
        print(json.dumps(summary, ensure_ascii=False))
        if result.rejected:
            print(f"{file}: {result.rejected} row(s) rejected; see rejected_rows for batch {result.batch_id} "
                  "(or the import history page).", file=sys.stderr)
    return failed


def cmd_sample(args: argparse.Namespace) -> int:
    from .ingest import load_sample

    for result in load_sample(args.db, progress=None if args.quiet else _Bar(sys.stderr.isatty())):
        print(json.dumps({"file": result.file_name, "inserted": result.inserted, "rejected": result.rejected},
                         ensure_ascii=False))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze

    bar = _Bar(not args.quiet and sys.stderr.isatty())
    try:
        result = analyze(args.db, full=args.full, workers=args.workers, progress=bar)
    except KakehashiError as exc:
        bar.close()
        print(f"error: {exc.message_en()}", file=sys.stderr)
        return exc.exit_code
    bar.close()
    print(json.dumps({"analysed": result.analysed, "skipped": result.skipped, "themes": result.themes,
                      "coverage": round(result.coverage, 4),
                      "seconds": {k: round(v, 2) for k, v in result.seconds.items()}}, ensure_ascii=False))
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from .jobs import run

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

    job = sub.add_parser("job", help="run a background job written by the dashboard (internal)")
    job.add_argument("job_file")
    job.set_defaults(func=cmd_job)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
