-- Per-theme precision from the desk's labels (pipelines/store/labels.py, theme_precision): of the
-- labelled cases a rule tags with a theme, how many the lead confirmed; the same for the inferred
-- (推定) themes; and the labelled themes no rule tagged. Cases no longer in the store are left out.
WITH labelled AS (
    SELECT l.case_id, l.themes FROM case_labels l JOIN cases c USING (case_id)
),
rule_tags AS (
    SELECT ct.theme_id, count(*) AS tagged,
           count(*) FILTER (WHERE list_contains(l.themes, ct.theme_id)) AS correct
    FROM labelled l JOIN case_themes ct USING (case_id) GROUP BY ct.theme_id
),
inferred AS (
    SELECT it.theme_id, count(*) AS tagged,
           count(*) FILTER (WHERE list_contains(l.themes, it.theme_id)) AS correct
    FROM labelled l JOIN case_inferred_themes it USING (case_id) GROUP BY it.theme_id
),
missed AS (
    SELECT u.theme_id, count(*) AS missed
    FROM (SELECT case_id, unnest(themes) AS theme_id FROM labelled) u
    WHERE NOT EXISTS (SELECT 1 FROM case_themes ct WHERE ct.case_id = u.case_id AND ct.theme_id = u.theme_id)
    GROUP BY u.theme_id
)
SELECT t.theme_id, coalesce(th.name, t.theme_id) AS テーマ,
       coalesce(r.tagged, 0) AS ルールで付与, coalesce(r.correct, 0) AS うち正しい,
       coalesce(i.tagged, 0) AS 推定で付与, coalesce(i.correct, 0) AS 推定のうち正しい,
       coalesce(m.missed, 0) AS ラベルのみ
FROM (SELECT theme_id FROM rule_tags UNION SELECT theme_id FROM inferred UNION SELECT theme_id FROM missed) t
LEFT JOIN themes th USING (theme_id)
LEFT JOIN rule_tags r USING (theme_id)
LEFT JOIN inferred i USING (theme_id)
LEFT JOIN missed m USING (theme_id)
ORDER BY th.position NULLS LAST, t.theme_id
