"""The audit trail: who signed in, loaded which file, edited which rule or pack, recorded which
countermeasure, downloaded what — one JSON object per line in a journal beside the store.

Not in DuckDB: the store has one writer and a load can hold it for minutes, and a sign-in or a
download must be recorded at once. Each entry is one write() to a file opened with O_APPEND (the
kernel places it at the end even when several processes append) followed by fsync, so an entry that
was acknowledged survives a crash. Nothing ever rewrites or truncates the journal.

    record(store, actor, SIGN_IN)
    record(store, actor, LOAD, "2025-07.csv", {"kind": "cases", "job": "3f2a…"})
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.store.access import Actor
from pipelines.store.settings import db_path

SIGN_IN, SIGN_OUT, IDLE_SIGN_OUT, REFUSED = "sign_in", "sign_out", "idle_sign_out", "refused"
LOAD, EDIT_RULES, RECORD_COUNTERMEASURE, EXPORT, EDIT_ROLES = (
    "load", "edit_rules", "record_countermeasure", "export", "edit_roles")
LABEL_CASE = "label_case"
ACTIONS_JA = {
    SIGN_IN: "サインイン", SIGN_OUT: "サインアウト", IDLE_SIGN_OUT: "サインアウト（無操作）", REFUSED: "拒否",
    LOAD: "データ取り込み", EDIT_RULES: "テーマ辞書・パックの編集", RECORD_COUNTERMEASURE: "再発防止策の登録", LABEL_CASE: "ケースのラベル付け",
    EXPORT: "ダウンロード", EDIT_ROLES: "役割の変更",
}
COLUMNS_JA = {"at": "日時", "user": "利用者", "roles": "役割", "action": "操作", "target": "対象", "detail": "詳細"}


def journal(store: Path | str | None = None) -> Path:
    """The journal of `store` (default: the store in use), beside it: kakehashi.duckdb →
    kakehashi-audit.jsonl."""
    store = db_path(store)
    return store.parent / f"{store.stem}-audit.jsonl"


def record(store: Path | str | None, actor: Actor, action: str, target: str = "", detail: dict | None = None) -> dict:
    """Append one entry (durable when this returns); returns it."""
    entry = {"at": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"), "user": actor.user_id,
             "name": actor.name, "roles": [role for role in sorted(actor.roles)], "local": actor.local,
             "action": action, "target": target, "detail": detail or {}}
    line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    path = journal(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        written = os.write(fd, line)
        if written != len(line):   # a full disk: say so rather than leave a torn line unnoticed
            raise OSError(f"audit journal {path}: wrote {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


@dataclass(frozen=True)
class Journal:
    """What the admin page shows: the entries, newest first, and how many lines could not be read
    (a line cut short by a crash while it was written; never an acknowledged entry)."""

    entries: list[dict]
    unreadable: int
    path: str


def read(store: Path | str | None = None, limit: int | None = None) -> Journal:
    """The journal's entries, newest first (`limit` of them when given)."""
    path = journal(store)
    entries, unreadable = [], 0
    if path.exists():
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    entries.append(json.loads(raw))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    unreadable += 1
    entries.reverse()
    return Journal(entries[:limit] if limit else entries, unreadable, str(path))
