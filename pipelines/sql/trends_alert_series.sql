-- Daily counts per theme, cause and product: the series the alert detector runs on.
-- /* where */ is the shared filter condition on `cases c` (pipelines.store.filters.where, values bound).
-- Parameters, in order: the filter values, the range [start, end], the theme filter list twice.
-- A case counts once per theme and once per cause it carries (the export's cause when present,
-- else the extracted ones: analyze.py stores exactly one of the two kinds per case).
WITH sel AS (
    SELECT c.case_id, c.product, CAST(c.received_at AS DATE) AS day
    FROM cases c
    WHERE /*where*/ AND c.received_at >= ? AND c.received_at <= ?
)
SELECT 'theme' AS dimension, ct.theme_id AS series_key, day, count(DISTINCT case_id) AS n
FROM sel JOIN case_themes ct USING (case_id)
WHERE len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], ct.theme_id)
GROUP BY ALL
UNION ALL
SELECT 'cause', cc.cause, day, count(DISTINCT case_id)
FROM sel JOIN case_causes cc USING (case_id)
GROUP BY ALL
UNION ALL
SELECT 'product', product, day, count(*)
FROM sel WHERE product IS NOT NULL AND product <> ''
GROUP BY ALL
