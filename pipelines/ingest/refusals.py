"""Recording a file the upload page refused before any load started, so 取り込み履歴 lists it.

A load refused by load_file records itself; a file refused while the page checks it (unreadable,
binary, a required column missing) never reaches load_file. The page hands the refusal to the job
runner, whose child process calls record_refusal: the Streamlit server never writes the store.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.sources import sha256_of
from pipelines.store import db


@dataclass(frozen=True)
class Refusal:
    """What the history keeps of a refused file: its name, kind and the reason the user was shown."""

    file_name: str                 # the name the user knows (uploads are saved under another name)
    kind: str                      # cases / events / countermeasures
    message: str                   # Japanese, as the page showed it
    encoding: str | None = None    # known when the file was read and only its columns were refused
    file_format: str | None = None
    delimiter: str | None = None


def record_refusal(path: Path | str, refusal: Refusal, store: Path | str | None = None,
                   started_at: dt.datetime | None = None) -> int:
    """Add a 'refused' row for the file at `path` to import_batches; returns its batch_id."""
    path = Path(path)
    exists = path.exists()
    with db.writer(store) as con:
        batch_id = con.execute(
            "INSERT INTO import_batches (kind, file_name, sha256, size_bytes, encoding, format, delimiter, status, "
            "message, rows_read, started_at, finished_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, 'refused', ?, 0, ?, ?, ?) "
            "RETURNING batch_id",
            [refusal.kind, refusal.file_name, sha256_of(path) if exists else None,
             path.stat().st_size if exists else None, refusal.encoding, refusal.file_format, refusal.delimiter,
             refusal.message, started_at or dt.datetime.now(), dt.datetime.now(), os.getpid()]).fetchone()[0]
        db.bump_version(con)
    return batch_id
