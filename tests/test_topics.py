"""Topic suggestions: compound terms, stop words, stable topics, and rules a lead can paste.

Token expectations were made with unidic-lite, UniDic 2.1.2 (不具合 → 不 + 具合, ログイン → ログ + イン).
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.analysis.topics import (
    VOC_STOP_WORDS,
    TopicSuggestion,
    compound_terms,
    rank_compounds,
    rule_term,
    suggest_topics,
)
from pipelines.nlp.pii import doc_from_text
from pipelines.nlp.text import Term, dictionary_version
from pipelines.store import db

UNIDIC = "2.1.2"  # the compound expectations below hold for this dictionary

# The documented rule syntax: terms joined by ' or ', "phrases" in double quotes, a negated predicate as 届く!neg.
RULE_TERM = r'(?:"[^"\s]+"|[^\s"!()]+(?:!neg)?)'
RULE = re.compile(rf"^{RULE_TERM}(?: or {RULE_TERM})*$")

OPENINGS = ["", "いつもお世話になっております。", "電話にて。", "お客様より入電。", "突然のご連絡失礼いたします。",
            "先日購入した商品の件です。"]
PRODUCTS = ["緑茶500ml", "黒酢ドリンク", "青汁", "和風ドレッシング", "ソイプロテインバー"]
CLOSINGS = ["", "よろしくお願いいたします。", "早急に対応してください。", "確認のうえ連絡をください。",
            "担当の佐藤さんから折り返しをお願いします。"]
# Five kinds of complaint; each kind's key term must lead one topic.
KINDS: dict[str, tuple[str, list[str]]] = {
    "cap": ("キャップ", [
        "{p}のキャップが緩くて中身が漏れていました。",
        "{p}のキャップがしっかり締まらず、液漏れしてバッグが汚れました。",
        "開封前なのに{p}のキャップの周りがべたべたして液漏れしています。",
        "キャップを閉めても漏れてきます。容器の不具合ではないでしょうか。",
        "届いた{p}のキャップが割れていて、箱の中まで液漏れしていました。",
    ]),
    "late": ("届く(否定)", [
        "{p}を注文したのに荷物がまだ届かないです。",
        "配送予定日を過ぎても{p}が届きません。",
        "お届け日を指定したのに届いていません。追跡番号で調べても配送状況が分かりません。",
        "一週間たっても{p}が届かないので困っています。",
        "発送メールが来たのに荷物が届かない。配送業者にも聞いたが分からないと言われた。",
    ]),
    "billing": ("二重請求", [
        "クレジットカードの明細を見たら{p}の代金が二重請求されていました。",
        "同じ注文なのに二重請求になっています。返金してほしいです。",
        "引き落としが2回あり、二重請求ではないかと思います。",
        "{p}の請求金額がおかしいです。二重請求の分を返金してください。",
        "カード会社から二重請求の通知が来ました。{p}の代金です。",
    ]),
    "login": ("ログイン", [
        "マイページにログインできません。",
        "パスワードを再設定してもログインできない。エラーが出ます。",
        "アプリでログインしようとするとエラーになります。",
        "ログイン画面から先に進めず、{p}の注文履歴が見られません。",
        "機種変更してからログインできなくなりました。パスワードは合っています。",
    ]),
    "taste": ("味", [
        "{p}の味が前と違います。薄くなった気がします。",
        "最近の{p}は味が落ちました。リニューアルで変わったのでしょうか。",
        "{p}を飲んだら苦い味がしました。いつもの味ではありません。",
        "{p}の風味が変わって美味しくなくなりました。",
        "いつもの{p}なのに味が濃くてしょっぱいです。",
    ]),
}
PER_KIND = 60


def _texts() -> list[tuple[str, str]]:
    """300 (case_id, text) pairs: the kind is the case ID's prefix, so a test can tell them apart."""
    rng = random.Random(0)
    cases = []
    for kind, (_, bodies) in KINDS.items():
        for n in range(PER_KIND):
            body = rng.choice(bodies).format(p=rng.choice(PRODUCTS))
            cases.append((f"{kind}-{n:03d}", rng.choice(OPENINGS) + body + rng.choice(CLOSINGS)))
    return cases


def _term_rows(cases: list[tuple[str, str]]) -> pd.DataFrame:
    rows = [(case_id, t.idx, t.surface, t.lemma, t.pos, t.negated)
            for case_id, text in cases for t in doc_from_text(case_id, text).terms]
    return pd.DataFrame(rows, columns=["case_id", "idx", "surface", "lemma", "pos", "negated"])


@pytest.fixture(scope="module")
def topic_store(tmp_path_factory) -> Path:
    """A real store (schema from init_store) whose case_terms come from the real tokenizer."""
    path = tmp_path_factory.mktemp("topics") / "store.duckdb"
    terms = _term_rows(_texts())
    con = duckdb.connect(str(path))
    try:
        db.init_store(con)
        con.execute("INSERT INTO case_terms SELECT * FROM terms")
    finally:
        con.close()
    return path


@pytest.fixture
def con(topic_store):
    con = duckdb.connect(str(topic_store))
    yield con
    con.close()


def _kind(case_id: str) -> str:
    return case_id.split("-")[0]


def _topic_with(suggestions: list[TopicSuggestion], term: str) -> TopicSuggestion:
    found = [s for s in suggestions if term in s.terms[:3]]
    assert found, f"no topic has {term} among its first three terms: {[s.terms for s in suggestions]}"
    return found[0]


def test_dictionary_is_the_one_the_expectations_were_made_with():
    assert dictionary_version() == UNIDIC


# --- compound terms ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("不具合がありました", ["不具合"]),                           # 不 + 具合
    ("二重請求されています", ["二重請求"]),                       # 二 + 重 + 請求
    ("賞味期限が切れていました", ["賞味期限"]),
    ("担当者の態度が悪い", ["担当者"]),                           # a suffix ends a term
    ("娘様からの代理のご連絡", []),                                 # …but not an honorific one: 娘 is a word
    ("パスワード再設定の画面", ["パスワード再設定"]),              # a prefix inside a term
    ("マイページにログインできません", ["マイページ", "ログイン"]),  # ログ + イン
    ("お客様からのお問い合わせの件です", []),                      # stop words, not terms
    ("お客様相談室に電話した時", ["相談室"]),                      # stop words trimmed from a term's edges
    ("返金希望です", []),                                        # 返金 alone is a word, not a compound
    ("先週定期便で届いた", ["定期便"]),                            # a time word does not start a term
    ("2回も注文したのに500mlが3本", []),                          # quantities are not terms
    ("担当の佐藤さんに伝えた", []),                                # a name mask breaks a run; さん never starts one
    ("確認のため、対応の件で", []),                                # formal nouns and stop words
])
def test_compound_terms(text, expected):
    assert compound_terms(doc_from_text("c", text).terms) == expected


def test_compound_terms_follow_idx_not_list_order():
    terms = doc_from_text("c", "二重請求されています").terms
    assert compound_terms(list(reversed(terms))) == ["二重請求"]


def test_rank_compounds_scores_flr_as_termextract():
    docs = [doc_from_text(str(n), text).terms for n, text in enumerate(["賞味期限", "賞味期限が近い", "有効期限"])]
    table = rank_compounds(docs)
    assert list(table.columns) == ["term", "freq", "flr"]
    assert table["term"].tolist() == ["賞味期限", "有効期限"]
    assert table["freq"].tolist() == [2, 1]
    # 期限 has 3 left neighbours; 賞味 2 right, 有効 1: FLR = freq × ((L+1)(R+1) …)^(1/2L)
    assert table["flr"].tolist() == pytest.approx([2 * (3 * 4) ** 0.25, 1 * (2 * 4) ** 0.25])


# --- rules ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("feature", "is_compound", "expected"), [
    ("キャップ", False, "キャップ"),
    ("液漏れ", True, '"液漏れ"'),
    ("届く(否定)", False, "届く!neg"),
    ("二重請求", True, '"二重請求"'),
    ("or", False, '"or"'),  # never read as the operator
])
def test_rule_term(feature, is_compound, expected):
    assert rule_term(feature, is_compound) == expected


# --- suggestions ------------------------------------------------------------------------------------

def test_each_kind_leads_its_own_topic(con):
    suggestions = suggest_topics(con)
    assert 5 <= len(suggestions) <= 6
    leading = {kind: _topic_with(suggestions, key) for kind, (key, _) in KINDS.items()}
    assert len({s.topic_no for s in leading.values()}) == len(KINDS), "two kinds share a topic"
    for kind, topic in leading.items():
        examples = topic.case_ids[:20]
        purity = sum(_kind(c) == kind for c in examples) / len(examples)
        assert purity >= 0.9, f"{kind}: examples {examples}"


def test_suggestion_shape(con):
    suggestions = suggest_topics(con)
    assert [s.topic_no for s in suggestions] == list(range(1, len(suggestions) + 1))
    assert [s.size for s in suggestions] == sorted((s.size for s in suggestions), reverse=True)
    assert sum(s.size for s in suggestions) <= len(KINDS) * PER_KIND
    for s in suggestions:
        assert 1 <= len(s.terms) <= 8
        assert 1 <= len(s.case_ids) <= min(50, s.size)
        assert len(set(s.case_ids)) == len(s.case_ids)


def test_same_data_same_seed_same_suggestions(con, topic_store):
    first = suggest_topics(con, seed=0)
    again = suggest_topics(con, seed=0)
    other = duckdb.connect(str(topic_store))
    try:
        fresh = suggest_topics(other, seed=0)
    finally:
        other.close()
    assert first == again == fresh


def test_topics_show_joined_compounds_and_no_stop_words(con):
    terms = {t for s in suggest_topics(con) for t in s.terms}
    assert {"二重請求", "ログイン"} <= terms
    assert not terms & {"不", "具合", "ログ", "イン", "二", "重"}, "a piece of a compound became a term"
    assert not terms & VOC_STOP_WORDS
    assert not any("〔" in t for t in terms), "a PII mask became a topic term"


def test_rules_use_the_documented_syntax(con):
    for s in suggest_topics(con):
        assert RULE.match(s.rule), s.rule
        for part in s.rule.split(" or "):
            word = part.strip('"').removesuffix("!neg")
            assert word in s.terms or f"{word}(否定)" in s.terms, (part, s.terms)


def test_key_terms_make_rules(con):
    rules = [s.rule for s in suggest_topics(con)]
    for expected in ("キャップ", '"二重請求"', '"ログイン"', "届く!neg"):
        assert any(expected in rule.split(" or ") for rule in rules), (expected, rules)


def test_unclassified_skips_cases_with_a_theme(topic_store, tmp_path):
    path = tmp_path / "classified.duckdb"
    path.write_bytes(topic_store.read_bytes())
    con = duckdb.connect(str(path))
    try:
        everything = suggest_topics(con)
        assert suggest_topics(con, "unclassified") == everything, "an empty case_themes classifies nothing"
        con.execute("INSERT INTO case_themes SELECT DISTINCT case_id, 'cap', ['キャップ'] FROM case_terms "
                    "WHERE case_id LIKE 'cap-%'")
        rest = suggest_topics(con, "unclassified")
        con.execute("DROP TABLE case_themes")
        assert suggest_topics(con, "unclassified") == everything, "no case_themes table: every case is unclassified"
    finally:
        con.close()
    assert rest
    assert all(_kind(c) != "cap" for s in rest for c in s.case_ids)
    assert all("キャップ" not in s.terms for s in rest)
    _topic_with(rest, "二重請求")


def test_a_list_of_case_ids(con):
    chosen = [f"{kind}-{n:03d}" for kind in ("billing", "login") for n in range(PER_KIND)]
    suggestions = suggest_topics(con, chosen, k=2)
    assert {_kind(c) for s in suggestions for c in s.case_ids} == {"billing", "login"}
    assert {s.terms[0] for s in suggestions} == {"二重請求", "ログイン"}


def test_max_cases_takes_a_stable_sample(con):
    sampled = suggest_topics(con, max_cases=100)
    assert sum(s.size for s in sampled) <= 100
    assert sampled == suggest_topics(con, max_cases=100)


def test_too_few_cases_give_no_topics(con):
    assert suggest_topics(con, ["cap-000", "cap-001"]) == []
    assert suggest_topics(con, []) == []


def test_unknown_selection_says_what_to_pass(con):
    with pytest.raises(ValueError, match="unclassified"):
        suggest_topics(con, "cap-000")


def test_an_empty_store_gives_no_topics(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        db.init_store(con)
        assert suggest_topics(con) == []
    finally:
        con.close()


def test_compounds_never_span_two_cases():
    first_case = [Term(0, "賞味", "賞味", "名詞-普通名詞-サ変可能", False)]
    second_case = [Term(1, "期限", "期限", "名詞-普通名詞-一般", False)]
    assert rank_compounds([first_case, second_case]).empty
    assert rank_compounds([first_case + second_case])["term"].tolist() == ["賞味期限"]


def test_bad_k_says_what_to_pass(con):
    with pytest.raises(ValueError, match="k=None"):
        suggest_topics(con, k=0)


def test_words_are_joined_only_when_adjacent():
    terms = [Term(0, "二", "二", "名詞-数詞", False), Term(1, "重", "重", "名詞-普通名詞-助数詞可能", False),
             Term(3, "請求", "請求", "名詞-普通名詞-サ変可能", False)]  # idx 2 was a particle
    assert compound_terms(terms) == []
