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
