"""Scratch folders: where a load keeps its temporary work (the decoded file, Parquet chunks, DuckDB's
spill files), all of it unmasked text on its way in.

Each folder belongs to one process for its lifetime: the process holds an exclusive lock (flock) on
the folder's `.owner` file, removes the folder on exit, and the kernel releases the lock when the
process dies, however it dies. Every new folder first sweeps the folders whose lock nobody holds —
what a killed load (kill -9, a crash, a power cut) left behind. A `kakehashi-*` folder without an
owner file (made by an older release, or by a TemporaryDirectory that its process could not remove)
is swept once it is older than LEGACY_AGE_SECONDS.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PREFIX = "kakehashi-work-"
OWNER = ".owner"
LEGACY_AGE_SECONDS = 6 * 3600


def root() -> Path:
    """The folder scratch folders are made in (the system temp folder; TMPDIR moves it)."""
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def work_folder(label: str) -> Iterator[Path]:
    """A fresh folder for this process's work, removed on exit (and by the next sweep if the
    process is killed). Example: `with work_folder("load") as folder: ...`."""
    sweep()
    # Locked under a name the sweep does not match, then renamed: a sweep never sees it unlocked.
    pending = Path(tempfile.mkdtemp(prefix=f".{PREFIX}{label}-", dir=root()))
    owner = os.open(pending / OWNER, os.O_CREAT | os.O_RDWR, 0o600)
    folder = pending
    try:
        fcntl.flock(owner, fcntl.LOCK_EX)
        folder = pending.with_name(f"{PREFIX}{label}-{os.getpid()}-{pending.name.rsplit('-', 1)[-1]}")
        pending.rename(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(owner)


def sweep(where: Path | None = None) -> list[Path]:
    """Remove the scratch folders no living process owns; returns them."""
    removed = []
    for folder in (where or root()).glob("kakehashi-*"):
        if folder.is_dir() and not folder.is_symlink() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    owner = folder / OWNER
    try:
        fd = os.open(owner, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > LEGACY_AGE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False    # its process is alive and holds it
    finally:
        os.close(fd)    # closing releases a lock we took
    return True
