"""The attempts journal: every load is written down before it starts, so 取り込み履歴 lists it even
when the store itself could not record it — a lock that was never released, a full disk, a
read-only folder, a damaged file, or a process killed before its batch row existed (during decode).

One JSON object per line, appended (`<store folder>/.<store>-jobs/attempts.jsonl`; when that folder
cannot be written, `$XDG_STATE_HOME/kakehashi/` or `~/.local/state/kakehashi/`, one file per store):

    {"id": …, "event": "start", "pid": …, "started_at": …, "file_name": …, "kind": …, "size_bytes": …}
    {"id": …, "event": "end", "status": "done|refused|failed|interrupted", "message": "…", "batch_id": 12}

An attempt is matched to its import_batches row by (pid, started_at), which the load writes there
too. The next write folds what the store lacks into import_batches (fold()); until then the history
page adds it (pending()). An attempt without an end whose process is gone was interrupted.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

import duckdb

from pipelines.store.errors import KakehashiError, LoadFailed, StoreBusy, StoreFault, store_fault
from pipelines.store.settings import jobs_dir

JOURNAL = "attempts.jsonl"
INTERRUPTED_JA = "読み込みが途中で中断されました（処理が終了させられました）。データは変更されていません。"


def paths(store: Path) -> list[Path]:
    """Where the journal of `store` may be: beside the store, and the per-user fallback."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "kakehashi"
    digest = hashlib.sha256(str(Path(store).resolve()).encode()).hexdigest()[:16]
    return [jobs_dir(Path(store)) / JOURNAL, state / f"{Path(store).stem}-{digest}.{JOURNAL}"]


def append(store: Path, entry: dict) -> bool:
    """Append one line (one write, so concurrent writers never interleave); False when neither
    place can be written (the fault is then reported, only not kept)."""
    line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    for beside, path in enumerate(paths(store)):
        try:
            # Beside the store only when its folder exists: a mistyped --db must not create it.
            path.parent.mkdir(parents=bool(beside), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.write(fd, line) == len(line):
                    return True
            finally:
                os.close(fd)
        except OSError:
            continue
    return False


def begin(store: Path, file_name: str, kind: str, started_at: dt.datetime, size_bytes: int | None = None,
          sha256: str | None = None) -> str:
    """Write down an attempt before it starts; returns its id."""
    attempt = uuid.uuid4().hex[:16]
    append(store, {"id": attempt, "event": "start", "pid": os.getpid(), "started_at": started_at.isoformat(),
                   "file_name": file_name, "kind": kind, "size_bytes": size_bytes, "sha256": sha256})
    return attempt


def end(store: Path, attempt: str, status: str, message: str | None = None, batch_id: int | None = None) -> None:
    """Write down how an attempt ended (batch_id when the store recorded it)."""
    append(store, {"id": attempt, "event": "end", "status": status, "message": message, "batch_id": batch_id,
                   "finished_at": dt.datetime.now().isoformat()})


def outcome(exc: BaseException, store: Path) -> tuple[str, str]:
    """(status, Japanese message) of an attempt that raised `exc`: a refusal of the file, a failure
    (the store, the disk, a bug), or an interruption (Ctrl-C, a stop)."""
    if not isinstance(exc, Exception):
        return "interrupted", "読み込みが中断されました（データは変更されていません）。"
    fault = store_fault(exc, store)
    if fault is None:
        detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else '—'}"
        return "failed", f"予期しないエラーのため取り込めませんでした（{detail}）。データは変更されていません。"
    failed = isinstance(fault, StoreBusy | StoreFault | LoadFailed) or not isinstance(fault, KakehashiError)
    return ("failed" if failed else "refused"), fault.message_ja()


def end_with(store: Path, attempt: str, exc: BaseException) -> None:
    """Write down an attempt that raised `exc` (see outcome())."""
    status, message = outcome(exc, store)
    end(store, attempt, status, message)


def attempts(store: Path) -> list[dict]:
    """Every attempt of the journal, start and end merged, oldest first; `alive` says whether its
    process still runs, and an attempt with no end whose process is gone reads as interrupted."""
    merged: dict[str, dict] = {}
    for path in paths(store):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue    # a line cut by a full disk
            if isinstance(entry, dict) and entry.get("id"):
                merged.setdefault(entry["id"], {}).update({k: v for k, v in entry.items() if k != "event"})
    result = []
    for entry in merged.values():
        if "started_at" not in entry:
            continue
        entry["alive"] = "status" not in entry and pid_alive(entry.get("pid"))
        if "status" not in entry:
            entry["status"] = "running" if entry["alive"] else "interrupted"
            entry["message"] = None if entry["alive"] else INTERRUPTED_JA
        result.append(entry)
    return sorted(result, key=lambda e: e["started_at"])


def stamp(store: Path) -> str:
    """Changes whenever the journal does (part of the pages' cache key)."""
    parts = []
    for path in paths(store):
        try:
            info = path.stat()
            parts.append(f"{info.st_size}.{info.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return "/".join(parts)


def _recorded(con: duckdb.DuckDBPyConnection) -> set[tuple[int, str]]:
    rows = con.execute("SELECT pid, started_at FROM import_batches WHERE pid IS NOT NULL AND started_at IS NOT NULL")
    return {(int(pid), started.isoformat()) for pid, started in rows.fetchall()}


def pending(con: duckdb.DuckDBPyConnection, store: Path) -> list[dict]:
    """The attempts the store does not list yet (not running: those are still to write their row)."""
    recorded = _recorded(con)
    return [e for e in attempts(store)
            if (int(e.get("pid") or 0), e["started_at"]) not in recorded and e["status"] != "running"]


def ended(store: Path) -> dict[tuple[int, str], dict]:
    """(pid, started_at) → the journal's word on an attempt that ended or died (for a store row left
    'running' because the store could not be written at the end)."""
    return {(int(e.get("pid") or 0), e["started_at"]): e for e in attempts(store) if e["status"] != "running"}


def fold(con: duckdb.DuckDBPyConnection, store: Path) -> int:
    """Write into import_batches what only the journal knows: attempts the store never recorded, and
    the end of rows left 'running' by a process that is gone. Returns the rows written or changed."""
    changed = 0
    for entry in pending(con, store):
        con.execute(
            "INSERT INTO import_batches (kind, file_name, sha256, size_bytes, status, message, rows_read, started_at, "
            "finished_at, pid) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            [entry.get("kind"), entry.get("file_name"), entry.get("sha256"), entry.get("size_bytes"), entry["status"],
             entry.get("message"), dt.datetime.fromisoformat(entry["started_at"]),
             dt.datetime.fromisoformat(entry["finished_at"]) if entry.get("finished_at") else None,
             entry.get("pid")])
        changed += 1
    words = ended(store)
    for batch_id, pid, started in con.execute(
            "SELECT batch_id, pid, started_at FROM import_batches WHERE status = 'running'").fetchall():
        if pid_alive(pid):
            continue
        entry = words.get((int(pid or 0), started.isoformat() if started else ""), {})
        status = entry.get("status") if entry.get("status") not in (None, "done", "running") else "interrupted"
        con.execute("UPDATE import_batches SET status = ?, message = ?, finished_at = coalesce(finished_at, ?) "
                    "WHERE batch_id = ?",
                    [status, entry.get("message") or INTERRUPTED_JA,
                     dt.datetime.fromisoformat(entry["finished_at"]) if entry.get("finished_at") else None, batch_id])
        changed += 1
    return changed


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs (this process counts as alive)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        # A killed child its parent has not reaped yet (a zombie) still answers kill(0): it is gone.
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
