-- Per theme, cause and product: cases in the current and previous period (kk_period, built by
-- summary._load_period), how many of them are severe / from a returning customer / dissatisfied,
-- and the product most of the current cases are about. One case counts once per item.
-- Causes are the effective ones (kk_causes, see summary.EFFECTIVE_CAUSES_VIEW).
WITH causes AS (
    SELECT k.case_id, k.cause FROM kk_causes k SEMI JOIN kk_period p ON p.case_id = k.case_id
),
items AS (
    SELECT DISTINCT 'theme' AS dimension, ct.theme_id AS key, ct.case_id
    FROM case_themes ct SEMI JOIN kk_period p ON p.case_id = ct.case_id
    UNION ALL
    SELECT DISTINCT 'cause', cause, case_id FROM causes
    UNION ALL
    SELECT 'product', product, case_id FROM kk_period WHERE nullif(trim(product), '') IS NOT NULL
),
counts AS (
    SELECT i.dimension, i.key,
           count(*) FILTER (WHERE p.current)                AS cases,
           count(*) FILTER (WHERE NOT p.current)            AS previous,
           count(*) FILTER (WHERE p.current AND p.severe)   AS severe,
           count(*) FILTER (WHERE p.current AND p.repeat)   AS repeat_contacts,
           count(*) FILTER (WHERE p.current AND p.concern)  AS concern
    FROM items i JOIN kk_period p USING (case_id)
    GROUP BY ALL
),
by_product AS (
    SELECT i.dimension, i.key, p.product, count(*) AS n
    FROM items i JOIN kk_period p USING (case_id)
    WHERE p.current AND i.dimension <> 'product' AND nullif(trim(p.product), '') IS NOT NULL
    GROUP BY ALL
),
top_product AS (
    SELECT dimension, key, arg_max(product, n) AS top_product, max(n) AS top_product_cases
    FROM by_product GROUP BY ALL
)
SELECT c.dimension, c.key,
       CASE WHEN c.dimension = 'theme' THEN coalesce(t.name, c.key) ELSE c.key END AS name,
       c.cases, c.previous, c.severe, c.repeat_contacts, c.concern,
       tp.top_product, coalesce(tp.top_product_cases, 0) AS top_product_cases
FROM counts c
LEFT JOIN themes t ON c.dimension = 'theme' AND t.theme_id = c.key
LEFT JOIN top_product tp ON tp.dimension = c.dimension AND tp.key = c.key
ORDER BY c.dimension, c.cases DESC, c.key
