-- Daily case counts of each countermeasure target (a cause, a theme or a product), under the
-- shared filters. kk_subjects(dimension, key) is registered by pipelines/reports/recurrence.py.
-- Parameters: the filter condition's values, then the range [start, end).
WITH scoped AS (
    SELECT c.case_id, c.product, CAST(c.received_at AS DATE) AS day
    FROM cases c
    WHERE {where} AND c.received_at >= ? AND c.received_at < ?
),
tagged AS (
    SELECT 'cause' AS dimension, x.cause AS key, s.case_id, s.day
    FROM scoped s JOIN case_causes x USING (case_id)
    UNION ALL
    SELECT 'theme', t.theme_id, s.case_id, s.day
    FROM scoped s JOIN case_themes t USING (case_id)
    UNION ALL
    SELECT 'product', s.product, s.case_id, s.day
    FROM scoped s WHERE s.product IS NOT NULL
)
SELECT t.dimension, t.key, t.day, count(DISTINCT t.case_id) AS cases
FROM tagged t JOIN kk_subjects k ON k.dimension = t.dimension AND k.key = t.key
GROUP BY ALL
ORDER BY t.dimension, t.key, t.day
