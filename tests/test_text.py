"""Normalization and tokenization of Japanese text: golden tables.

Token expectations depend on the dictionary: they hold for unidic-lite, UniDic 2.1.2 (pinned below).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.nlp import text
from pipelines.nlp.text import dictionary_version, for_tokenizer, normalize, tokenize

UNIDIC = "2.1.2"


def content(sentence: str):
    """The terms a load stores for a sentence: content tokens of the normalized text."""
    return [t for t in tokenize(for_tokenizer(normalize(sentence))) if t.content]


def test_expectations_use_the_pinned_dictionary():
    assert dictionary_version() == UNIDIC


# ---------------------------------------------------------------- normalize

# (as typed, as stored)
NORMALIZED = [
    ("090‐1234‐5678", "090-1234-5678"),       # U+2010 hyphen
    ("090−1234−5678", "090-1234-5678"),       # U+2212 minus
    ("090ー1234ー5678", "090-1234-5678"),     # long-vowel mark between digits
    ("090―1234―5678", "090-1234-5678"),       # U+2015 horizontal bar
    ("０９０－１２３４－５６７８", "090-1234-5678"),
    ("E‐203", "E-203"),
    ("コーヒー", "コーヒー"),                 # a real long vowel stays
    ("ﾌﾟﾛﾃｲﾝﾊﾞｰ", "プロテインバー"),        # half-width kana
    ("ＳＰＲＩＮＧ２０２５", "SPRING2025"),   # full-width Latin and digits
    ("全角\u3000スペース", "全角 スペース"),
    ("10時～18時", "10時〜18時"),             # U+FF5E → U+301C
    ("10時〜18時", "10時〜18時"),
    ("10時~18時", "10時〜18時"),
    ("㈱ミナト電機", "(株)ミナト電機"),
    ("スキンケアローションⅡ", "スキンケアローションII"),
    ("髙橋", "髙橋"),                         # NFKC keeps the variant kanji
    ("", ""),
]


@pytest.mark.parametrize(("typed", "stored"), NORMALIZED)
def test_normalize(typed, stored):
    assert normalize(typed) == stored


# Text whose emphasis and line breaks are blanked for the tokenizer: offsets must not move.
FOR_TOKENIZER = [
    ("最悪!!!", "最悪!  "),
    ("本当?!", "本当? "),
    ("すごーーーい", "すごー  い"),
    ("届かない。\n至急\r\n連絡を", "届かない。 至急  連絡を"),
    ("そのまま", "そのまま"),
]


@pytest.mark.parametrize(("text", "blanked"), FOR_TOKENIZER)
def test_for_tokenizer_keeps_every_offset(text, blanked):
    assert for_tokenizer(text) == blanked
    assert len(for_tokenizer(text)) == len(text)


# ---------------------------------------------------------------- lemmas (UniDic 2.1.2)

# (sentence, a lemma its stored terms must contain) — spelling variants meet on one lemma.
LEMMAS = [
    ("問合せの件です", "問い合わせ"),
    ("問い合わせの件です", "問い合わせ"),
    ("お問合わせしました", "問い合わせ"),
    ("出来る", "出来る"),
    ("できる", "出来る"),
    ("返品できますか", "返品"),
    ("クレームが来た", "クレーム"),            # UniDic lemma クレーム-claim, gloss stripped
    ("メイルが来ない", "メール"),
    ("ｽﾏﾎが壊れた", "スマホ"),
    ("わからない", "分かる"),
    ("分かりません", "分かる"),
    ("電話がつながらない", "繋がる"),
    ("サポートに繋がらず困っている", "繋がる"),
    ("ありがとうございました", "有り難う"),
]


@pytest.mark.parametrize(("sentence", "lemma"), LEMMAS)
def test_spelling_variants_share_a_lemma(sentence, lemma):
    lemmas = [t.lemma for t in content(sentence)]
    assert lemma in lemmas
    assert not [x for x in lemmas if "-" in x], "English glosses of loanwords are stripped"


# (sentence, the content lemmas stored, in order) — particles, auxiliaries and light verbs are not terms.
TERMS = [
    ("パスワードを忘れた", ["パスワード", "忘れる"]),
    ("キャンセルしたい", ["キャンセル"]),
    ("届かない", ["届く"]),
    ("ログインできません", ["ログ", "イン", "出来る"]),   # unidic-lite splits ログイン
    ("不具合があります", ["不", "具合"]),                # … and 不具合
]


@pytest.mark.parametrize(("sentence", "lemmas"), TERMS)
def test_only_content_words_are_terms(sentence, lemmas):
    assert [t.lemma for t in content(sentence)] == lemmas


# ---------------------------------------------------------------- negation (UniDic 2.1.2)

# (sentence, lemma, negated?)
NEGATION = [
    ("届かない", "届く", True),
    ("無事に届いた", "届く", False),
    ("届かないわけではない", "届く", False),   # double negation
    ("届きませんでした", "届く", True),
    ("商品が届いていない", "届く", True),
    ("まだ届いていません", "届く", True),
    ("届いてない", "届く", True),
    ("問題はない", "問題", True),
    ("問題ない", "問題", True),
    ("ログインできません", "ログ", True),
    ("ログインできません", "イン", True),
    ("折り返しがない", "折り返し", True),
    ("連絡がありません", "連絡", True),
    ("返金されない", "返金", True),
    ("使えなかった", "使う", True),
    ("壊れていません", "壊れる", True),
    ("動かなくなった", "動く", True),
    ("電話がつながらない", "繋がる", True),
    ("電話がつながらない", "電話", False),       # the call exists; it does not connect
    ("二度と買わない", "買う", True),
    ("遅くない", "遅い", True),
    ("遅い", "遅い", False),
    ("交換してほしい", "交換", False),
    ("返品できますか", "返品", False),
    ("できない", "出来る", True),
]


@pytest.mark.parametrize(("sentence", "lemma", "negated"), NEGATION)
def test_negation(sentence, lemma, negated):
    flags = [t.negated for t in content(sentence) if t.lemma == lemma]
    assert flags == [negated]


def _resident_file_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("RssFile:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_released_dictionary_pages_leave_the_rss_and_come_back_when_read():
    sentence = "注文した商品がまだ届かないのですが。"
    before = tokenize(for_tokenizer(normalize(sentence)))
    from pipelines.analysis.analyze import load_rules

    load_rules()  # compiling the rules touches much of the dictionary, as in a load's parent process
    resident = _resident_file_kb()
    text.release_dictionary_pages()
    assert _resident_file_kb() < resident
    assert tokenize(for_tokenizer(normalize(sentence))) == before
