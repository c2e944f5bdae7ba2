"""Inferred (推定) themes as the themes page and the case view show them: apart from the rule tags,
with the classifier's confidence and the words that drove each proposal (pipelines.analysis.infer),
and accepting a proposal's words into the theme's rule.

Inferred themes exist only for cases no rule tags, so the sidebar's theme filter (which selects by
rule tags) is not applied here; the period, product, channel and department filters are. A case a
load has since tagged by rule (the next analyze drops its proposal) is left out already.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from pipelines.analysis import infer
from pipelines.store import access, audit, db
from pipelines.store import filters as flt


def _scope(con, filters: flt.Filters) -> None:
    where, params = flt.where(dataclasses.replace(filters, themes=()), "c", con=con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE kk_inferred_scope AS SELECT case_id FROM cases c WHERE {where}", params)


def inferred_summary(filters: flt.Filters, words: int = 6, store: Path | str | None = None) -> pd.DataFrame:
    """Per theme, the cases under the filters that carry it only as an inferred theme.

    Columns: theme_id, テーマ, 推定件数, 平均確信度 (0..1), 主な根拠語 (the driving words most often
    named, joined by ・). Themes with no inferred case are left out; rules-file order.
    """
    with db.reader(store, wait_seconds=2.0) as con:
        _scope(con, filters)
        frame = con.execute("""
            WITH inferred AS (SELECT it.* FROM case_inferred_themes it SEMI JOIN kk_inferred_scope USING (case_id)
                              ANTI JOIN case_themes USING (case_id)),
            counted AS (SELECT theme_id, count(*) AS n, avg(confidence) AS confidence FROM inferred GROUP BY 1),
            word_counts AS (SELECT theme_id, word, count(*) AS uses
                            FROM (SELECT theme_id, unnest(words) AS word FROM inferred) GROUP BY ALL),
            top_words AS (SELECT theme_id, string_agg(word, '・' ORDER BY uses DESC, word) AS words
                          FROM (SELECT *, row_number() OVER (PARTITION BY theme_id ORDER BY uses DESC, word) AS r
                                FROM word_counts) WHERE r <= ? GROUP BY 1)
            SELECT c.theme_id, coalesce(th.name, c.theme_id) AS テーマ, c.n AS 推定件数,
                   c.confidence AS 平均確信度, coalesce(w.words, '') AS 主な根拠語
            FROM counted c LEFT JOIN themes th USING (theme_id) LEFT JOIN top_words w USING (theme_id)
            ORDER BY th.position NULLS LAST, c.theme_id""", [words]).df()
    frame["推定件数"] = frame["推定件数"].astype("int64")
    return frame


def inferred_cases(filters: flt.Filters, theme_id: str, limit: int = 20, store: Path | str | None = None) -> pd.DataFrame:
    """Example cases inferred as `theme_id`, most confident first.

    Columns: ケース番号, 受付日時, 確信度, 根拠の語 (・-joined), 本文 (masked).
    """
    with db.reader(store, wait_seconds=2.0) as con:
        _scope(con, filters)
        return con.execute("""
            SELECT c.case_id AS ケース番号, c.received_at AS 受付日時, it.confidence AS 確信度,
                   array_to_string(it.words, '・') AS 根拠の語, c.text AS 本文
            FROM case_inferred_themes it JOIN cases c USING (case_id) SEMI JOIN kk_inferred_scope USING (case_id)
            ANTI JOIN case_themes USING (case_id)
            WHERE it.theme_id = ? ORDER BY it.confidence DESC, c.case_id LIMIT ?""", [theme_id, limit]).df()


def case_inferred(case_id: str, store: Path | str | None = None) -> pd.DataFrame:
    """The inferred themes of one case (none when a rule tags it).

    Columns: theme_id, テーマ, 確信度, 根拠の語 (・-joined).
    """
    with db.reader(store, wait_seconds=2.0) as con:
        return con.execute("""
            SELECT it.theme_id, coalesce(th.name, it.theme_id) AS テーマ, it.confidence AS 確信度,
                   array_to_string(it.words, '・') AS 根拠の語
            FROM case_inferred_themes it LEFT JOIN themes th USING (theme_id)
            WHERE it.case_id = ? AND NOT EXISTS (SELECT 1 FROM case_themes ct WHERE ct.case_id = it.case_id)
            ORDER BY it.confidence DESC""", [case_id]).df()


def accept_inferred(theme_id: str, words: list[str] | tuple[str, ...], *, actor: access.Actor,
                    store: Path | str | None = None, path: str | Path | None = None) -> str:
    """Accept an inferred theme's words into the theme's rule in one step: the words become a new line
    of the rule (infer.accept_words) and the edit goes into the audit trail; returns the theme id.
    access.AccessDenied without the lead's role, RuleError when the theme or the words cannot be used.
    The re-tagging that applies it runs as a job: jobs.runner.accept_inferred does both."""
    access.require(actor, access.EDIT_RULES)
    rules = infer.accept_words(theme_id, list(words), note=actor.user_id, path=path)
    theme = next(t for t in rules.themes if t.theme_id == theme_id)
    audit.record(store, actor, audit.EDIT_RULES, f"{theme_id} {theme.name}",
                 {"inferred_words": list(words), "file": str(path or "")})
    return theme_id
