"""テーマ探索: what the themes explorer shows, read from stored data only.

Theme distribution and trend, characteristic terms and compound terms of a theme, the
co-occurrence network of its terms, KWIC (keyword in context) over its verbatims, the cases no
theme catches with topic suggestions for them, and the rule editor's preview and save. Everything
reads case_terms / case_themes: no text is tokenized here, and a rule edit is previewed by
re-tagging stored terms, as `analyze` does after the file is saved.

A "theme" argument is None (every case under the filters), a theme_id, or UNCLASSIFIED.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse

from pipelines.analysis import topics
from pipelines.nlp.text import CaseDoc, Term
from pipelines.nlp.vocabulary import CODE_WORDS, FORMAL_NOUNS, NEGATED_SUFFIX, VOC_STOP_WORDS
from pipelines.rules import themes as th
from pipelines.store import access, audit, db
from pipelines.store import filters as flt
from pipelines.store.definitions import UNCLASSIFIED_ID, UNCLASSIFIED_NAME

UNCLASSIFIED = UNCLASSIFIED_ID
GRAINS = {"week": ("week", "1 week"), "month": ("month", "1 month")}   # grain → (date_trunc part, step)
# Content words a term table or network shows: nouns (not numerals, masks or pronouns), general
# verbs and adjectives, na-adjectives.
_FEATURE_POS = r"^(名詞-普通名詞|名詞-固有名詞|動詞-一般|形容詞-一般|形状詞-一般)"
_NOISE = r"^[0-9.,:/%-]+$|^[ -~]$"                   # bare numbers, single ASCII characters
_STOP_WORDS = sorted(VOC_STOP_WORDS | FORMAL_NOUNS | CODE_WORDS)
KWIC_WIDTH = 24                                    # characters of context on each side
MAX_PAGE_SIZE = 200
COMPOUND_SAMPLE = 3000                             # cases read to find compound terms (a seeded sample above)
LAYOUT_SEED = 7


# ---------------------------------------------------------------------------------------------
# Scope: the filtered cases, and which of them are the chosen theme's


def _theme_condition(theme: str | None) -> tuple[str, list]:
    if theme is None:
        return "TRUE", []
    if theme == UNCLASSIFIED:
        return "NOT EXISTS (SELECT 1 FROM case_themes x WHERE x.case_id = c.case_id)", []
    return "EXISTS (SELECT 1 FROM case_themes x WHERE x.case_id = c.case_id AND x.theme_id = ?)", [theme]


def _scope(con: duckdb.DuckDBPyConnection, filters: flt.Filters, theme: str | None) -> tuple[int, int]:
    """TEMP TABLE kk_scope(case_id, received_at, chosen): the filtered cases, `chosen` = in `theme`.
    Returns (filtered cases, chosen cases)."""
    con.execute("SET enable_progress_bar = false")   # DuckDB's bar would go to the server's stderr
    # A term's lemma as the page shows it: UniDic's sense label dropped (円-助数詞 → 円).
    con.execute("CREATE OR REPLACE TEMP MACRO kk_lemma(lemma, surface) AS "
                "regexp_replace(coalesce(nullif(lemma, ''), surface), '-[^ -~]+$', '')")
    condition, params = flt.where(filters, "c", con=con)
    chosen, chosen_params = _theme_condition(theme)
    con.execute(f"CREATE OR REPLACE TEMP TABLE kk_scope AS SELECT c.case_id, c.received_at, {chosen} AS chosen "
                f"FROM cases c WHERE {condition}", [*chosen_params, *params])
    total, chosen_count = con.execute("SELECT count(*), count(*) FILTER (WHERE chosen) FROM kk_scope").fetchall()[0]
    return int(total), int(chosen_count)


def theme_names(store: Path | str | None = None) -> dict[str, str]:
    """theme_id → name as last analysed (rules-file order), with UNCLASSIFIED → 未分類 last."""
    with db.reader(store, wait_seconds=2.0) as con:
        names = dict(con.execute("SELECT theme_id, name FROM themes ORDER BY position, theme_id").fetchall())
    names[UNCLASSIFIED] = UNCLASSIFIED_NAME
    return names


# ---------------------------------------------------------------------------------------------
# Distribution and trend


def theme_distribution(filters: flt.Filters, store: Path | str | None = None) -> pd.DataFrame:
    """Cases per theme under the filters, with 未分類 last.

    Columns: theme_id, テーマ, 件数, 割合 (of the filtered cases; a case with two themes counts under
    both, so shares can add up to more than 1). Themes without cases are listed with 0.
    """
    with db.reader(store, wait_seconds=2.0) as con:
        total, _ = _scope(con, filters, None)
        frame = con.execute("""
            WITH tagged AS (SELECT ct.theme_id, count(DISTINCT ct.case_id) AS n
                            FROM case_themes ct SEMI JOIN kk_scope USING (case_id) GROUP BY 1)
            SELECT th.theme_id, th.name AS テーマ, coalesce(t.n, 0) AS 件数, th.position
            FROM themes th LEFT JOIN tagged t USING (theme_id)
            UNION ALL
            SELECT ?, ?, (SELECT count(*) FROM kk_scope s
                          WHERE NOT EXISTS (SELECT 1 FROM case_themes x WHERE x.case_id = s.case_id)), 1000000
            ORDER BY position, theme_id""", [UNCLASSIFIED, UNCLASSIFIED_NAME]).df()
    frame = frame.drop(columns="position")
    frame["件数"] = frame["件数"].astype("int64")
    frame["割合"] = frame["件数"] / total if total else 0.0
    return frame


def theme_trend(filters: flt.Filters, grain: str = "week", store: Path | str | None = None) -> pd.DataFrame:
    """Cases per theme per week (Monday first) or month in the filtered period, zeros included.

    Columns: 期間 (first day of the week/month), theme_id, テーマ, 件数. The first and last buckets
    may cover only part of a week or month (the period's edges).
    """
    if grain not in GRAINS:
        raise ValueError(f"grain={grain!r}: use one of {', '.join(GRAINS)}")
    part, step = GRAINS[grain]   # from the fixed table above, never from the caller
    with db.reader(store, wait_seconds=2.0) as con:
        _scope(con, filters, None)
        period = flt.resolve(con, filters)
        return con.execute(f"""
            WITH buckets AS (
                SELECT CAST(b AS DATE) AS bucket
                FROM generate_series(date_trunc('{part}', CAST(? AS TIMESTAMP)),
                                     CAST(? AS TIMESTAMP) - INTERVAL 1 SECOND, INTERVAL {step}) g(b)),
            series AS (SELECT theme_id, name, position FROM themes
                       UNION ALL SELECT ?, ?, 1000000),
            tags AS (SELECT CAST(date_trunc('{part}', s.received_at) AS DATE) AS bucket,
                            coalesce(ct.theme_id, ?) AS theme_id, count(DISTINCT s.case_id) AS n
                     FROM kk_scope s LEFT JOIN case_themes ct USING (case_id) GROUP BY ALL)
            SELECT b.bucket AS 期間, se.theme_id, se.name AS テーマ, coalesce(t.n, 0)::BIGINT AS 件数
            FROM buckets b CROSS JOIN series se LEFT JOIN tags t ON t.bucket = b.bucket AND t.theme_id = se.theme_id
            ORDER BY b.bucket, se.position, se.theme_id""",
                           [period.start, period.end, UNCLASSIFIED, UNCLASSIFIED_NAME, UNCLASSIFIED]).df()


# ---------------------------------------------------------------------------------------------
# Characteristic terms and compounds


def _features(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP TABLE kk_features(case_id, chosen, term) for the cases in kk_scope."""
    con.execute(db.sql("explore_features"), {
        "stop": _STOP_WORDS, "keep_negated": sorted(topics.KEEP_NEGATED), "pos": _FEATURE_POS,
        "noise": _NOISE, "negated_suffix": NEGATED_SUFFIX})


def _characteristic(frame: pd.DataFrame, chosen: int, total: int) -> pd.DataFrame:
    """Add 割合, 全体の割合, リフト and 特徴度 (Jaccard) to df_sel/df_all counts and sort by 特徴度.

    Jaccard of the term's cases and the chosen cases (KH Coder's 関連語 measure):
    df_sel / (chosen + df_all − df_sel). It favours terms that are both frequent in the theme and
    rare elsewhere; lift alone ranks a word seen twice, only in the theme, first.
    """
    out = frame.copy()
    out["割合"] = out["df_sel"] / chosen if chosen else 0.0
    out["全体の割合"] = out["df_all"] / total if total else 0.0
    out["リフト"] = np.where(out["全体の割合"] > 0, out["割合"] / out["全体の割合"].where(out["全体の割合"] > 0, 1), 0.0)
    out["特徴度"] = out["df_sel"] / (chosen + out["df_all"] - out["df_sel"]).clip(lower=1)
    return out.sort_values(["特徴度", "df_sel", "語"], ascending=[False, False, True], kind="stable")


def top_terms(filters: flt.Filters, theme: str | None = None, limit: int = 30, min_cases: int = 2,
              store: Path | str | None = None) -> pd.DataFrame:
    """The words that characterise a theme's cases against all filtered cases.

    Columns: 語 (lemma; 届く(否定) apart from 届く), 件数 (theme cases containing it), 割合, 全体の件数,
    全体の割合, リフト, 特徴度 (Jaccard, the sort key). Words in fewer than `min_cases` theme cases
    are left out. With theme=None every filtered case is "the theme": 特徴度 is then its share.
    """
    columns = ["語", "件数", "割合", "全体の件数", "全体の割合", "リフト", "特徴度"]
    with db.reader(store, wait_seconds=2.0) as con:
        total, chosen = _scope(con, filters, theme)
        if not chosen:
            return pd.DataFrame(columns=columns)
        _features(con)
        counts = con.execute("""
            SELECT term AS 語, count(*) FILTER (WHERE chosen) AS df_sel, count(*) AS df_all
            FROM kk_features GROUP BY term HAVING count(*) FILTER (WHERE chosen) >= ?""",
                             [max(1, min(min_cases, chosen))]).df()
    ranked = _characteristic(counts, chosen, total).head(limit)
    ranked = ranked.rename(columns={"df_sel": "件数", "df_all": "全体の件数"})
    return ranked[columns].astype({"件数": "int64", "全体の件数": "int64"}).reset_index(drop=True)


def top_compounds(filters: flt.Filters, theme: str | None = None, limit: int = 20, seed: int = 0,
                  store: Path | str | None = None) -> pd.DataFrame:
    """Compound terms of a theme (二重請求, 賞味期限: runs of nouns the dictionary splits), ranked by
    特徴度 among the best by FLR (pipelines.analysis.topics.rank_compounds).

    Columns: 複合語, 件数 (theme cases whose text contains it), 割合, 全体の件数, 全体の割合, リフト,
    特徴度, FLR. Above COMPOUND_SAMPLE theme cases, the compounds are found in a seeded sample (the
    counts are still over every case).
    """
    columns = ["複合語", "件数", "割合", "全体の件数", "全体の割合", "リフト", "特徴度", "FLR"]
    with db.reader(store, wait_seconds=2.0) as con:
        total, chosen = _scope(con, filters, theme)
        if not chosen:
            return pd.DataFrame(columns=columns)
        table = con.sql("""
            WITH sample AS (SELECT case_id FROM kk_scope WHERE chosen ORDER BY md5(case_id || ?), case_id LIMIT ?)
            SELECT t.case_id, t.idx, t.surface, coalesce(nullif(t.lemma, ''), t.surface) AS lemma, t.pos,
                   coalesce(t.negated, false) AS negated
            FROM case_terms t SEMI JOIN sample USING (case_id) ORDER BY t.case_id, t.idx""",
                        params=[str(seed), COMPOUND_SAMPLE]).fetchall()
        ranked = topics.rank_compounds(_term_groups(table))
        candidates = ranked[ranked["freq"] >= 2].head(max(limit * 3, 30))
        if candidates.empty:
            return pd.DataFrame(columns=columns)
        # Counted in the text: a compound is not one stored term, and the text holds it either way.
        counts = con.execute("""
            SELECT k.term AS 語, count(*) FILTER (WHERE s.chosen) AS df_sel, count(*) AS df_all
            FROM kk_scope s JOIN cases c USING (case_id)
            JOIN (SELECT unnest(?::VARCHAR[]) AS term) k ON contains(c.text, k.term)
            GROUP BY k.term""", [candidates["term"].tolist()]).df()
    counts = counts.merge(candidates.rename(columns={"term": "語", "flr": "FLR"})[["語", "FLR"]], on="語")
    ranked = _characteristic(counts[counts["df_sel"] > 0], chosen, total).head(limit)
    ranked = ranked.rename(columns={"語": "複合語", "df_sel": "件数", "df_all": "全体の件数"})
    return ranked[columns].astype({"件数": "int64", "全体の件数": "int64"}).reset_index(drop=True)


class _StoredTerm(NamedTuple):
    """A stored term as topics.rank_compounds reads it (its TermLike); a tuple is cheaper to build
    than text.Term for the ~60,000 terms of a sample."""

    idx: int
    surface: str
    lemma: str
    pos: str
    negated: bool


def _term_groups(rows: list[tuple]) -> list[list[_StoredTerm]]:
    """Rows (case_id, idx, surface, lemma, pos, negated) ordered by case → one term list per case."""
    groups: list[list[_StoredTerm]] = []
    current = None
    for case_id, *term in rows:
        if case_id != current:
            groups.append([])
            current = case_id
        groups[-1].append(_StoredTerm(*term))
    return groups


# ---------------------------------------------------------------------------------------------
# Co-occurrence network


@dataclass(frozen=True)
class Network:
    """A co-occurrence network (KH Coder's 共起ネットワーク) of a theme's terms.

    nodes: 語, 件数 (cases containing it), x, y (layout), グループ (community, 1 = largest), 次数.
    edges: 語1, 語2, 共起件数 (cases containing both), Jaccard — the `top_edges` strongest.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    cases: int             # cases the network is drawn from
    min_cases: int         # a word had to occur in this many of them
    terms_considered: int  # words that passed min_cases (the most frequent max_terms were paired)


def default_min_cases(cases: int) -> int:
    """A word must occur in this many cases to be a node: 0.5% of them, at least 2 (at most 50)."""
    return int(min(50, max(2, round(cases * 0.005))))


def cooccurrence(filters: flt.Filters, theme: str | None = None, top_edges: int = 60, min_cases: int | None = None,
                 max_terms: int = 120, store: Path | str | None = None) -> Network:
    """The `top_edges` strongest co-occurrences (Jaccard on cases) among the `max_terms` most frequent
    words of the theme's cases, laid out by a seeded force-directed layout (same input, same picture)."""
    with db.reader(store, wait_seconds=2.0) as con:
        _, chosen = _scope(con, filters, theme)
        threshold = default_min_cases(chosen) if min_cases is None else max(1, int(min_cases))
        empty = Network(pd.DataFrame(columns=["語", "件数", "x", "y", "グループ", "次数"]),
                        pd.DataFrame(columns=["語1", "語2", "共起件数", "Jaccard"]), chosen, threshold, 0)
        if not chosen:
            return empty
        con.execute("DELETE FROM kk_scope WHERE NOT chosen")
        _features(con)
        vocabulary = con.execute("""
            SELECT term, count(*) AS df FROM kk_features GROUP BY term HAVING count(*) >= ?
            ORDER BY df DESC, term""", [threshold]).fetchall()
        considered = len(vocabulary)
        vocabulary = vocabulary[:max_terms]
        if len(vocabulary) < 2:
            return Network(empty.nodes, empty.edges, chosen, threshold, considered)
        terms = [term for term, _ in vocabulary]
        pairs = con.sql("""
            WITH v AS (SELECT term, (row_number() OVER ()) - 1 AS term_no FROM (SELECT unnest(?::VARCHAR[]) AS term))
            SELECT dense_rank() OVER (ORDER BY f.case_id) - 1 AS case_no, v.term_no
            FROM kk_features f JOIN v USING (term)""", params=[terms]).fetchnumpy()
    edges = _strongest_edges(pairs["case_no"], pairs["term_no"], len(terms), top_edges)
    if edges.size == 0:
        return Network(empty.nodes, empty.edges, chosen, threshold, considered)
    used = np.unique(edges[:, :2].astype(np.int64))
    renumber = {int(old): new for new, old in enumerate(used)}
    source = np.asarray([renumber[int(i)] for i in edges[:, 0]])
    target = np.asarray([renumber[int(j)] for j in edges[:, 1]])
    weights = edges[:, 3]
    xy = force_layout(len(used), source, target, weights, seed=LAYOUT_SEED)
    groups = communities(len(used), source, target, weights)
    df = np.asarray([vocabulary[i][1] for i in used], dtype=np.int64)
    degree = np.bincount(np.concatenate((source, target)), minlength=len(used))
    nodes = pd.DataFrame({"語": [terms[i] for i in used], "件数": df, "x": xy[:, 0], "y": xy[:, 1],
                          "グループ": groups + 1, "次数": degree})
    edge_frame = pd.DataFrame({"語1": [terms[int(i)] for i in edges[:, 0]], "語2": [terms[int(j)] for j in edges[:, 1]],
                               "共起件数": edges[:, 2].astype(np.int64), "Jaccard": weights})
    return Network(nodes, edge_frame, chosen, threshold, considered)


def _strongest_edges(case_no: np.ndarray, term_no: np.ndarray, n_terms: int, top: int) -> np.ndarray:
    """Rows (i, j, co-occurring cases, Jaccard), i < j, strongest first (ties: more cases, then i, j)."""

    n_cases = int(case_no.max()) + 1 if case_no.size else 0
    incidence = sparse.csr_matrix((np.ones(case_no.size), (case_no, term_no)), shape=(n_cases, n_terms))
    together = (incidence.T @ incidence).tocoo()
    df = np.asarray(incidence.sum(axis=0)).ravel()
    upper = together.row < together.col
    i, j, both = together.row[upper], together.col[upper], together.data[upper]
    jaccard = both / (df[i] + df[j] - both)
    order = np.lexsort((j, i, -both, -jaccard))[:top]
    return np.column_stack((i[order], j[order], both[order], jaccard[order])) if order.size else np.zeros((0, 4))


def force_layout(n: int, source: np.ndarray, target: np.ndarray, weights: np.ndarray, seed: int = LAYOUT_SEED,
                 iterations: int = 300) -> np.ndarray:
    """Fruchterman–Reingold positions in [-1, 1]², seeded: the same graph gives the same picture.

    Edges attract in proportion to their weight; every pair repels; a weak pull to the centre keeps
    unconnected groups on screen.
    """
    if n == 1:
        return np.zeros((1, 2))
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1.0, 1.0, size=(n, 2))
    k = 2.0 / math.sqrt(n)
    strength = weights / weights.max() if weights.size and weights.max() > 0 else weights
    temperature = 0.2
    for step in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        force = (k * k / dist ** 2)[:, :, None] * delta
        displacement = force.sum(axis=1)
        edge_delta = pos[source] - pos[target]
        edge_dist = np.maximum(np.linalg.norm(edge_delta, axis=1), 1e-3)
        pull = (edge_dist * (0.5 + strength) / k)[:, None] * edge_delta
        np.add.at(displacement, source, -pull)
        np.add.at(displacement, target, pull)
        displacement -= 0.1 * pos * n ** 0.5
        length = np.maximum(np.linalg.norm(displacement, axis=1), 1e-9)
        pos += displacement / length[:, None] * np.minimum(length, temperature)[:, None]
        temperature = 0.2 * (1 - (step + 1) / iterations) + 0.002
    pos -= pos.mean(axis=0)
    scale = np.abs(pos).max()
    return pos / scale if scale > 0 else pos


def communities(n: int, source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Community of each node by modularity (Louvain's local moving, nodes in a fixed order), numbered
    by size, largest 0: deterministic, so a word keeps its colour between runs."""
    adjacency = np.zeros((n, n))
    np.add.at(adjacency, (source, target), weights)
    np.add.at(adjacency, (target, source), weights)
    strength = adjacency.sum(axis=1)
    total = strength.sum()
    label = np.arange(n)
    if total <= 0:
        return label
    community_strength = strength.copy()
    for _ in range(20):
        moved = False
        for node in range(n):
            current = label[node]
            community_strength[current] -= strength[node]
            links = np.bincount(label, weights=adjacency[node], minlength=n)
            gain = links - community_strength * strength[node] / total
            candidates = np.flatnonzero(links > 0)
            best = current
            if candidates.size:
                top = candidates[np.argmax(gain[candidates])]
                if gain[top] > gain[current] + 1e-12:
                    best = top
            community_strength[best] += strength[node]
            if best != current:
                label[node], moved = best, True
        if not moved:
            break
    sizes = np.bincount(label, minlength=n)
    order = sorted(set(label.tolist()), key=lambda c: (-sizes[c], int(np.flatnonzero(label == c)[0])))
    rank = {c: r for r, c in enumerate(order)}
    return np.asarray([rank[c] for c in label])


# ---------------------------------------------------------------------------------------------
# KWIC


@dataclass(frozen=True)
class CasePage:
    """One page of a list: `rows` and how many there are in all (`total`) among `cases` filtered cases."""

    rows: pd.DataFrame
    total: int
    cases: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def share(self) -> float:
        return self.total / self.cases if self.cases else 0.0


KWIC_COLUMNS = ["受付日時", "左文脈", "キーワード", "右文脈", "商品", "チャネル", "テーマ", "感情レベル", "根拠語", "ケースID"]


def split_term(term: str) -> tuple[str, bool]:
    """A feature label → (lemma, negated): 届く(否定) → ("届く", True)."""
    if term.endswith(NEGATED_SUFFIX) and len(term) > len(NEGATED_SUFFIX):
        return term[: -len(NEGATED_SUFFIX)], True
    return term, False


def kwic(filters: flt.Filters, theme: str | None = None, term: str | None = None, text: str | None = None,
         page: int = 1, page_size: int = 20, width: int = KWIC_WIDTH, store: Path | str | None = None) -> CasePage:
    """Keyword-in-context rows over the filtered (and theme's) cases, newest first, one page.

    - `term` (a feature label from top_terms/cooccurrence: 届く, 届く(否定)): every occurrence of that
      stored term — lemma or surface, with that negation — is a row.
    - `text` (a compound or any substring): one row per case containing it, at its first occurrence.
    - neither: one row per case, at the first evidence word of the theme (of any theme for theme=None).
    Columns: KWIC_COLUMNS. Context is plain text (line breaks as spaces), never markup.
    """
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), MAX_PAGE_SIZE)
    offset = (page - 1) * page_size
    with db.reader(store, wait_seconds=2.0) as con:
        total_cases, chosen = _scope(con, filters, theme)
        con.execute("DELETE FROM kk_scope WHERE NOT chosen")
        if term:
            lemma, negated = split_term(term)
            hits_sql = """FROM case_terms t JOIN kk_scope s USING (case_id)
                          WHERE (kk_lemma(t.lemma, t.surface) = ? OR t.surface = ?)
                            AND coalesce(t.negated, false) = ?"""
            hit_params = [lemma, lemma, negated]
            total = con.execute(f"SELECT count(*) {hits_sql}", hit_params).fetchall()[0][0]
            hits = con.execute(f"SELECT t.case_id, t.idx {hits_sql} ORDER BY s.received_at DESC, t.case_id, t.idx "
                               "LIMIT ? OFFSET ?", [*hit_params, page_size, offset]).fetchall()
        else:
            where, params = ("contains(c.text, ?)", [text]) if text else ("TRUE", [])
            total = con.execute(f"SELECT count(*) FROM kk_scope s JOIN cases c USING (case_id) WHERE {where}",
                                params).fetchall()[0][0]
            hits = con.execute(f"SELECT s.case_id, NULL FROM kk_scope s JOIN cases c USING (case_id) WHERE {where} "
                               "ORDER BY s.received_at DESC, s.case_id LIMIT ? OFFSET ?",
                               [*params, page_size, offset]).fetchall()
        case_ids = list(dict.fromkeys(case_id for case_id, _ in hits))
        meta = _case_meta(con, case_ids)
        surfaces = _surfaces(con, case_ids) if term else {}
    rows = []
    for case_id, idx in hits:
        case = meta[case_id]
        span = _term_span(case["text"], surfaces.get(case_id, []), idx) if term else \
            _text_span(case["text"], text) if text else _evidence_span(case, theme)
        rows.append(_kwic_row(case, span, theme, width))
    frame = pd.DataFrame(rows, columns=KWIC_COLUMNS)
    return CasePage(frame, int(total), int(total_cases), page, page_size)


def _case_meta(con: duckdb.DuckDBPyConnection, case_ids: list[str]) -> dict[str, dict]:
    if not case_ids:
        return {}
    rows = con.execute(db.sql("explore_case_meta"), {"case_ids": case_ids}).fetchall()
    keys = ("case_id", "received_at", "product", "channel", "text", "emotion_level", "tags")
    return {row[0]: dict(zip(keys, row)) for row in rows}


def _surfaces(con: duckdb.DuckDBPyConnection, case_ids: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Each case's stored terms (idx, surface) in reading order, to find a term's place in the text."""
    rows = con.execute("SELECT case_id, list(struct_pack(idx, surface) ORDER BY idx) FROM case_terms "
                       "WHERE case_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY case_id", [case_ids]).fetchall()
    return {case_id: [(t["idx"], t["surface"]) for t in terms] for case_id, terms in rows}


def _term_span(text: str, terms: list[tuple[int, str]], idx: int) -> tuple[int, int]:
    """Where the term at token position `idx` is in the text: stored terms are found one after the
    other in reading order (the tokenizer found them the same way), so a repeated word maps to the
    right occurrence. (-1, -1) when it cannot be placed."""
    cursor = 0
    for term_idx, surface in terms:
        at = text.find(surface, cursor) if surface else -1
        if at < 0:
            continue
        if term_idx == idx:
            return at, at + len(surface)
        cursor = at + len(surface)
    return -1, -1


def _text_span(text: str, needle: str) -> tuple[int, int]:
    at = text.find(needle)
    return (at, at + len(needle)) if at >= 0 else (-1, -1)


def _evidence_span(case: dict, theme: str | None) -> tuple[int, int]:
    """The first evidence word of the theme (any theme when None) in the text."""
    text = case["text"]
    spans = [(at, at + len(word)) for tag in case["tags"] or () if theme in (None, tag["theme_id"])
             for word in tag["evidence"] or () if word and (at := text.find(word)) >= 0]
    return min(spans) if spans else (-1, -1)


_BLANKS = re.compile(r"\s+")


def _plain(text: str) -> str:
    return _BLANKS.sub(" ", text)


def _kwic_row(case: dict, span: tuple[int, int], theme: str | None, width: int) -> list:
    text = case["text"] or ""
    start, end = span
    if start < 0:
        left, keyword, right = "", "", _plain(text[:width * 2]) + ("…" if len(text) > width * 2 else "")
    else:
        left = ("…" if start > width else "") + _plain(text[max(0, start - width):start])
        keyword = _plain(text[start:end])
        right = _plain(text[end:end + width]) + ("…" if len(text) > end + width else "")
    tags = case["tags"] or []
    names = "、".join(tag["name"] for tag in tags)
    if theme not in (None, UNCLASSIFIED):
        evidence = "・".join(word for tag in tags if tag["theme_id"] == theme for word in tag["evidence"] or ())
    else:
        evidence = " ／ ".join(f"{tag['name']}: {'・'.join(tag['evidence'] or ())}" for tag in tags)
    level = case["emotion_level"]
    return [case["received_at"], left, keyword, right, case["product"], case["channel"], names,
            None if level is None else int(level), evidence, case["case_id"]]


# ---------------------------------------------------------------------------------------------
# Unclassified cases and topic suggestions


UNCLASSIFIED_COLUMNS = ["受付日時", "本文", "商品", "チャネル", "感情レベル", "ケースID"]


def unclassified_cases(filters: flt.Filters, page: int = 1, page_size: int = 20,
                       store: Path | str | None = None) -> CasePage:
    """The filtered cases no theme catches, newest first, one page; `share` = 1 − coverage."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), MAX_PAGE_SIZE)
    with db.reader(store, wait_seconds=2.0) as con:
        total, chosen = _scope(con, filters, UNCLASSIFIED)
        rows = con.execute("""
            SELECT c.received_at AS 受付日時, c.text AS 本文, c.product AS 商品, c.channel AS チャネル,
                   sc.emotion_level AS 感情レベル, c.case_id AS ケースID
            FROM kk_scope s JOIN cases c USING (case_id) LEFT JOIN case_scores sc USING (case_id)
            WHERE s.chosen ORDER BY s.received_at DESC, s.case_id LIMIT ? OFFSET ?""",
                           [page_size, (page - 1) * page_size]).df()
    return CasePage(rows[UNCLASSIFIED_COLUMNS], chosen, total, page, page_size)


def topic_suggestions(filters: flt.Filters, seed: int = 0, k: int | None = None,
                      store: Path | str | None = None) -> pd.DataFrame:
    """Topics among the filtered unclassified cases (pipelines.analysis.topics.suggest_topics: seeded, stable).

    Columns: 番号, 件数, 特徴語 (、-joined; 届く(否定) = negated), ルール (ready to paste into a theme),
    例文 (the most typical case's text), 例のケースID. Empty when there are too few cases.
    """
    columns = ["番号", "件数", "特徴語", "ルール", "例文", "例のケースID"]
    with db.reader(store, wait_seconds=2.0) as con:
        _scope(con, filters, UNCLASSIFIED)
        case_ids = [r[0] for r in con.execute("SELECT case_id FROM kk_scope WHERE chosen ORDER BY case_id").fetchall()]
        if len(case_ids) < topics.MIN_CASES:
            return pd.DataFrame(columns=columns)
        found = topics.suggest_topics(con, case_ids, k=k, seed=seed)
        examples = [s.case_ids[0] for s in found if s.case_ids]
        texts = dict(con.execute("SELECT case_id, text FROM cases WHERE case_id IN (SELECT unnest(?::VARCHAR[]))",
                                 [examples]).fetchall()) if examples else {}
    rows = [(s.topic_no, s.size, "、".join(s.terms), s.rule, texts.get(s.case_ids[0], "") if s.case_ids else "",
             "、".join(s.case_ids[:5])) for s in found]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------
# The rule editor


@dataclass(frozen=True)
class ThemeDraft:
    """A theme as typed in the editor. `new`: it is being added, so its ID must not exist yet."""

    theme_id: str
    name: str
    color: str
    rule: str
    new: bool = False


def check_draft(draft: ThemeDraft, others: Iterable[tuple[str, str, str]]) -> th.Theme:
    """The draft as a checked Theme; RuleError (Japanese, with line and column in the rule text) when
    it cannot be used. `others`: (theme_id, name, color) of the themes in the file now."""
    existing = {theme_id: (name, color) for theme_id, name, color in others}
    theme_id, name = draft.theme_id.strip(), draft.name.strip()
    if draft.new and theme_id in existing:
        raise th.RuleError(f"テーマID [{theme_id}] はすでに「{existing[theme_id][0]}」で使われています。"
                           "新しいテーマには別のIDを付けてください (英小文字・数字・_)。",
                           f"Theme ID [{theme_id}] is already used by another theme.")
    if not draft.new and theme_id not in existing:
        raise th.RuleError(f"テーマ [{theme_id}] がテーマ辞書にありません (ほかの画面やファイルの編集で削除された"
                           "可能性があります)。ページを再読み込みしてから編集してください。",
                           f"Theme [{theme_id}] is not in the rules file.")
    theme = th.make_theme(theme_id, name, draft.color, draft.rule, origin="ルール")
    for other_id, (other_name, other_color) in existing.items():
        if other_id == theme_id:
            continue
        if other_name == theme.name:
            raise th.RuleError(f"テーマ名「{theme.name}」はすでに [{other_id}] で使われています。グラフで区別できるよう"
                               "別の名前にしてください。", f"Theme name '{theme.name}' is used by [{other_id}].")
        if other_color.upper() == theme.color:
            raise th.RuleError(f"色 {theme.color} は「{other_name}」[{other_id}] で使われています。グラフで区別できるよう"
                               "別の色にしてください。", f"Colour {theme.color} is used by [{other_id}].")
    return theme


def apply_draft(draft: ThemeDraft, rules: th.RuleSet) -> th.RuleSet:
    """`rules` with the draft in place (edited, renamed or added); RuleError when it cannot be used."""
    return rules.with_theme(check_draft(draft, theme_headers(rules)))


def theme_headers(rules: th.RuleSet) -> tuple[tuple[str, str, str], ...]:
    """(theme_id, name, color) of each theme: what a draft is checked against."""
    return tuple((t.theme_id, t.name, t.color) for t in rules.themes)


def save_draft(draft: ThemeDraft, path: str | Path | None = None, *, actor: access.Actor,
               store: str | Path | None = None) -> th.RuleSet:
    """Write the draft into the rules file (other themes, comments and order kept); RuleError when
    the draft or the file cannot be used, access.AccessDenied without the lead's role. Recorded in
    the audit trail of `store`. Re-tag afterwards (jobs.start_analyze)."""
    access.require(actor, access.EDIT_RULES)
    path = Path(path) if path else th.rules_path()
    rules = apply_draft(draft, th.load_rules(path))   # the file as it is now, not as the page read it
    th.save_rules(rules, path)
    audit.record(store, actor, audit.EDIT_RULES, f"{draft.theme_id} {draft.name}",
                 {"file": str(path), "new": draft.new, "rule": draft.rule})
    return rules


@dataclass(frozen=True)
class RulePreview:
    """What saving a draft would change, computed over every stored case from its stored terms.

    `error` (Japanese, with line/column) is set instead when the draft cannot be used.
    """

    draft: ThemeDraft
    error: str = ""
    error_line: int = 0
    error_column: int = 0
    cases: int = 0             # stored cases
    hits: int = 0              # cases the draft tags
    before: int = 0            # cases tagged with this theme now
    added: int = 0             # tagged by the draft, not now
    removed: int = 0           # tagged now, not by the draft
    covered_before: int = 0    # cases with at least one theme now
    covered_after: int = 0     # … once the draft is saved and the store re-tagged
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)          # hits, new ones first
    removed_examples: pd.DataFrame = field(default_factory=pd.DataFrame)  # cases the draft drops

    @property
    def coverage_before(self) -> float:
        return self.covered_before / self.cases if self.cases else 0.0

    @property
    def coverage_after(self) -> float:
        return self.covered_after / self.cases if self.cases else 0.0


def preview_rule(draft: ThemeDraft, others: tuple[tuple[str, str, str], ...], examples: int = 20,
                 store: Path | str | None = None) -> RulePreview:
    """Tag every stored case with the draft (from stored terms, no tokenizing) and compare with the
    stored tags: hits, cases added and removed, coverage before and after, example verbatims with
    their evidence. `others`: theme_headers() of the rules file as the editor read it."""
    try:
        theme = check_draft(draft, others)
    except th.RuleError as exc:
        return RulePreview(draft, error=exc.message_ja(), error_line=exc.line, error_column=exc.column)
    single = th.RuleSet((theme,))
    theme_id = theme.theme_id
    with db.reader(store, wait_seconds=2.0) as con:
        con.execute("SET enable_progress_bar = false")
        docs = candidate_docs(con, th.prefilter(single))
        found = [(doc.case_id, list(hit[0].evidence)) for doc in docs if (hit := single.tag(doc))]
        hits = pd.DataFrame({"case_id": pd.Series([c for c, _ in found], dtype="object"),
                             "evidence": pd.Series([e for _, e in found], dtype="object")})
        con.register("kk_hits_frame", hits)
        con.execute("CREATE OR REPLACE TEMP TABLE kk_hits AS SELECT case_id::VARCHAR AS case_id, "
                    "evidence::VARCHAR[] AS evidence FROM kk_hits_frame")
        con.unregister("kk_hits_frame")
        stats = con.execute("""
            WITH now AS (SELECT DISTINCT case_id FROM case_themes WHERE theme_id = ?)
            SELECT (SELECT count(*) FROM cases),
                   (SELECT count(*) FROM kk_hits),
                   (SELECT count(*) FROM now),
                   (SELECT count(*) FROM kk_hits h ANTI JOIN now USING (case_id)),
                   (SELECT count(*) FROM now ANTI JOIN kk_hits USING (case_id)),
                   (SELECT count(DISTINCT case_id) FROM case_themes),
                   (SELECT count(*) FROM (SELECT case_id FROM case_themes WHERE theme_id <> ?
                                          UNION SELECT case_id FROM kk_hits))""", [theme_id, theme_id]).fetchall()[0]
        sample = con.execute("""
            SELECT CASE WHEN now.case_id IS NULL THEN '新規' ELSE '継続' END AS 区分, c.received_at AS 受付日時,
                   c.text AS 本文, array_to_string(h.evidence, '・') AS 根拠語, c.case_id AS ケースID
            FROM kk_hits h JOIN cases c USING (case_id)
            LEFT JOIN (SELECT DISTINCT case_id FROM case_themes WHERE theme_id = ?) now USING (case_id)
            ORDER BY now.case_id IS NOT NULL, c.received_at DESC, c.case_id LIMIT ?""", [theme_id, examples]).df()
        dropped = con.execute("""
            SELECT c.received_at AS 受付日時, c.text AS 本文, array_to_string(ct.evidence, '・') AS これまでの根拠語,
                   c.case_id AS ケースID
            FROM case_themes ct JOIN cases c USING (case_id)
            WHERE ct.theme_id = ? AND ct.case_id NOT IN (SELECT case_id FROM kk_hits)
            ORDER BY c.received_at DESC, c.case_id LIMIT ?""", [theme_id, examples]).df()
    cases, hit_count, before, added, removed, covered_before, covered_after = (int(v) for v in stats)
    return RulePreview(draft, cases=cases, hits=hit_count, before=before, added=added, removed=removed,
                       covered_before=covered_before, covered_after=covered_after, examples=sample,
                       removed_examples=dropped)


def candidate_cases(con: duckdb.DuckDBPyConnection, prefilter: th.Prefilter) -> int:
    """TEMP TABLE kk_candidates(case_id): the cases `prefilter` admits (Prefilter.admits, in SQL:
    explore_candidates.sql finds the keys each case has, explore_admit.sql checks the lines);
    returns how many."""
    if prefilter.everything:
        con.execute("CREATE OR REPLACE TEMP TABLE kk_candidates AS SELECT case_id FROM cases")
    else:
        con.execute(db.sql("explore_candidates"), {
            "key_words": [k[0] for k in prefilter.keys], "key_nos": [k[1] for k in prefilter.keys],
            "key_needs": [k[2] for k in prefilter.keys],
            "pairs": [p[0] for p in prefilter.pairs], "pair_nos": [p[1] for p in prefilter.pairs],
            "literals": [lit[0] for lit in prefilter.literals], "literal_nos": [lit[1] for lit in prefilter.literals]})
        members = [(line_no, set_no, key) for line_no, line in enumerate(prefilter.lines)
                   for set_no, one_of in enumerate(line) for key in one_of]
        con.execute(db.sql("explore_admit"), {"line_nos": [m[0] for m in members], "set_nos": [m[1] for m in members],
                                              "key_nos": [m[2] for m in members]})
    return con.execute("SELECT count(*) FROM kk_candidates").fetchall()[0][0]


def candidate_docs(con: duckdb.DuckDBPyConnection, prefilter: th.Prefilter) -> list[CaseDoc]:
    """CaseDocs, from stored terms, of the cases `prefilter` lets through (see candidate_cases)."""
    candidate_cases(con, prefilter)
    con.execute(db.sql("explore_docs"))
    vocab = con.execute("SELECT idx, surface, lemma, pos, negated FROM kk_vocab ORDER BY term_no").fetchall()
    # fromiter, not a slice assignment: numpy would read a list of (NamedTuple) Terms as a 2-D array.
    objects = np.fromiter(map(Term._make, vocab), dtype=object, count=len(vocab))
    table = con.sql("SELECT k.case_id, c.text, d.term_nos FROM kk_candidates k JOIN cases c USING (case_id) "
                    "LEFT JOIN kk_doc_terms d USING (case_id) ORDER BY k.case_id").to_arrow_table()
    numbers = table.column("term_nos").combine_chunks()
    offsets = numbers.offsets.to_numpy()
    flat = objects[numbers.values.to_numpy(zero_copy_only=False).astype(np.int64)].tolist() if len(vocab) else []
    return [CaseDoc(case_id, text or "", tuple(flat[a:b])) for case_id, text, a, b in
            zip(table.column("case_id").to_pylist(), table.column("text").to_pylist(),
                offsets[:-1].tolist(), offsets[1:].tolist())]
