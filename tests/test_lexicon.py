"""The vendored ML-Ask emotion lexicon: what it finds in a sentence, negation, what it refuses to
match and says so, and that the vendored files are the package's own.

Every sentence below was written for this file. Entries are read with the project's tokenizer, so
the expectations hold for unidic-lite, UniDic 2.1.2.
"""
from __future__ import annotations

import hashlib
import re
import shutil

import pytest

from pipelines.nlp.lexicon import (
    EMOTIONS,
    LEXICON_DIR,
    NEGATED_CLASSES,
    VALENCE,
    LexiconError,
    load_lexicon,
    summarize,
)
from pipelines.nlp.pii import doc_from_text
from pipelines.nlp.text import dictionary_version

UNIDIC = "2.1.2"

# (text, [(class the entry is listed under, valence in this sentence, negated)]), in text order.
CASES = [
    ("本当に腹が立ちました。", [("ikari", -1, False)]),
    ("腹立つ！", [("ikari", -1, False)]),
    ("頭に来たので電話しました。", [("ikari", -1, False)]),           # a string: 来る is not a stored term
    ("店員の態度に激怒しています。", [("ikari", -1, False)]),
    ("とても嬉しかったです。", [("yorokobi", 1, False)]),
    ("全然嬉しくない。", [("yorokobi", -1, True)]),                    # negated joy → 嫌悪
    ("説明を聞いて安心しました。", [("yasu", 1, False)]),
    ("これでは安心できません。", [("yasu", -1, True)]),                # できない negates 安心
    ("夜の駐車場が怖かったです。", [("kowa", -1, False)]),
    ("楽しみにしていたのに残念です。", [("yorokobi", 1, False), ("iya", -1, False)]),
    ("最悪です。", [("iya", -1, False)]),
    ("もう愛想を尽かしました。", [("iya", -1, False)]),
    ("対応には申し分ないです。", [("yorokobi", 1, False)]),             # negation inside the entry itself
    ("また届いていません😡", [("ikari", -1, False)]),                  # emoji, matched as a string
    ("商品が届きません。", []),
    ("特に問題はありません。", []),
    ("返金の手続きを教えてください。", []),
]


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def test_the_expectations_were_made_with_this_dictionary():
    assert UNIDIC in dictionary_version()


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_emotive_expressions_in_a_sentence(lexicon, text, expected):
    hits = lexicon.match_text(text)
    assert [(h.listed, h.valence, h.negated) for h in hits] == expected


def test_a_negated_hit_takes_the_classes_ml_ask_gives_the_negated_class(lexicon):
    (hit,) = lexicon.match_text("全然嬉しくない。")
    assert hit.emotions == NEGATED_CLASSES["yorokobi"] == ("iya",)
    (hit,) = lexicon.match_text("別に怒っていません。")
    assert hit.listed == "ikari" and hit.emotions == ("yasu",) and hit.valence == 1


def test_a_hit_reads_as_a_reason_in_japanese(lexicon):
    assert [h.reason for h in lexicon.match_text("全然嬉しくないし、腹が立った")] == ["「嬉しく」(喜びの否定)", "「腹立っ」(怒り)"]


def test_stored_terms_give_what_raw_text_gives(lexicon):
    # The analysis re-tags from the terms a load stored (CaseDoc), never re-tokenizing: same hits.
    text = "説明と違う商品が届き、本当に腹が立ちました。がっかりです。"
    doc = doc_from_text("C-1", text)
    from_terms = lexicon.match(doc.terms, doc.text)
    assert [(h.listed, h.words) for h in from_terms] == [(h.listed, h.words) for h in lexicon.match_text(text)]
    assert [h.listed for h in from_terms] == ["ikari", "aware"]


def test_words_of_one_entry_may_not_lie_far_apart(lexicon):
    assert [h.listed for h in lexicon.match_text("愛想を尽かした")] == ["iya"]
    assert lexicon.match_text("愛想のいい店員さんが、在庫を調べ尽くしてくれた") == []


def test_summary_counts_negative_positive_and_anger(lexicon):
    hits = lexicon.match_text("嬉しかったのに、最後の対応で腹が立ちました。最悪です。")
    assert summarize(hits) == {"negative": 2, "positive": 1, "anger": 1}


def test_emotemes_are_intensity_words_found_as_strings(lexicon):
    assert "めちゃくちゃ" in lexicon.emoteme_words("めちゃくちゃ遅い")
    assert all(len(word) >= 3 for word in lexicon.emotemes)   # ご, かー are pieces of ordinary words


def test_entries_that_cannot_be_matched_are_listed_with_why(lexicon):
    # Nothing is dropped silently: a single-character key (神, 草) or a bare ｗ would match everywhere.
    reasons = {line.split("\t")[1]: line.split("\t")[2] for line in lexicon.skipped}
    assert reasons["神"] == "a single character"
    assert reasons["ｗ"] == "a single character"
    assert all(line.count("\t") == 2 and line.split("\t")[0] in EMOTIONS for line in lexicon.skipped)
    assert len(lexicon.skipped) < 0.02 * (len(lexicon.entries) + len(lexicon.literals))


def test_every_class_has_a_valence_and_a_negated_form():
    assert set(EMOTIONS) == set(VALENCE) == set(NEGATED_CLASSES)
    assert all(set(shifted) <= set(EMOTIONS) for shifted in NEGATED_CLASSES.values())


def test_vendored_files_are_the_packages_own_with_its_licence():
    source = (LEXICON_DIR / "SOURCE.md").read_text(encoding="utf-8")
    listed = {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", source, re.MULTILINE)}
    files = sorted(str(p.relative_to(LEXICON_DIR)) for p in LEXICON_DIR.glob("*/*.txt"))
    assert sorted(listed) == files and len(files) == 22
    for name, digest in listed.items():
        assert hashlib.sha256((LEXICON_DIR / name).read_bytes()).hexdigest() == digest, name
    licence = (LEXICON_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause" in licence and "Michal Ptaszynski" in licence
    assert "mlask-official` 0.5.0" in source


def test_a_missing_file_is_named_with_how_to_restore_it(tmp_path):
    copy = tmp_path / "mlask"
    shutil.copytree(LEXICON_DIR, copy)
    (copy / "emotions" / "ikari_uncoded.txt").unlink()
    with pytest.raises(LexiconError, match=r"ikari_uncoded\.txt not found — restore data/lexicon/mlask/"):
        load_lexicon(copy)


def test_an_edited_file_is_read_again_and_changes_the_hash(tmp_path, lexicon):
    copy = tmp_path / "mlask"
    shutil.copytree(LEXICON_DIR, copy)
    before = load_lexicon(copy)
    assert before.hash() == lexicon.hash() and load_lexicon(copy) is before   # read once while unchanged
    with (copy / "emotions" / "ikari_uncoded.txt").open("a", encoding="utf-8") as f:
        f.write("堪忍袋の緒が切れる\n")
    after = load_lexicon(copy)
    assert after.hash() != before.hash()
    assert [h.listed for h in after.match_text("堪忍袋の緒が切れました")] == ["ikari"]


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    copy = tmp_path / "mlask"
    shutil.copytree(LEXICON_DIR, copy)
    (copy / "emotions" / "iya_modern.txt").write_bytes("最悪".encode("cp932"))
    with pytest.raises(LexiconError, match="could not be read as UTF-8"):
        load_lexicon(copy)
