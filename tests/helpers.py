"""Small helpers several test files share (pytest puts tests/ on sys.path: `from helpers import query`)."""
from __future__ import annotations

from pathlib import Path

import duckdb


def query(store: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one read-only query on a store file."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
