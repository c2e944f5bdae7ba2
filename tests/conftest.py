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


def _load_sample_dir(sample_dir: Path, store: Path) -> Path:
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file
    from pipelines.store.settings import SAMPLE_FILES

    for name, kind in SAMPLE_FILES:
        if (sample_dir / name).exists():
            load_file(sample_dir / name, store, LoadOptions(kind=kind))
    analyze(store)
    return store


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """The bundled sample (seed 7), loaded and analysed once per session. Read it only; copy the
    file (shutil.copy) before writing to it. Its ground truth: data/sample/manifest.json."""
    from pipelines.store.settings import SAMPLE_DIR

    return _load_sample_dir(SAMPLE_DIR, tmp_path_factory.mktemp("sample7") / "store.duckdb")


@pytest.fixture(scope="session")
def second_sample(tmp_path_factory) -> tuple[Path, dict]:
    """A second generated data set (another seed, fewer cases), loaded and analysed, with its
    ground-truth manifest — so no detector is tuned to the bundled sample. Read only."""
    import json
    from datetime import date

    from devtools.sample import generate

    folder = tmp_path_factory.mktemp("sample11")
    generate(folder, 11, 12000, date(2024, 1, 1), 18)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return _load_sample_dir(folder, folder / "store.duckdb"), manifest
