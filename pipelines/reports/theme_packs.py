"""テーマ探索's 業種パック・精度 tab: the store's industry pack and a guess from its own words, and per
theme the rule tags, the inferred (推定) tags and the rule tags' precision against a lead's labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.rules import themes as th
from pipelines.rules.themes.packs import PACK_META_KEY
from pipelines.store import db, labels

GUESS_SAMPLE = 20_000   # cases looked at to guess the pack (a seeded sample above that)
GUESS_MIN_SHARE = 0.05  # below this share of cases no pack is guessed


@dataclass(frozen=True)
class PackStatus:
    """`chosen`: the store's pack ID, "" for the default taxonomy alone, None when nobody chose yet;
    `guess`: the pack whose own vocabulary the most cases use (None when none reaches GUESS_MIN_SHARE);
    `packs`: pack_id, パック, 説明, 加わるテーマ, 一致するケース, 割合 (of the cases looked at)."""

    chosen: str | None
    guess: str | None
    packs: pd.DataFrame
    cases: int


def pack_words(pack: th.Pack) -> list[str]:
    """The words of the sub-themes a pack adds (what sets its desks apart), as the matcher looks them up."""
    rules = th.rules_with_pack(pack.pack_id)
    added = th.RuleSet(tuple(rules.theme(theme_id) for theme_id, _, _ in pack.adds))
    return sorted({spelling for spelling, _, _ in th.prefilter(added).keys})


def pack_status(store: Path | str | None = None) -> PackStatus:
    """The chosen pack, and how many stored cases use each pack's own words (the guess)."""
    packs = th.available_packs()
    words = pd.DataFrame([(p.pack_id, w) for p in packs for w in pack_words(p)], columns=["pack_id", "word"])
    with db.reader(store, wait_seconds=2.0) as con:
        chosen = next((v for (v,) in con.execute("SELECT value FROM store_meta WHERE key = ?",
                                                [PACK_META_KEY]).fetchall()), None)
        con.register("kk_pack_words", words)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE kk_guess_cases AS
                        SELECT case_id FROM cases USING SAMPLE {GUESS_SAMPLE} ROWS (reservoir, 7)""")
        cases = con.execute("SELECT count(*) FROM kk_guess_cases").fetchone()[0]
        matched = dict(con.execute("""
            SELECT pack_id, count(DISTINCT case_id) FROM (
                SELECT w.pack_id, t.case_id FROM case_terms t SEMI JOIN kk_guess_cases USING (case_id)
                JOIN kk_pack_words w ON w.word = t.lemma
                UNION ALL
                SELECT w.pack_id, t.case_id FROM case_terms t SEMI JOIN kk_guess_cases USING (case_id)
                JOIN kk_pack_words w ON w.word = t.surface)
            GROUP BY 1""").fetchall())
        con.unregister("kk_pack_words")
    frame = pd.DataFrame({
        "pack_id": [p.pack_id for p in packs], "パック": [p.name for p in packs], "説明": [p.description for p in packs],
        "加わるテーマ": ["・".join(name for _, name, _ in p.adds) for p in packs],
        "一致するケース": [int(matched.get(p.pack_id, 0)) for p in packs]})
    frame["割合"] = frame["一致するケース"] / cases if cases else 0.0
    best = frame.sort_values(["一致するケース", "pack_id"], ascending=[False, True]).head(1)
    guess = best["pack_id"].iloc[0] if cases and not best.empty and best["割合"].iloc[0] >= GUESS_MIN_SHARE else None
    return PackStatus(chosen, guess, frame, cases)


def theme_quality(store: Path | str | None = None) -> pd.DataFrame:
    """Per theme of the store (all periods): ルールのタグ (cases the rules tag), 推定のみ (cases only the
    inferred layer tags), and from the desk's case labels (store.labels.theme_precision) ラベル付き
    (rule-tagged cases a lead labelled), うち正しい and 精度 (NaN without labels)."""
    with db.reader(store, wait_seconds=2.0) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        inferred = ("(SELECT theme_id, count(DISTINCT case_id) AS n FROM case_inferred_themes i WHERE NOT EXISTS "
                    "(SELECT 1 FROM case_themes c WHERE c.case_id = i.case_id AND c.theme_id = i.theme_id) GROUP BY 1)"
                    if "case_inferred_themes" in present else "(SELECT NULL::VARCHAR AS theme_id, 0 AS n)")
        frame = con.execute(f"""
            SELECT th.theme_id, th.name AS テーマ, coalesce(r.n, 0) AS ルールのタグ, coalesce(i.n, 0) AS 推定のみ
            FROM themes th
            LEFT JOIN (SELECT theme_id, count(DISTINCT case_id) AS n FROM case_themes GROUP BY 1) r USING (theme_id)
            LEFT JOIN {inferred} i USING (theme_id)
            ORDER BY th.position, th.theme_id""").df()
    judged = labels.theme_precision(store) if "case_labels" in present else pd.DataFrame(
        columns=["theme_id", "ルールで付与", "うち正しい", "適合率"])
    judged = judged[["theme_id", "ルールで付与", "うち正しい", "適合率"]].rename(
        columns={"ルールで付与": "ラベル付き", "適合率": "精度"})
    frame = frame.merge(judged, on="theme_id", how="left")
    for column in ("ラベル付き", "うち正しい"):
        frame[column] = frame[column].fillna(0).astype("int64")
    frame["精度"] = frame["精度"].astype("float64")
    return frame
