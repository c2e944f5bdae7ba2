"""Paths and environment overrides, anchored on the package rather than the cwd."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent   # pipelines/
PROJECT_DIR = PACKAGE_DIR.parent
DATA_DIR = PROJECT_DIR / "data"
SAMPLE_DIR = DATA_DIR / "sample"
# The bundled sample's files, in load order: the events and countermeasures refer to its cases.
SAMPLE_FILES = (("cases.csv", "cases"), ("events.csv", "events"), ("countermeasures.csv", "countermeasures"))
MAPPINGS_DIR = DATA_DIR / "mappings"
RULES_DIR = DATA_DIR / "rules"
SQL_DIR = PACKAGE_DIR / "sql"
DEFAULT_DB = DATA_DIR / "kakehashi.duckdb"
DB_ENV = "KAKEHASHI_DB"

RULES_ENV = "KAKEHASHI_RULES_DIR"


def rules_dir() -> Path:
    """Where the editable theme rules (themes.txt) are read and written: $KAKEHASHI_RULES_DIR, else
    data/rules. Read at call time, so tests and child processes can point it at a copy."""
    env = os.environ.get(RULES_ENV)
    return Path(env).expanduser() if env else RULES_DIR


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store to use: an explicit path, else $KAKEHASHI_DB, else data/kakehashi.duckdb."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DB_ENV)
    return Path(env).expanduser() if env else DEFAULT_DB


def should_autoload_sample() -> bool:
    """Sample data is loaded only into the default store, and only when it does not exist yet."""
    return not os.environ.get(DB_ENV) and not DEFAULT_DB.exists()


def jobs_dir(store: Path) -> Path:
    """Where background loads write their progress (readable while the store is locked)."""
    return store.parent / f".{store.stem}-jobs"
