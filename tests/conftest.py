"""Shared fixtures: every test gets its own store, and none ever touches data/kakehashi.duckdb;
Streamlit's caches start empty in every test; `open_page` opens a page of the app (AppTest)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "data" / "exports"
APP_TIMEOUT = 90   # seconds per script run: generous for the 24k-case sample on two shared cores


@pytest.fixture(autouse=True)
def _never_the_real_store(tmp_path_factory, monkeypatch):
    # A test (or a child process it starts) that forgets --db / a store argument falls back on
    # $KAKEHASHI_DB; point it at a throw-away file so the user's own store is never written.
    monkeypatch.setenv("KAKEHASHI_DB", str(tmp_path_factory.mktemp("default-store") / "kakehashi.duckdb"))


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    # A result cached by one test (keyed on a store path pytest may reuse) must not leak into the next.
    st.cache_data.clear()
    st.cache_resource.clear()


def _navigation() -> dict[str, str]:
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    pages = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            keywords = {kw.arg: kw.value.value for kw in node.keywords if isinstance(kw.value, ast.Constant)}
            pages[keywords["url_path"]] = node.args[0].value
    return pages


@pytest.fixture(scope="session")
def navigation() -> dict[str, str]:
    """url_path → page file of every st.Page in app.py's navigation, in menu order."""
    return _navigation()


@pytest.fixture
def open_page(monkeypatch):
    """open_page(store, url_path=None, **query) → an AppTest of app.py on `store`, opened on that
    page (the default page without one) with `query` in the URL, after one run without exception.

    The page is opened as a deep link, before the first run: AppTest finds it by its file name,
    which is why every url_path in app.py is its file's name (tests/test_pages.py checks)."""
    def open_(store: Path, url_path: str | None = None, **query: str | list[str]) -> AppTest:
        monkeypatch.setenv("KAKEHASHI_DB", str(store))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
        for key, value in query.items():
            at.query_params[key] = value
        if url_path is not None:
            at.switch_page(_navigation()[url_path])
        at.run()
        assert not at.exception, at.exception
        return at

    return open_


@pytest.fixture(scope="session")
def exports_store(tmp_path_factory) -> Path:
    """Three real exports (CP932 Salesforce, Excel, one with bad rows; 35 cases, 6 rejected rows)
    and an events file, loaded once per session without analysis. Read it only."""
    from pipelines.ingest.load import LoadOptions, load_file

    store = tmp_path_factory.mktemp("exports") / "store.duckdb"
    for name in ("salesforce_ja_cp932.csv", "generic_ja.xlsx", "mixed_bad_rows.csv"):
        load_file(EXPORTS / name, store, LoadOptions(workers=1))
    load_file(EXPORTS / "events_ja.csv", store, LoadOptions(kind="events", workers=1))
    return store


@pytest.fixture
def store(tmp_path) -> Path:
    """A path for a fresh store (the loader creates the file on first write)."""
    return tmp_path / "store.duckdb"


def _load_sample_dir(sample_dir: Path, store: Path) -> Path:
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file
    from pipelines.rules.themes.packs import SAMPLE_PACK
    from pipelines.store.settings import SAMPLE_FILES

    for name, kind in SAMPLE_FILES:
        if (sample_dir / name).exists():
            load_file(sample_dir / name, store, LoadOptions(kind=kind))
    analyze(store, theme_pack=SAMPLE_PACK)   # the sample is a food and beverage maker's desk, as load_sample says
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
