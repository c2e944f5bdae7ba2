"""Paths and environment overrides, anchored on the package rather than the cwd."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
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


# --- Limits on what reading one export may take -------------------------------------------------
# Each is an environment variable read at call time (a child process inherits it). The upload
# widget's own cap (.streamlit/config.toml server.maxUploadSize, in MB) is set to the default of
# KAKEHASHI_MAX_FILE_MB; raise both together (STREAMLIT_SERVER_MAX_UPLOAD_SIZE overrides the toml).
LIMIT_ENVS = {
    "max_file_mb": "KAKEHASHI_MAX_FILE_MB",
    "max_rows": "KAKEHASHI_MAX_ROWS",
    "max_columns": "KAKEHASHI_MAX_COLUMNS",
    "max_cell_chars": "KAKEHASHI_MAX_CELL_CHARS",
    "max_expanded_mb": "KAKEHASHI_MAX_EXPANDED_MB",
    "max_strings_mb": "KAKEHASHI_MAX_STRINGS_MB",
}


@dataclass(frozen=True)
class ReadLimits:
    """What one export may hold, counted on what is actually read (never on what a file declares)."""

    max_file_mb: int = 500            # the file as uploaded
    max_rows: int = 1_000_000         # records (data rows and rejected ones) read from the file
    max_columns: int = 1_000          # columns of any row that hold a value
    max_cell_chars: int = 2_000_000   # characters in one cell (a pasted log of 1.2 million loads)
    max_expanded_mb: int = 2_048      # the decoded UTF-8 copy written to the temp folder, and a workbook's unpacked sheet
    max_strings_mb: int = 512         # a workbook part read whole into memory (shared strings), or one sheet row

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb << 20

    @property
    def max_expanded_bytes(self) -> int:
        return self.max_expanded_mb << 20

    @property
    def max_strings_bytes(self) -> int:
        return self.max_strings_mb << 20


def read_limits() -> ReadLimits:
    """The limits in force: ReadLimits' defaults, each overridden by its environment variable
    (KAKEHASHI_MAX_ROWS=2000000). A value that is not a positive whole number is an error."""
    values = {}
    for name, env in LIMIT_ENVS.items():
        raw = os.environ.get(env, "").strip().replace("_", "").replace(",", "")
        if not raw:
            continue
        if not raw.isdigit() or int(raw) <= 0:
            raise ValueError(f"{env}={os.environ[env]!r}: use a positive whole number")
        values[name] = int(raw)
    return ReadLimits(**values)


# --- Received dates a case can have ---------------------------------------------------------------
RECEIVED_ENVS = {"earliest": "KAKEHASHI_RECEIVED_EARLIEST", "future_days": "KAKEHASHI_RECEIVED_FUTURE_DAYS"}


@dataclass(frozen=True)
class ReceivedRange:
    """Received dates outside [earliest, load day + future_days] are typos (2052 for 2025): the row is
    rejected, so one bad row can never become the dashboard's "now"."""

    earliest: date = date(1990, 1, 1)
    future_days: int = 1

    def latest(self, load_day: date) -> date:
        """The last received day allowed in a load made on `load_day` (the whole day counts)."""
        return load_day + timedelta(days=self.future_days)


def received_range() -> ReceivedRange:
    """KAKEHASHI_RECEIVED_EARLIEST (ISO date, default 1990-01-01) and KAKEHASHI_RECEIVED_FUTURE_DAYS
    (days after the load day, default 1)."""
    earliest, future = os.environ.get(RECEIVED_ENVS["earliest"], "").strip(), \
        os.environ.get(RECEIVED_ENVS["future_days"], "").strip()
    try:
        values = {"earliest": date.fromisoformat(earliest)} if earliest else {}
    except ValueError:
        raise ValueError(f"KAKEHASHI_RECEIVED_EARLIEST={earliest!r}: use a date such as 1990-01-01") from None
    if future:
        if not future.isdigit():
            raise ValueError(f"KAKEHASHI_RECEIVED_FUTURE_DAYS={future!r}: use a whole number of days (0 or more)")
        values["future_days"] = int(future)
    return ReceivedRange(**values)
