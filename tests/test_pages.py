"""The frame around every page: app.py's navigation (each page has its test file), the shared
sidebar filters (ui/sidebar.py) and the cached reads every page goes through (ui/data.py).
Each page's own behaviour is tested in tests/test_page_<url_path>.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ui
from pipelines.reports import summary
from pipelines.store import db
from pipelines.store.errors import KakehashiError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


# -- the navigation ------------------------------------------------------------------------------

def test_every_navigation_page_has_its_test_file(navigation):
    missing = [f"tests/test_page_{url_path}.py ({page})" for url_path, page in navigation.items()
               if not (TESTS / f"test_page_{url_path}.py").exists()]
    assert not missing, "pages in app.py's navigation without a test file: " + ", ".join(missing)


def test_every_page_test_file_belongs_to_a_navigation_page(navigation):
    stale = [path.name for path in TESTS.glob("test_page_*.py") if path.stem.removeprefix("test_page_") not in navigation]
    assert not stale, f"test files for pages no longer in app.py's navigation: {stale}"


def test_every_page_test_checks_for_an_exception():
    """A page test that forgets `assert not at.exception` passes on a page that crashed half-way."""
    unchecked = []
    for path in sorted(TESTS.glob("test_page_*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") \
                    and "assert not at.exception" not in ast.get_source_segment(source, node):
                unchecked.append(f"{path.name}::{node.name}")
    assert not unchecked, "page tests without `assert not at.exception`: " + ", ".join(unchecked)


def test_every_url_path_is_its_file_name(navigation):
    # open_page and bench/bench_pages.py open a page before the first run, when AppTest can only
    # find it by its file name; a different url_path would silently open the default page.
    assert all(Path(page).stem == url_path for url_path, page in navigation.items()), navigation


def test_every_page_enters_the_app_frame_first(navigation):
    # Streamlit treats the pages/ folder as a legacy multipage app until st.navigation has run in the
    # process: a deep link (and every AppTest.switch_page) would run the page without app.py around
    # it. ui.frame() switches to the navigation mode; it must run before the page draws anything.
    assert {Path(page).parent.name for page in navigation.values()} == {"pages"}
    for page in navigation.values():
        tree = ast.parse((ROOT / page).read_text(encoding="utf-8"))
        statements = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom))
                      and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        first = statements[0]
        assert isinstance(first, ast.Expr) and ast.unparse(first.value) == "ui.frame()", page


def test_a_deep_link_runs_inside_the_app_frame(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "trends")
    assert not at.exception
    assert at.title[0].value == "トレンド"
    assert at.sidebar.selectbox(key="f_period").value == "4w"          # the shared filters from app.py


# -- the shared filters in the sidebar -------------------------------------------------------------

@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from pipelines.ingest.load import LoadOptions, load_file

    store = tmp_path_factory.mktemp("filters") / "store.duckdb"
    load_file(TESTS / "data" / "exports" / "salesforce_ja_cp932.csv", store, LoadOptions(workers=1))
    return store


def test_a_shared_link_sets_the_sidebar(small_store, open_page):
    at = open_page(small_store, period="quarter", channel=["電話"])
    assert not at.exception
    assert at.sidebar.selectbox(key="f_period").value == "quarter"
    assert at.sidebar.multiselect(key="f_channels").value == ["電話"]


def test_a_filter_change_reaches_the_url_and_survives_a_page_switch(small_store, open_page, navigation):
    at = open_page(small_store)
    assert dict(at.query_params) == {}
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    at.sidebar.selectbox(key="f_period").set_value("all").run()
    assert not at.exception
    assert at.query_params["channel"] in ("電話", ["電話"]) and at.query_params["period"] in ("all", ["all"])
    at.switch_page(navigation["upload"]).run()          # a page without filters
    assert not at.sidebar.get("multiselect")
    at.switch_page(navigation["home"]).run()
    assert not at.exception
    assert at.sidebar.multiselect(key="f_channels").value == ["電話"]
    assert at.query_params["channel"] in ("電話", ["電話"])


# -- cached reads ----------------------------------------------------------------------------------

CALLS: list[tuple[str, object]] = []


def first_read(value, store=None):
    CALLS.append(("first", value))
    return ("first", value, store)


def second_read(value, store=None):
    CALLS.append(("second", value))
    return ("second", value, store)


def test_reads_are_cached_per_function_store_version_and_viewer(tmp_path, monkeypatch):
    store = tmp_path / "store.duckdb"
    monkeypatch.setenv("KAKEHASHI_DB", str(store))
    CALLS.clear()
    assert ui.query(first_read, 1) == ("first", 1, str(store))
    assert ui.query(first_read, 1) == ("first", 1, str(store))        # cached
    assert ui.query(second_read, 1) == ("second", 1, str(store))      # same arguments, another function
    assert ui.query(first_read, 2) == ("first", 2, str(store))
    assert ui.query(first_read, 1, viewer="品質保証部") == ("first", 1, str(store))
    assert CALLS == [("first", 1), ("second", 1), ("first", 2), ("first", 1)]
    with db.writer(store) as con:                                      # any write bumps the version
        db.bump_version(con)
    assert ui.query(first_read, 1) == ("first", 1, str(store))
    assert CALLS[-1] == ("first", 1) and len(CALLS) == 5


def test_a_read_needs_a_function_with_a_name():
    with pytest.raises(TypeError, match="module-level function"):
        ui.query(lambda store=None: 1)


def test_a_busy_store_reads_as_none_and_pages_say_so(exports_store, open_page, monkeypatch):
    at = open_page(exports_store)
    assert not at.exception and at.metric
    monkeypatch.setattr(db, "store_version", lambda path=None: "busy")    # another process is writing
    assert ui.query(first_read, 1) is None
    at.run()
    assert not at.exception
    assert any("更新中" in i.value for i in at.info) and not at.metric


def refuse(filters, store=None):
    raise KakehashiError("bad_option", "この期間は選べません。", "This period cannot be chosen.",
                         hint_ja="サイドバーで期間を選び直してください。")


def test_a_refused_read_shows_its_japanese_message(exports_store, open_page, monkeypatch):
    monkeypatch.setattr(summary, "kpis", refuse)
    at = open_page(exports_store)
    assert not at.exception
    assert [e.value for e in at.error] == ["この期間は選べません。\nサイドバーで期間を選び直してください。"]
    assert not at.metric
