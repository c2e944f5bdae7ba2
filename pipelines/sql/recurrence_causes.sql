-- Monthly case counts per cause, for ranking causes by how persistently they recur.
-- A case's cause is its case_causes row (the export's own cause column when it had one, which
-- replaces the extracted causes at analysis). With the theme fallback, a case without any cause
-- counts under its themes instead.
-- Parameters: the filter condition's values, then theme_fallback (BOOLEAN).
WITH scoped AS (
    SELECT c.case_id, date_trunc('month', c.received_at) AS month
    FROM cases c
    WHERE {where}
),
subjects AS (
    SELECT 'cause' AS dimension, x.cause AS key, s.case_id, s.month
    FROM scoped s JOIN case_causes x USING (case_id)
    UNION ALL
    SELECT 'theme', t.theme_id, s.case_id, s.month
    FROM scoped s JOIN case_themes t USING (case_id)
    WHERE ? AND NOT EXISTS (SELECT 1 FROM case_causes x WHERE x.case_id = s.case_id)
)
SELECT dimension, key, CAST(month AS DATE) AS month, count(DISTINCT case_id) AS cases
FROM subjects
GROUP BY ALL
ORDER BY dimension, key, month
