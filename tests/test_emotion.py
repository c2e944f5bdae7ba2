"""The emotion level ranks real anger and dissatisfaction (issue 14, item 4).

tests/data/golden/emotion_pairs.tsv holds hand-written pairs across industries in which the first text
must get a strictly higher level than the second: angry versus a neutral inquiry, negated praise versus
praise, sarcasm versus sincere thanks, repeated ！ versus calm, intense versus mild. The expectations hold
for unidic-lite (UniDic 2.1.2) and ML-Ask's word lists as vendored in data/lexicon/mlask.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import query

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.nlp.pii import doc_from_text
from pipelines.rules.severity import load_severity_rules

PAIRS_FILE = Path(__file__).parent / "data" / "golden" / "emotion_pairs.tsv"


def _pairs() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, industry, first, second = line.split("\t")
            rows.append((kind, industry, first, second))
    return rows


PAIRS = _pairs()


@pytest.fixture(scope="module")
def rules():
    return load_severity_rules()


def test_the_golden_file_covers_every_kind_and_five_industries():
    kinds = {p[0] for p in PAIRS}
    assert {"angry_vs_inquiry", "negated_vs_praise", "sarcasm_vs_thanks", "exclaim_vs_calm"} <= kinds
    assert len({p[1] for p in PAIRS}) >= 5


@pytest.mark.parametrize("kind, industry, first, second", PAIRS, ids=[f"{p[0]}-{p[1]}-{i}" for i, p in enumerate(PAIRS)])
def test_first_ranks_strictly_above_second(rules, kind, industry, first, second):
    high, low = rules.score(doc_from_text("A", first)), rules.score(doc_from_text("B", second))
    assert high.level > low.level, (high, low)
    assert high.reasons, "a raised level says why"


@pytest.mark.parametrize("text, words", [
    ("このパンは全然美味しくない。", ["美味しくない"]),
    ("待合室が寒くて辛かったです。", ["辛かっ", "否定的な感情"]),            # ML-Ask alone
    ("結構なことですね、予約が消えていても謝罪ひとつないとは。", ["結構なこと", "皮肉"]),
    ("さすが大手さんですね、三回も同じ間違いをするとは。", ["さすが", "皮肉"]),
    ("説明が全然分からないし、対応も遅いし、本当にがっかりです！", ["強い調子", "全然", "本当に"]),
])
def test_reasons_name_the_words(rules, text, words):
    reasons = " ".join(rules.score(doc_from_text("T", text)).reasons)
    assert [w for w in words if w not in reasons] == [], reasons


@pytest.mark.parametrize("text", [
    "さすが老舗ですね、とても美味しかったです。",             # さすが without a complaint: sincere
    "大変お世話になっております。配送日を教えてください。",   # 大変 as "very"
    "アレルギーが心配なので、原材料を教えてください。",       # a worry inside a question
    "ご迷惑をおかけしますが、よろしくお願いします。",         # an apology's 迷惑
    "スタッフの方がとても親切で、感謝しています！",
])
def test_calm_texts_stay_calm(rules, text):
    result = rules.score(doc_from_text("T", text))
    assert result.level == 0, result.reasons


def test_the_lexicon_is_part_of_the_rules_hash(rules):
    """Stored scores go stale with the word lists: their hash is in the severity hash."""
    import dataclasses

    assert rules.lexicon is not None
    assert rules.hash() == load_severity_rules().hash()
    without = dataclasses.replace(rules, lexicon=None)
    assert without.score(doc_from_text("T", "部屋が汚くてがっかりしました。")).level >= 0  # still scores


def test_a_load_stores_the_level_and_its_reasons(tmp_path):
    """What the case view shows is what score() says: the load's workers store level and reasons."""
    texts = [first for _k, _i, first, _s in PAIRS[:12]] + [second for _k, _i, _f, second in PAIRS[:12]]
    export = tmp_path / "cases.csv"
    with export.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["ケース番号", "受付日時", "受付チャネル", "商品名", "問い合わせ内容"])
        for n, text in enumerate(texts):
            out.writerow([f"E-{n:03d}", f"2025/04/{1 + n % 28:02d} 10:00", "メール", "商品A", text])
    store = tmp_path / "store.duckdb"
    load_file(export, store, LoadOptions(workers=1))
    stored = {case_id: (level, list(reasons)) for case_id, level, reasons in
              query(store, "SELECT case_id, emotion_level, reasons FROM case_scores")}
    rules = load_severity_rules()
    assert len(stored) == len(texts)
    for n, text in enumerate(texts):
        expected = rules.score(doc_from_text(f"E-{n:03d}", text))
        assert stored[f"E-{n:03d}"] == (expected.level, list(expected.reasons)), text
    assert any(level >= 2 for level, _ in stored.values()) and any(level == 0 for level, _ in stored.values())
