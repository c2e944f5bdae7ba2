"""The 定例会議 review (pipelines/reports/review.py, `python -m pipelines report`): built from the
bundled sample, its sections and numbers checked against the page functions, self-contained, and
printed to a PDF by headless Chromium."""
from __future__ import annotations

import html
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.detect import alerts, insights
from pipelines.reports import review, summary
from pipelines.store import db
from pipelines.store.errors import KakehashiError

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2025, 7, 23)    # inside the sample's planted spike
SECTIONS = ("kpis", "actions", "alerts", "rising", "recurrence", "flow")


@pytest.fixture(scope="module")
def weekly(sample_store) -> tuple[review.Review, str]:
    built = review.build("week", AS_OF, sample_store)
    return built, review.to_html(built)


def test_sections_and_kpis_match_the_summary_page(weekly, sample_store):
    built, document = weekly
    for section in SECTIONS:
        assert f"<section id={section}>" in document
    filters = review.review_filters("week", AS_OF)
    page = summary.kpis(filters, store=sample_store)         # what 経営サマリー shows for the same setting
    assert built.kpis == page
    for label, value in (("ケース数", f"{page.current.cases:,} 件"), ("再発件数", f"{page.current.recurring:,} 件"),
                         ("高重度件数", f"{page.current.severe:,} 件"), ("未完了件数", f"{page.current.open_cases:,} 件")):
        assert f"<th>{label}</th><td class=num>{value}</td>" in document
    assert page.current.cases > 0 and 0 < page.current.recurring < page.current.cases


def test_what_to_act_on_is_the_pages_list_with_customers_words(weekly, sample_store):
    built, document = weekly
    filters = review.review_filters("week", AS_OF)
    signals = tuple(insights.current(filters, store=sample_store))
    page = summary.home(filters, tuple(alerts.current(filters, budget=5, store=sample_store)), store=sample_store,
                        insights=signals).priorities
    shown = page.head(review.ITEMS_SHOWN)
    assert list(built.home.priorities.head(review.ITEMS_SHOWN)["reason"]) == list(shown["reason"])
    for reason in shown["reason"]:
        assert html.escape(reason) in document
    # The planted spike leads, with verbatims whose matched words are highlighted.
    assert built.verbatims[1] and "<mark>" in document
    assert any(v.text[:20] in html.unescape(document) for v in built.verbatims[1])


def test_it_opens_offline_and_prints_on_a4(weekly):
    _, document = weekly
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", document)   # nothing fetched
    assert "<script" not in document and "@import" not in document
    assert "size: A4" in document and "<svg" in document


def test_highlight_escapes_and_marks():
    assert review.highlight("<b>箱が潰れ</b>", ("潰れ",)) == "&lt;b&gt;箱が<mark>潰れ</mark>&lt;/b&gt;"


def test_cli_writes_html_and_pdf(sample_store, tmp_path):
    out = tmp_path / "review.pdf"
    done = subprocess.run([sys.executable, "-m", "pipelines", "report", "--db", str(sample_store), "--period", "month",
                           "--as-of", AS_OF.isoformat(), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    document = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert "VoC 月次レビュー（2025年7月）" in document
    if review.chromium() is None:
        assert done.returncode == 2 and "chromium is not installed" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 10_000


@pytest.mark.parametrize("args, words", [
    (["--period", "year"], "invalid choice"),
    (["--as-of", "2025-13-01"], "is not a date"),
    (["--out", "review.txt"], ".html or .pdf"),
    (["--out", "missing/review.html"], "does not exist"),
])
def test_cli_refuses_bad_options(sample_store, tmp_path, args, words):
    base = ["--db", str(sample_store), "--out", str(tmp_path / "r.html")]
    done = subprocess.run([sys.executable, "-m", "pipelines", "report", *base, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and words in done.stderr


def test_the_summary_page_offers_the_review_in_one_click(sample_store, open_page):
    at = open_page(sample_store)
    assert "定例会議のレビュー" in [header.value for header in at.subheader]
    buttons = [element for element in at.get("download_button") if "レビュー" in element.proto.label]
    assert len(buttons) == 1
    # The button's lazy data is review_html: as of the latest case when no 基準日 is set, as the CLI.
    latest = review.review_html("week", None, sample_store)
    assert latest.startswith("<!DOCTYPE html>") or "<html" in latest[:200]
    assert "<section id=kpis>" in latest


def test_review_html_of_an_empty_store_says_so(tmp_path):
    store = tmp_path / "empty.duckdb"
    with db.writer(store):
        pass
    with pytest.raises(KakehashiError, match="no cases"):
        review.review_html("month", None, store)
