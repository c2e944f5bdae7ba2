"""Topic suggestions for cases no theme catches yet: compound terms, TF-IDF + NMF, c-TF-IDF labels.

A lead reads a suggestion's terms and example cases, then pastes its `rule` into the themes file.
Everything here is deterministic: the same store and seed give the same suggestions in the same
order, so a page can cache them and a test can pin them.

unidic-lite (UniDic 2.1.2) splits compounds finely (不具合 → 不 + 具合, 二重請求 → 二 + 重 + 請求), so
runs of adjacent nouns, prefixes and suffixes are joined back into one term before anything is counted.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd

# Words nearly every contact-centre case contains, and desk-note boilerplate (入電, ご立腹, 敬具):
# they would make every topic look alike. Matched on a word's lemma or surface, and on the whole
# text of a compound; a compound also loses them at its edges (返金希望 → 返金, お客様窓口 → 窓口).
VOC_STOP_WORDS = frozenset({
    # the spec's core list
    "お客様", "客", "様", "件", "対応", "連絡", "確認", "お願い", "商品", "今回", "先日", "購入",
    "問い合わせ", "電話", "時",
    # spelling variants and close relatives
    "問合せ", "問い合せ", "願い", "さん", "顧客", "入電", "申し出", "申し出る", "旨", "希望", "要望", "様子",
    # letter and call boilerplate: お世話になります, 突然のご連絡失礼いたします, すみません, 拝啓…敬具
    "世話", "失礼", "済む", "拝啓", "敬具", "清栄", "貴社", "候", "喜び", "申し上げる", "立腹", "指摘", "意見",
    "内容", "本当", "気", "話", "有り", "者",
    # who called (30代女性、お子様あり): demographics, not topics
    "男性", "女性", "年配", "高齢", "子", "子様", "家族",
    # verbs of speaking and knowing that every case uses (〜について, 〜と思います, 〜と言われた)
    "付く", "つく", "思う", "言う", "申す", "存ずる", "伺う", "致す", "聞く", "分かる", "教える", "伝える",
    "下さる", "頂く", "宜しい", "良い",
    # bare counters and positions
    "今", "前", "後", "中", "度", "回", "点", "以上", "以下", "其の他",
})
# Negated forms that are complaints in their own right (連絡がない, 対応してくれない): kept although
# the plain words are stop words.
KEEP_NEGATED = frozenset({"連絡", "対応", "返信", "回答", "確認", "電話"})
# Formal nouns (形式名詞) carry grammar, not meaning; they also end a compound (確認の為).
FORMAL_NOUNS = frozenset({"ため", "為", "こと", "事", "もの", "物", "よう", "様", "方", "訳", "わけ", "所", "ところ",
                          "筈", "はず", "の", "とおり", "通り"})
# ASCII pieces of order numbers and sizes (注文番号A-2024…, 500ml, No.123): never part of a term.
CODE_WORDS = frozenset({"no", "ml", "l", "g", "kg", "mg", "cm", "mm", "km", "tel", "fax"})

NEGATED_SUFFIX = "(否定)"  # feature 届く(否定) ↔ rule 届く!neg
TOP_TERMS = 8
EXAMPLE_CASES = 50
RULE_TERMS = 4
RULE_MIN_PRECISION = 0.5   # a rule term must point at its topic in at least half the cases it occurs in
MIN_CASES = 10             # fewer cases than this cannot form topics
MAX_FEATURES = 5000
# Rows of case_terms the analysis never reads (particles are not stored; adverbs, pronouns, symbols are).
_USED_POS_SQL = "^(名詞|接頭辞|接尾辞-名詞的|接尾辞-形状詞的|動詞-一般|形容詞-一般|形状詞-一般)"

# Part-of-speech classes, as bit flags computed once per distinct POS string.
_JOIN, _PREDICATE, _NUMBER, _COUNTER, _PREFIX, _SUFFIX, _ADVERBIAL, _NOUN = (1 << n for n in range(8))
_DIGITS = re.compile(r"^[0-9.,]+$")
_BARE_RULE_TERM = re.compile(r"^[^\s\"!()]+$")
_HONORIFIC_PREFIX = "御"  # lemma of お/ご/御: ご利用 and 利用 are one term


class TermLike(Protocol):
    idx: int
    surface: str
    lemma: str
    pos: str
    negated: bool


@dataclass(frozen=True, slots=True)
class TopicSuggestion:
    """One suggested topic: its characteristic terms, most typical cases, and a theme rule to paste."""

    topic_no: int          # 1 = largest topic
    size: int              # cases whose strongest topic this is
    terms: list[str]       # up to 8, most characteristic first; 届く(否定) = negated predicate
    case_ids: list[str]    # up to 50 examples, most typical first
    rule: str              # e.g. キャップ or "液漏れ" or 届く!neg


# --- compound terms ---------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _pos_class(pos: str) -> int:
    flags = 0
    if pos.startswith(("名詞-普通名詞", "名詞-固有名詞", "名詞-数詞", "接頭辞", "接尾辞-名詞的", "形状詞-一般",
                       "接尾辞-形状詞的")):
        flags |= _JOIN
    if pos.startswith(("動詞-一般", "形容詞-一般")):
        flags |= _PREDICATE
    if pos.startswith("名詞-数詞"):
        flags |= _NUMBER
    if "助数詞" in pos:
        flags |= _COUNTER
    if pos.startswith("接頭辞"):
        flags |= _PREFIX
    if pos.startswith("接尾辞"):
        flags |= _SUFFIX
    if pos.startswith("名詞-普通名詞-副詞可能"):  # 今日, 先月, 途中: when, not what
        flags |= _ADVERBIAL
    if pos.startswith("名詞"):
        flags |= _NOUN
    return flags


def _is_stop(surface: str, lemma: str) -> bool:
    return lemma in VOC_STOP_WORDS or surface in VOC_STOP_WORDS


def _runs(idxs: Sequence[int], surfaces: Sequence[str], lemmas: Sequence[str],
          classes: Sequence[int]) -> Iterable[tuple[list[int], int]]:
    """Yield (positions of a noun run, -1) and ([], position of a verb/adjective), in text order."""
    run: list[int] = []
    previous_idx = -10
    after_digits = False
    for i, cls in enumerate(classes):
        surface = surfaces[i]
        digits = bool(cls & _NUMBER) and _DIGITS.match(surface) is not None
        # 2回, 3日, 500ml: a written-out quantity and its counter never belong to a topic term.
        counter = after_digits and bool(cls & _COUNTER)
        after_digits = digits
        code = surface.isascii() and (len(surface) == 1 or surface.lower() in CODE_WORDS)
        formal = bool(cls & _NOUN) and (lemmas[i] in FORMAL_NOUNS or surface in FORMAL_NOUNS)
        joinable = bool(cls & _JOIN) and not (digits or counter or code or formal)
        if joinable and run and idxs[i] == previous_idx + 1:
            run.append(i)
        else:
            if run:
                yield run, -1
            run = [i] if joinable else []
            if cls & _PREDICATE:
                yield [], i
        previous_idx = idxs[i]
    if run:
        yield run, -1


def _trim(run: list[int], surfaces: Sequence[str], lemmas: Sequence[str], classes: Sequence[int]) -> list[int]:
    """Strip what cannot start or end a term: 〔氏名〕さん, お+待たせ, 先週+定期便, 返金+希望, ご+利用."""
    start, end = 0, len(run)
    while start < end:
        i = run[start]
        if (classes[i] & (_SUFFIX | _ADVERBIAL) or lemmas[i] == _HONORIFIC_PREFIX
                or _is_stop(surfaces[i], lemmas[i])):
            start += 1
        else:
            break
    while end > start:
        i = run[end - 1]
        # A trailing suffix stays even when it is a stop word alone: 担当+者, not 担当.
        if classes[i] & _PREFIX or (_is_stop(surfaces[i], lemmas[i]) and not classes[i] & _SUFFIX):
            end -= 1
        else:
            break
    return run[start:end]


def _is_content_compound(run: list[int], surfaces: Sequence[str], classes: Sequence[int]) -> bool:
    """Not a stop word as a whole, and more than numbers and counters (二重 alone, 一度)."""
    if "".join(surfaces[i] for i in run) in VOC_STOP_WORDS:
        return False
    return not all(classes[i] & (_NUMBER | _COUNTER) for i in run)


def _columns(terms: Iterable[TermLike]) -> tuple[list[int], list[str], list[str], list[int], list[bool]]:
    ordered = sorted(terms, key=lambda t: t.idx)
    return ([t.idx for t in ordered], [t.surface for t in ordered], [t.lemma for t in ordered],
            [_pos_class(t.pos) for t in ordered], [bool(t.negated) for t in ordered])


def _compound_pieces(idxs, surfaces, lemmas, classes) -> list[list[str]]:
    """Surfaces of each multi-word compound of one case, in text order."""
    out = []
    for run, _ in _runs(idxs, surfaces, lemmas, classes):
        run = _trim(run, surfaces, lemmas, classes)
        if len(run) >= 2 and _is_content_compound(run, surfaces, classes):
            out.append([surfaces[i] for i in run])
    return out


def compound_terms(terms: Iterable[TermLike]) -> list[str]:
    """Compound terms of one case (runs of adjacent nouns, prefixes, suffixes), in text order.

    Single words are not compounds: `二重請求が届かない` gives ['二重請求'].
    """
    idxs, surfaces, lemmas, classes, _ = _columns(terms)
    return ["".join(pieces) for pieces in _compound_pieces(idxs, surfaces, lemmas, classes)]


def rank_compounds(docs_terms: Iterable[Iterable[TermLike]]) -> pd.DataFrame:
    """Compound terms ranked by FLR (as in termextract): frequency × mean adjacency of their pieces.

    A piece scores (L+1)(R+1), L and R counting how often another piece sits to its left or right
    across all compounds; a compound's LR is the geometric mean over its pieces and FLR = freq × LR.
    Columns: term, freq (occurrences), flr; best first, ties by term.
    """
    freq: Counter[tuple[str, ...]] = Counter()
    for terms in docs_terms:
        idxs, surfaces, lemmas, classes, _ = _columns(terms)
        freq.update(tuple(pieces) for pieces in _compound_pieces(idxs, surfaces, lemmas, classes))
    left: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for pieces, n in freq.items():
        for a, b in zip(pieces, pieces[1:]):
            right[a] += n
            left[b] += n
    rows = []
    for pieces, n in freq.items():
        log_lr = sum(math.log((left[p] + 1) * (right[p] + 1)) for p in pieces) / (2 * len(pieces))
        rows.append(("".join(pieces), n, n * math.exp(log_lr)))
    table = pd.DataFrame(rows, columns=["term", "freq", "flr"]).astype({"freq": "int64", "flr": "float64"})
    # 不+具合 and 不具+合 would print alike; one row per printed term.
    table = table.groupby("term", as_index=False, sort=True).agg(freq=("freq", "sum"), flr=("flr", "sum"))
    return table.sort_values(["flr", "term"], ascending=[False, True], kind="stable").reset_index(drop=True)


# --- features of one case ---------------------------------------------------------------------

def case_features(idxs: Sequence[int], surfaces: Sequence[str], lemmas: Sequence[str], classes: Sequence[int],
                  negated: Sequence[bool]) -> tuple[list[str], list[str]]:
    """(features, compounds) of one case; `classes` are _pos_class() of each term's POS.

    A noun run is one feature: its compound (不具合) or, for a single word, its lemma. Verbs and
    adjectives give their lemma, negated ones 'lemma(否定)' (届かない → 届く(否定)).
    """
    features: list[str] = []
    compounds: list[str] = []
    for run, predicate in _runs(idxs, surfaces, lemmas, classes):
        if predicate >= 0:
            _add_word(features, surfaces[predicate], lemmas[predicate], negated[predicate])
            continue
        kept = _trim(run, surfaces, lemmas, classes)
        last = run[-1]
        if negated[last] and lemmas[last] in KEEP_NEGATED and (not kept or kept[-1] != last):
            features.append(lemmas[last] + NEGATED_SUFFIX)  # ご連絡がない: the stop word went, the complaint stays
        run = kept
        if len(run) >= 2:
            if _is_content_compound(run, surfaces, classes):
                term = "".join(surfaces[i] for i in run)
                features.append(term)
                compounds.append(term)
        elif run and not classes[run[0]] & (_NUMBER | _PREFIX | _SUFFIX):
            i = run[0]
            _add_word(features, surfaces[i], lemmas[i], negated[i])
    return features, compounds


def _add_word(features: list[str], surface: str, lemma: str, negated: bool) -> None:
    if negated:
        if lemma in KEEP_NEGATED or not _is_stop(surface, lemma):
            features.append(lemma + NEGATED_SUFFIX)
    elif not _is_stop(surface, lemma):
        features.append(lemma)


# --- topics -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Corpus:
    case_ids: list[str]
    features: list[list[str]]
    compounds: set[str]        # features that print as phrases in a rule


def _case_filter(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str]) -> tuple[str, list]:
    """SQL condition on case_terms.case_id for the cases asked for, and its parameters."""
    if case_ids is None:
        return "TRUE", []
    if isinstance(case_ids, str):
        if case_ids != "unclassified":
            raise ValueError(f"case_ids={case_ids!r} is not understood — pass None (all cases), 'unclassified' "
                             "(cases without a theme) or a list of case IDs such as ['C-2024-000001'].")
        has_themes = con.execute("SELECT count(*) FROM information_schema.tables "
                                 "WHERE table_name = 'case_themes'").fetchone()[0]
        if not has_themes:
            return "TRUE", []
        return "NOT EXISTS (SELECT 1 FROM case_themes th WHERE th.case_id = t.case_id)", []
    return "t.case_id IN (SELECT unnest(?::VARCHAR[]))", [list(case_ids)]


def _load_corpus(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str], seed: int,
                 max_cases: int) -> _Corpus:
    """Terms of the chosen cases, one row per case, in one query; above max_cases a seeded sample."""
    condition, params = _case_filter(con, case_ids)
    # md5 of id + seed: a sample that does not move when unrelated cases are added, unlike LIMIT.
    query = f"""
        WITH chosen AS (
            SELECT case_id FROM (SELECT DISTINCT case_id FROM case_terms t WHERE {condition})
            ORDER BY md5(case_id || ?), case_id LIMIT ?)
        SELECT case_id, list(idx ORDER BY idx), list(surface ORDER BY idx), list(lemma ORDER BY idx),
               list(pos ORDER BY idx), list(negated ORDER BY idx)
        FROM case_terms SEMI JOIN chosen USING (case_id)
        WHERE regexp_matches(pos, ?)
        GROUP BY case_id ORDER BY case_id"""
    rows = con.execute(query, [*params, str(seed), max_cases, _USED_POS_SQL]).fetchall()
    ids, features, compounds = [], [], set()
    for case_id, idxs, surfaces, lemmas, poss, negated in rows:
        case_feats, case_compounds = case_features(idxs, surfaces, lemmas, [_pos_class(p) for p in poss], negated)
        ids.append(case_id)
        features.append(case_feats)
        compounds.update(case_compounds)
    return _Corpus(ids, features, compounds)


def default_k(n_cases: int) -> int:
    """Topics for a corpus: 5 up to ~1,000 cases, growing with √n, at most 15 (≥ 9,000 cases)."""
    return int(min(15, max(5, round(math.sqrt(n_cases / 40)))))


def _identity(features: list[str]) -> list[str]:
    return features


def suggest_topics(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str] = None,
                   k: int | None = None, seed: int = 0, max_cases: int = 20000) -> list[TopicSuggestion]:
    """Suggest topics among cases: None = all, 'unclassified' = no theme yet, or a list of case IDs.

    Largest topic first. Same store + same seed → the same suggestions.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    corpus = _load_corpus(con, case_ids, seed, max_cases)
    n_cases = len(corpus.case_ids)
    if n_cases < MIN_CASES:
        return []
    vectorizer = CountVectorizer(analyzer=_identity, min_df=min(3, max(1, n_cases // 50)),
                                 max_features=MAX_FEATURES)
    try:
        counts = vectorizer.fit_transform(corpus.features)
    except ValueError:  # no term survives min_df
        return []
    vocabulary = vectorizer.get_feature_names_out()
    n_topics = min(k or default_k(n_cases), max(1, n_cases // 5), len(vocabulary))
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    nmf = NMF(n_components=n_topics, init="nndsvda", random_state=seed, max_iter=300, tol=1e-3)
    weights = nmf.fit_transform(tfidf)
    labels = np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1)
    present = (counts > 0).astype(np.float64).tocsr()
    scores, precision = _class_term_scores(present, labels, n_topics)
    ids = np.asarray(corpus.case_ids, dtype=object)
    suggestions = []
    for topic in range(n_topics):
        members = np.flatnonzero(labels == topic)
        if members.size == 0:
            continue
        # Highest score first, ties by term, so equal scores never reorder between runs.
        order = np.lexsort((vocabulary, -scores[topic]))
        top = [int(j) for j in order[:TOP_TERMS] if scores[topic, j] > 0]
        typical = members[np.lexsort((ids[members], -weights[members, topic]))][:EXAMPLE_CASES]
        suggestions.append(([str(vocabulary[j]) for j in top], members.size, [str(c) for c in ids[typical]],
                            _rule([str(vocabulary[j]) for j in top], [precision[topic, j] for j in top],
                                  corpus.compounds)))
    suggestions.sort(key=lambda s: (-s[1], s[0]))
    return [TopicSuggestion(n, size, terms, examples, rule)
            for n, (terms, size, examples, rule) in enumerate(suggestions, start=1)]


def _class_term_scores(present, labels: np.ndarray, n_topics: int) -> tuple[np.ndarray, np.ndarray]:
    """c-TF-IDF (BERTopic) over case presence, and each term's precision for each topic.

    score(t, c) = tf(t, c) / |c| × log(1 + A / f(t)): tf counts the cases of topic c containing t,
    A is the average number of term occurrences per topic, f(t) the cases containing t anywhere.
    """
    from scipy import sparse

    assigned = labels >= 0
    membership = sparse.csr_matrix((np.ones(int(assigned.sum())), (labels[assigned], np.flatnonzero(assigned))),
                                   shape=(n_topics, present.shape[0]))
    class_tf = np.asarray((membership @ present).todense())
    totals = class_tf.sum(axis=1, keepdims=True)
    term_cases = np.asarray(present.sum(axis=0)).ravel()
    average = class_tf.sum() / n_topics
    idf = np.log1p(average / np.maximum(term_cases, 1))
    scores = np.divide(class_tf, totals, out=np.zeros_like(class_tf), where=totals > 0) * idf
    precision = class_tf / np.maximum(term_cases, 1)
    return scores, precision


def _rule(terms: list[str], precision: list[float], compounds: set[str]) -> str:
    """A theme rule from a topic's terms: those that mostly occur in this topic, at most RULE_TERMS.

    Syntax: terms joined with ' or ', compounds as "phrases", a negated predicate as 届く!neg.
    """
    chosen = [t for t, p in zip(terms, precision) if p >= RULE_MIN_PRECISION][:RULE_TERMS] or terms[:1]
    return " or ".join(rule_term(t, t in compounds) for t in chosen)


def rule_term(feature: str, is_compound: bool = False) -> str:
    """One feature as a rule term: 届く(否定) → 届く!neg, compound 二重請求 → "二重請求", キャップ → キャップ."""
    if feature.endswith(NEGATED_SUFFIX):
        word = feature[: -len(NEGATED_SUFFIX)]
        return f"{word}!neg" if _BARE_RULE_TERM.match(word) else f'"{word}"!neg'
    if is_compound or not _BARE_RULE_TERM.match(feature) or feature.lower() in {"or", "and", "not"}:
        return '"' + feature.replace('"', "") + '"'
    return feature
