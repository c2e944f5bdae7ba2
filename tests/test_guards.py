"""Precision guards (issue 14, item 2): names are never evidence; praise and request need their intent.

The goldens in tests/data/golden/theme_guards.tsv were written for this file.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.analysis.analyze import analyze
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.nlp.pii import doc_from_text
from pipelines.nlp.text import CaseDoc, Term
from pipelines.rules.bundle import load_bundle
from pipelines.rules.themes import load_rules
from pipelines.rules.themes.guards import NameGuard, sentence_of

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "theme_guards.tsv"


def _golden() -> list[tuple[list[str], str, bool, str]]:
    with GOLDEN.open(encoding="utf-8") as f:
        rows = [line for line in f if not line.startswith("#")]
    return [([] if r["names"] == "-" else r["names"].split("|"), r["theme"], r["tagged"] == "1", r["text"])
            for r in csv.DictReader(rows, delimiter="\t")]


@pytest.mark.parametrize("names, theme, tagged, text", _golden())
def test_golden_guards(names, theme, tagged, text):
    rules = load_rules().with_names(names)
    found = {hit.theme_id: hit.evidence for hit in rules.tag(doc_from_text("g", text))}
    assert (theme in found) is tagged, found


def test_a_product_name_fires_nothing_by_its_words_and_only_names_with_rule_words_are_kept():
    rules = load_rules()
    text = "やさしい麦茶、とてもやさしい味で気に入っています。"
    guarded = rules.with_names(["やさしい麦茶", "麦茶 500ml", None, ""])
    assert guarded.names == ("やさしい麦茶",)        # 麦茶 500ml holds no rule word: nothing to guard
    evidence = {h.theme_id: h.evidence for h in guarded.tag(doc_from_text("p", text))}
    assert evidence.get("praise") == ("やさしい",)     # the word outside the name still counts
    assert guarded.hash() == rules.hash()             # names are re-tagged by analyze, not by the hash


def test_proper_nouns_are_never_rule_words():
    terms = (Term(0, "満足", "満足", "名詞-固有名詞-地名-一般", False), Term(1, "駅", "駅", "名詞-普通名詞-一般", False))
    doc = CaseDoc("n", "満足駅で降りました", terms)
    assert NameGuard(()).apply(doc).terms == terms[1:]
    assert "praise" not in {h.theme_id for h in load_rules().tag(doc)}


def test_sentence_of_finds_the_sentence_around_a_word():
    assert sentence_of("届きません。対応は親切でした！また頼みます", "親切") == "対応は親切でした"
    assert sentence_of("abc", "x") == ""


def test_the_store_names_guard_loads_and_analyze_retags_cases_holding_a_new_name(tmp_path):
    store = tmp_path / "store.duckdb"
    first = tmp_path / "first.csv"
    first.write_text("受付番号,受付日時,商品名,問い合わせ内容\r\n"
                     "A-1,2025/5/1 10:00,麦茶 500ml,やさしい麦茶を箱で注文しました。\r\n", encoding="utf-8")
    load_file(first, store, LoadOptions(workers=1))
    analyze(store, workers=1)
    tags = lambda: duckdb.connect(str(store), read_only=True).execute(
        "SELECT theme_id FROM case_themes WHERE case_id = 'A-1' ORDER BY 1").fetchall()
    before = tags()
    assert ("praise",) in before              # やさしい: the store does not know the name yet
    second = tmp_path / "second.csv"   # the product that A-1 spoke of arrives as a column value
    second.write_text("受付番号,受付日時,商品名,問い合わせ内容\r\n"
                      "B-1,2025/5/2 10:00,やさしい麦茶,やさしい麦茶を毎日飲んでいます。\r\n", encoding="utf-8")
    load_file(second, store, LoadOptions(workers=1))
    assert "やさしい麦茶" in load_bundle(store).themes.names
    result = analyze(store, workers=1)
    assert result.analysed == 2               # the two cases holding the name, no others
    assert ("praise",) not in tags()
    copy = tmp_path / "copy.duckdb"
    shutil.copy(store, copy)
    assert analyze(copy, workers=1).analysed == 0
