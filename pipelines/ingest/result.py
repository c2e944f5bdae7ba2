"""What a load is asked to do and what it reports: options, result with its row accounting, phase timings."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LoadOptions:
    kind: str = "cases"                          # cases / events
    mapping: str | dict | None = None            # preset name, saved name, JSON file, or {field: header}
    display_name: str | None = None              # the name the user knows (uploads arrive as temp files)
    workers: int = 2
    morphology: bool = True                      # False only for benchmarks of the non-morphological load
    save_mapping_as: str | None = None
    progress: Progress | None = None
    pause_before_commit: float = 0.0             # tests: a window in which to kill the load


@dataclass
class LoadResult:
    batch_id: int | None
    file_name: str
    status: str
    encoding: str = ""
    format: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    rejected: int = 0
    # Rows read whole only after a repair (counted among the others too), and what was put right
    # where (staging.repair_notes), in Japanese and in English: NUL bytes removed, a row split from
    # an unclosed quote, a stale sheet size ignored, …
    recovered: int = 0
    notes: list[str] = field(default_factory=list)
    notes_en: list[str] = field(default_factory=list)
    analysed: bool = False   # the tokenized texts were tagged too (False when the rules did not parse)
    # Case identity (ingest.identity): the ID column used ("generated" when IDs were made from each
    # row's fields) and why; rows kept as separate cases under a derived ID <ID>~<YYYYMMDD> because
    # their ID belonged to a different case (counted among inserted/updated/unchanged/duplicate too),
    # with up to five examples {line, case_id, kept_as, received, other_received}; customer columns
    # not used to identify customers, and why. Japanese for the page, English for the CLI.
    identity: str = ""
    identity_reason_ja: str = ""
    identity_reason_en: str = ""
    conflicts: int = 0
    conflict_examples: list[dict] = field(default_factory=list)
    customer_notes_ja: list[str] = field(default_factory=list)
    customer_notes_en: list[str] = field(default_factory=list)
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def accounted(self) -> bool:
        return self.rows_read == self.inserted + self.updated + self.unchanged + self.duplicate + self.rejected


class PhaseTimer:
    """Seconds per phase, reported by the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[phase] = timer.seconds.get(phase, 0.0) + time.perf_counter() - self.t0

        return _Phase()
