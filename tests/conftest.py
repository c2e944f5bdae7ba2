"""Shared fixtures: every test gets its own store, and none ever touches data/kakehashi.duckdb."""
from __future__ import annotations

from pathlib import Path

import pytest

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"


@pytest.fixture(autouse=True)
def _never_the_real_store(tmp_path_factory, monkeypatch):
    # A test (or a child process it starts) that forgets --db / a store argument falls back on
    # $KAKEHASHI_DB; point it at a throw-away file so the user's own store is never written.
    monkeypatch.setenv("KAKEHASHI_DB", str(tmp_path_factory.mktemp("default-store") / "kakehashi.duckdb"))


@pytest.fixture
def store(tmp_path) -> Path:
    """A path for a fresh store (the loader creates the file on first write)."""
    return tmp_path / "store.duckdb"
