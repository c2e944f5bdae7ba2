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
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow.compute as pc
from scipy import sparse

from pipelines.nlp.vocabulary import CODE_WORDS, FORMAL_NOUNS, KEEP_NEGATED, NEGATED_SUFFIX, VOC_STOP_WORDS

TOP_TERMS = 8
EXAMPLE_CASES = 50
RULE_TERMS = 4
RULE_MIN_PRECISION = 0.5   # a rule term must point at its topic in at least half the cases it occurs in
MIN_CASES = 10             # fewer cases than this cannot form topics
MAX_FEATURES = 5000
# The POS a topic can use. Dropping the rest in SQL keeps runs intact: a dropped word leaves a gap in idx.
_USED_POS_SQL = "^(名詞|接頭辞|接尾辞-名詞的|接尾辞-形状詞的|動詞-一般|形容詞-一般|形状詞-一般)"

# What a word can do, as bit flags computed once per distinct (surface, lemma, pos).
(_JOIN, _PREDICATE, _NUMBER, _DIGITS, _COUNTER, _PREFIX, _SUFFIX, _LEAD_TRIM, _TAIL_TRIM, _STOP,
 _KEEP_NEGATED) = (1 << n for n in range(11))
_DIGITS_ONLY = re.compile(r"^[0-9.,]+$")
_BARE_RULE_TERM = re.compile(r"^[^\s\"!()]+$")
_HONORIFIC = "御"  # lemma of お/ご/御: ご利用 and 利用 are one term
_HONORIFIC_SUFFIXES = frozenset({"様", "さま", "さん", "殿", "氏", "ちゃん", "君"})  # 娘様 and 娘 are one term


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


# --- words and compound terms -------------------------------------------------------------------

def _word_flags(surface: str, lemma: str, pos: str) -> int:
    """What one word can do in a term (join a compound, start or end one, be a stop word)."""
    flags = 0
    noun = pos.startswith("名詞")
    if pos.startswith(("動詞-一般", "形容詞-一般")):
        flags |= _PREDICATE
    if pos.startswith("名詞-数詞"):
        flags |= _NUMBER | (_DIGITS if _DIGITS_ONLY.match(surface) else 0)
    if "助数詞" in pos:
        flags |= _COUNTER
    if pos.startswith("接頭辞"):
        flags |= _PREFIX
    if pos.startswith("接尾辞"):
        flags |= _SUFFIX
    stop = lemma in VOC_STOP_WORDS or surface in VOC_STOP_WORDS
    if stop:
        flags |= _STOP
    if lemma in KEEP_NEGATED:
        flags |= _KEEP_NEGATED
    # 2024 and 500ml are never part of a term; nor are the letters of 注文番号A-2024… nor 形式名詞.
    code = surface.isascii() and (len(surface) == 1 or surface.lower() in CODE_WORDS)
    formal = noun and (lemma in FORMAL_NOUNS or surface in FORMAL_NOUNS)
    if (pos.startswith(("名詞-普通名詞", "名詞-固有名詞", "名詞-数詞", "接頭辞", "接尾辞-名詞的", "形状詞-一般",
                        "接尾辞-形状詞的")) and not (flags & _DIGITS or code or formal)):
        flags |= _JOIN
    # A term does not start with a suffix (〔氏名〕さん), a time word (先週定期便), an honorific (ご利用) or
    # a stop word (お客様窓口), nor end with a prefix, a stop word (返金希望) or an honorific (娘様) — but
    # 担当者 keeps its 者.
    if flags & _SUFFIX or pos.startswith("名詞-普通名詞-副詞可能") or lemma == _HONORIFIC or stop:
        flags |= _LEAD_TRIM
    if flags & _PREFIX or (stop and not flags & _SUFFIX) or (flags & _SUFFIX and lemma in _HONORIFIC_SUFFIXES):
        flags |= _TAIL_TRIM
    return flags


@dataclass(frozen=True, slots=True)
class _Tokens:
    """Terms of one or many cases as flat arrays, by case and then idx; `word` numbers the word table."""

    case_no: np.ndarray    # int64, which case (0 … n_cases-1)
    idx: np.ndarray        # int64, token position in the case's text
    word: np.ndarray       # int64, row of the word table
    negated: np.ndarray    # bool
    flags: np.ndarray      # int64, _word_flags() per word
    surfaces: list[str]    # per word
    lemmas: list[str]      # per word


def _tokens_of(docs_terms: Iterable[Iterable[TermLike]]) -> _Tokens:
    """Flat token arrays from Term-like objects, numbering each distinct (surface, lemma, pos) once."""
    numbers: dict[tuple[str, str, str], int] = {}
    case_no, idx, word, negated = [], [], [], []
    for n, terms in enumerate(docs_terms):
        for t in sorted(terms, key=lambda t: t.idx):
            case_no.append(n)
            idx.append(t.idx)
            word.append(numbers.setdefault((t.surface, t.lemma or t.surface, t.pos), len(numbers)))
            negated.append(bool(t.negated))
    keys = list(numbers)
    return _Tokens(np.asarray(case_no, dtype=np.int64), np.asarray(idx, dtype=np.int64),
                   np.asarray(word, dtype=np.int64), np.asarray(negated, dtype=bool),
                   np.asarray([_word_flags(*k) for k in keys], dtype=np.int64),
                   [k[0] for k in keys], [k[1] for k in keys])


@dataclass(frozen=True, slots=True)
class _Found:
    """Where the features of a token stream are: word features by token, compounds by token span."""

    words: np.ndarray      # tokens that give a word feature (lemma or lemma(否定))
    first: np.ndarray      # compounds: first and last token (inclusive)
    last: np.ndarray


def _has(flags: np.ndarray, flag: int) -> np.ndarray:
    return (flags & flag) != 0


def _find_features(tok: _Tokens) -> _Found:
    """Join runs of adjacent nouns/prefixes/suffixes, trim their edges, pick words and compounds.

    Vectorised over every case at once; the rules are _word_flags()'s. A run is a maximal stretch of
    joinable words with consecutive idx in one case; its kept part starts at the first word that may
    start a term and ends at the last one after it that may end a term.
    """
    flags = tok.flags[tok.word]
    n = flags.size
    position = np.arange(n)
    follows = np.zeros(n, dtype=bool)  # token t comes right after token t-1 in the same text
    follows[1:] = (tok.case_no[1:] == tok.case_no[:-1]) & (tok.idx[1:] == tok.idx[:-1] + 1)
    after_digits = np.zeros(n, dtype=bool)
    after_digits[1:] = _has(flags[:-1], _DIGITS)
    # 2回, 3日: a counter right after a written-out number goes with the number, not into a term.
    joinable = _has(flags, _JOIN) & ~(follows & after_digits & _has(flags, _COUNTER))
    continues = np.zeros(n, dtype=bool)
    continues[1:] = joinable[1:] & joinable[:-1] & follows[1:]
    run_start = joinable & ~continues
    starts = np.flatnonzero(run_start)
    predicates = np.flatnonzero(_has(flags, _PREDICATE))
    if starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Found(predicates, empty, empty)
    run_of = np.cumsum(run_start) - 1
    ends = starts + np.bincount(run_of[joinable], minlength=starts.size) - 1
    # Segments of reduceat run from one start to the next; tokens between runs are not joinable.
    first = np.minimum.reduceat(np.where(joinable & ~_has(flags, _LEAD_TRIM), position, n), starts)
    may_end = joinable & ~_has(flags, _TAIL_TRIM) & (position >= first[run_of])
    last = np.maximum.reduceat(np.where(may_end, position, -1), starts)
    kept = np.where(last >= first, last - first + 1, 0)
    singles = first[kept == 1]
    singles = singles[~_has(flags[singles], _NUMBER | _PREFIX | _SUFFIX)]
    # ご連絡がない: the stop word 連絡 is trimmed, but 連絡(否定) is a complaint of its own.
    trimmed_end = ends[last != ends]
    keep_negated = trimmed_end[tok.negated[trimmed_end] & _has(flags[trimmed_end], _KEEP_NEGATED)]
    content = np.concatenate(([0], np.cumsum(~_has(flags, _NUMBER | _COUNTER))))
    multi = np.flatnonzero(kept >= 2)
    multi = multi[content[last[multi] + 1] - content[first[multi]] > 0]  # not only numbers (一度)
    words = np.sort(np.concatenate((predicates, singles, keep_negated)))
    return _Found(words, first[multi], last[multi])


def _word_feature_ids(tok: _Tokens) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Feature number of each word as written and negated (-1: none), and the feature names."""
    plain = np.full(len(tok.lemmas), -1, dtype=np.int64)
    negated = np.full(len(tok.lemmas), -1, dtype=np.int64)
    ids: dict[str, int] = {}
    for w, (lemma, flags) in enumerate(zip(tok.lemmas, tok.flags.tolist())):
        stop = bool(flags & _STOP)
        if not stop:
            plain[w] = ids.setdefault(lemma, len(ids))
        if not stop or flags & _KEEP_NEGATED:
            negated[w] = ids.setdefault(lemma + NEGATED_SUFFIX, len(ids))
    return plain, negated, list(ids)


def _compound_texts(tok: _Tokens, found: _Found) -> list[str | None]:
    """The text of each compound span, None for a compound that is itself a stop word."""
    surfaces = tok.surfaces
    words = tok.word.tolist()
    texts: list[str | None] = []
    for a, b in zip(found.first.tolist(), found.last.tolist()):
        text = "".join([surfaces[w] for w in words[a:b + 1]])
        texts.append(None if text in VOC_STOP_WORDS else text)
    return texts


def compound_terms(terms: Iterable[TermLike]) -> list[str]:
    """Compound terms of one case's terms (runs of adjacent nouns, prefixes, suffixes), in text order.

    Single words are not compounds: the terms of 二重請求の不具合が届かない give ['二重請求', '不具合'].
    """
    tok = _tokens_of([terms])
    return [t for t in _compound_texts(tok, _find_features(tok)) if t]


def rank_compounds(docs_terms: Iterable[Iterable[TermLike]]) -> pd.DataFrame:
    """Compound terms ranked by FLR (as in termextract): frequency × mean adjacency of their pieces.

    A piece scores (L+1)(R+1), L and R counting how often another piece sits to its left or right
    across all compounds; a compound's LR is the geometric mean over its pieces, and FLR = freq × LR.
    Columns: term, freq (occurrences), flr; best first, ties by term.
    """
    tok = _tokens_of(docs_terms)
    found = _find_features(tok)
    words = tok.word.tolist()
    freq: Counter[tuple[str, ...]] = Counter()
    for a, b, text in zip(found.first.tolist(), found.last.tolist(), _compound_texts(tok, found)):
        if text:
            freq[tuple(tok.surfaces[w] for w in words[a:b + 1])] += 1
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
    # 不+具合 and 不具+合 print alike: one row per printed term.
    table = table.groupby("term", as_index=False, sort=True).agg(freq=("freq", "sum"), flr=("flr", "sum"))
    return table.sort_values(["flr", "term"], ascending=[False, True], kind="stable").reset_index(drop=True)


# --- the corpus ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Corpus:
    case_ids: list[str]
    counts: object             # scipy CSR, cases × features, occurrences
    vocabulary: np.ndarray     # feature names (str), alphabetical
    compounds: set[str]        # features that are compounds: "phrases" in a rule


def _case_filter(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str]) -> tuple[str, list]:
    """SQL condition on case_terms t for the cases asked for, and its parameters."""
    if case_ids is None:
        return "TRUE", []
    if isinstance(case_ids, str):
        if case_ids != "unclassified":
            raise ValueError(f"case_ids={case_ids!r} is not understood — pass None (all cases), 'unclassified' "
                             "(cases without a theme) or a list of case IDs: even one ID goes in a list, "
                             "['C-2024-000001'].")
        # fetchall, not fetchone: DuckDB 2 refuses further work on a connection with an unfinished result.
        has_themes = con.execute("SELECT count(*) FROM information_schema.tables "
                                 "WHERE table_name = 'case_themes'").fetchall()[0][0]
        if not has_themes:  # nothing analysed yet: every case is unclassified
            return "TRUE", []
        return "NOT EXISTS (SELECT 1 FROM case_themes th WHERE th.case_id = t.case_id)", []
    return "t.case_id IN (SELECT unnest(?::VARCHAR[]))", [list(case_ids)]


def _load_tokens(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str], seed: int,
                 max_cases: int) -> tuple[list[str], _Tokens]:
    """Terms of the chosen cases from one query, one row per case; above max_cases a seeded sample."""

    condition, params = _case_filter(con, case_ids)
    # md5(id + seed) picks a sample that stays put when other cases are added, unlike USING SAMPLE.
    # One list of structs keeps a term's fields together; list_sort orders them by idx and then by
    # every other field, so even a repeated idx comes back in one order.
    query = f"""
        WITH chosen AS (
            SELECT case_id FROM (SELECT DISTINCT case_id FROM case_terms t WHERE {condition})
            ORDER BY md5(case_id || ?), case_id LIMIT ?)
        SELECT case_id, list_sort(list(struct_pack(idx, surface := coalesce(surface, ''),
                   lemma := coalesce(nullif(lemma, ''), surface, ''), pos := coalesce(pos, ''),
                   negated := coalesce(negated, false)))) AS terms
        FROM case_terms SEMI JOIN chosen USING (case_id)
        WHERE regexp_matches(pos, ?)
        GROUP BY case_id ORDER BY case_id"""
    table = con.sql(query, params=[*params, str(seed), max_cases, _USED_POS_SQL]).to_arrow_table()
    terms = table.column("terms").combine_chunks()
    offsets = terms.offsets.to_numpy()
    columns = terms.flatten()
    # Half a million terms: number the distinct words in Arrow, never a Python string per term.
    codes, values = [], []
    for name in ("surface", "lemma", "pos"):
        encoded = pc.dictionary_encode(columns.field(name))
        codes.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))
        values.append(encoded.dictionary.to_pylist())
    key = (codes[2] * len(values[1]) + codes[1]) * len(values[0]) + codes[0]
    _, first_seen, word = np.unique(key, return_index=True, return_inverse=True)
    surfaces = [values[0][c] for c in codes[0][first_seen].tolist()]
    lemmas = [values[1][c] for c in codes[1][first_seen].tolist()]
    poss = [values[2][c] for c in codes[2][first_seen].tolist()]
    tokens = _Tokens(
        case_no=np.repeat(np.arange(table.num_rows, dtype=np.int64), np.diff(offsets)),
        idx=columns.field("idx").to_numpy(zero_copy_only=False).astype(np.int64),
        word=word.astype(np.int64),
        negated=columns.field("negated").to_numpy(zero_copy_only=False).astype(bool),
        flags=np.asarray([_word_flags(s, l, p) for s, l, p in zip(surfaces, lemmas, poss)], dtype=np.int64),
        surfaces=surfaces, lemmas=lemmas)
    return table.column("case_id").to_pylist(), tokens


def _corpus(case_ids: list[str], tok: _Tokens, min_df: int, max_features: int) -> _Corpus:
    """Cases × features counts: words (lemma, lemma(否定)) and compounds, at most max_features of them."""

    found = _find_features(tok)
    plain, negated, names = _word_feature_ids(tok)
    words = found.words
    word_ids = np.where(tok.negated[words], negated[tok.word[words]], plain[tok.word[words]])
    ids = {name: i for i, name in enumerate(names)}
    texts = _compound_texts(tok, found)
    compound_ids = np.asarray([-1 if t is None else ids.setdefault(t, len(ids)) for t in texts], dtype=np.int64)
    names = list(ids)
    rows = np.concatenate((tok.case_no[words], tok.case_no[found.first]))
    cols = np.concatenate((word_ids, compound_ids))
    rows, cols = rows[cols >= 0], cols[cols >= 0]
    counts = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(case_ids), len(names)))
    counts.sum_duplicates()
    # Features in ≥ min_df cases; of those the max_features most frequent, ties by name; columns in
    # alphabetical order, as CountVectorizer's.
    name_array = np.asarray(names, dtype=str)
    cases_with = np.diff(counts.tocsc().indptr)
    totals = np.asarray(counts.sum(axis=0)).ravel()
    eligible = np.flatnonzero(cases_with >= min_df)
    chosen = eligible[np.lexsort((name_array[eligible], -totals[eligible]))][:max_features]
    chosen = chosen[np.argsort(name_array[chosen])]
    return _Corpus(case_ids, counts[:, chosen].tocsr(), name_array[chosen], {t for t in texts if t})


# --- topics -------------------------------------------------------------------------------------

def default_k(n_cases: int) -> int:
    """Topics for a corpus: 5 up to ~1,000 cases, growing with √n, 15 from ~9,000 cases."""
    return int(min(15, max(5, round(math.sqrt(n_cases / 40)))))


def suggest_topics(con: duckdb.DuckDBPyConnection, case_ids: None | str | Sequence[str] = None,
                   k: int | None = None, seed: int = 0, max_cases: int = 20000) -> list[TopicSuggestion]:
    """Suggest topics among cases: None = all, 'unclassified' = no theme yet, or a list of case IDs.

    Largest topic first; the same store and seed give the same suggestions.
    """
    # scikit-learn takes ~1 s to import and only topic suggestions use it.
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer
    from threadpoolctl import threadpool_limits

    if k is not None and k < 1:
        raise ValueError(f"k={k} topics cannot be made — pass k=None for a size chosen from the number of cases, "
                         "or a whole number from 1 (5–15 reads best).")
    ids, tokens = _load_tokens(con, case_ids, seed, max_cases)
    n_cases = len(ids)
    if n_cases < MIN_CASES:
        return []
    corpus = _corpus(ids, tokens, min_df=min(3, max(1, n_cases // 50)), max_features=MAX_FEATURES)
    counts, vocabulary = corpus.counts, corpus.vocabulary
    if vocabulary.size == 0:
        return []
    n_topics = min(k or default_k(n_cases), max(1, n_cases // 5), len(vocabulary))
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    # W and H have at most 15 columns, so BLAS threads cost more in hand-offs than they save: NMF of
    # 20,000 × 5,000 took 0.3 s on one thread, 1.5 s on two busy cores. One thread also gives the same
    # numbers whatever the core count. (threadpool_limits is process-wide while it lasts.)
    with threadpool_limits(1, user_api="blas"):
        weights = NMF(n_components=n_topics, init="nndsvda", random_state=seed, max_iter=300,
                      tol=1e-3).fit_transform(tfidf)
    labels = np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1)
    scores, precision = _class_term_scores((counts > 0).astype(np.float64).tocsr(), labels, n_topics)
    ids = np.asarray(corpus.case_ids, dtype=object)
    found = []
    for topic in range(n_topics):
        members = np.flatnonzero(labels == topic)
        if members.size == 0:
            continue
        # Highest first, ties by term or case ID, so equal scores never swap between runs.
        order = np.lexsort((vocabulary, -scores[topic]))
        top = [int(j) for j in order[:TOP_TERMS] if scores[topic, j] > 0]
        terms = [str(vocabulary[j]) for j in top]
        typical = members[np.lexsort((ids[members], -weights[members, topic]))][:EXAMPLE_CASES]
        rule = _rule(terms, [float(precision[topic, j]) for j in top], corpus.compounds)
        found.append((int(members.size), terms, [str(c) for c in ids[typical]], rule))
    found.sort(key=lambda f: (-f[0], f[1]))
    return [TopicSuggestion(n, size, terms, examples, rule)
            for n, (size, terms, examples, rule) in enumerate(found, start=1)]


def _class_term_scores(present, labels: np.ndarray, n_topics: int) -> tuple[np.ndarray, np.ndarray]:
    """c-TF-IDF (as in BERTopic) over case presence, and each term's precision for each topic.

    score(t, c) = tf(t, c) / Σ tf(·, c) × log(1 + A / f(t)), where tf counts the cases of topic c that
    contain t, A is the average Σ tf per topic and f(t) the cases containing t in any topic.
    precision(t, c) = tf(t, c) / f(t): how often a case with t belongs to c.
    """

    assigned = np.flatnonzero(labels >= 0)
    membership = sparse.csr_matrix((np.ones(assigned.size), (labels[assigned], assigned)),
                                   shape=(n_topics, present.shape[0]))
    class_tf = (membership @ present).toarray()
    totals = class_tf.sum(axis=1, keepdims=True)
    term_cases = np.maximum(class_tf.sum(axis=0), 1)
    idf = np.log1p(class_tf.sum() / n_topics / term_cases)
    scores = np.divide(class_tf, totals, out=np.zeros_like(class_tf), where=totals > 0) * idf
    return scores, class_tf / term_cases


def _rule(terms: list[str], precision: list[float], compounds: set[str]) -> str:
    """A theme rule from a topic's terms: the first RULE_TERMS that mostly occur in this topic."""
    chosen = [t for t, p in zip(terms, precision) if p >= RULE_MIN_PRECISION][:RULE_TERMS] or terms[:1]
    return " or ".join(rule_term(t, t in compounds) for t in chosen)


def rule_term(feature: str, is_compound: bool = False) -> str:
    """One feature in theme-rule syntax: 届く(否定) → 届く!neg, a compound → "二重請求", キャップ → キャップ."""
    if feature.endswith(NEGATED_SUFFIX):
        word = feature[: -len(NEGATED_SUFFIX)]
        return f"{word}!neg" if _BARE_RULE_TERM.match(word) else f'"{word}"!neg'
    if is_compound or not _BARE_RULE_TERM.match(feature) or feature.lower() in {"or", "and", "not"}:
        return '"' + feature.replace('"', "") + '"'
    return feature
