-- Near-duplicate pairs, verified. Two kinds:
--   customer:  the same customer within `window` days, about the same product (or one without a
--              product), and the overlap coefficient (shared terms / the smaller set) at least
--              `similarity` — a follow-up that adds context still matches;
--   anonymous: at least one sender unknown, the same product within `anonymous window` days, and
--              Jaccard at least `anonymous similarity` — stricter, since two people can write alike.
-- The anonymous join uses prefix filtering: kk_dup_tokens holds only the first n - ceil(t·n) + 1
-- terms of each set (rarest first), and two sets with Jaccard ≥ t share one of those.
-- Parameters: window, anonymous window, anonymous similarity, minimum shared terms, similarity,
-- anonymous similarity.
WITH same_customer AS (
    SELECT a.case_id AS a_id, b.case_id AS b_id, 'customer' AS kind
    FROM kk_dup_docs a JOIN kk_dup_docs b ON a.customer_key = b.customer_key AND a.case_id < b.case_id
    WHERE (a.product = b.product OR a.product = '' OR b.product = '')
      AND abs(epoch(b.received_at) - epoch(a.received_at)) <= CAST(? AS DOUBLE) * 86400
),
anonymous AS (
    SELECT DISTINCT a.case_id AS a_id, b.case_id AS b_id, 'anonymous' AS kind
    FROM kk_dup_tokens a JOIN kk_dup_tokens b ON a.product = b.product AND a.term = b.term AND a.case_id < b.case_id
    WHERE (a.customer_key IS NULL OR b.customer_key IS NULL)
      AND abs(epoch(b.received_at) - epoch(a.received_at)) <= CAST(? AS DOUBLE) * 86400
      AND least(a.n, b.n) >= CAST(? AS DOUBLE) * greatest(a.n, b.n) - 1e-9   -- Jaccard ≤ smaller / larger
),
scored AS (
    SELECT p.a_id, p.b_id, p.kind, len(list_intersect(a.terms, b.terms)) AS shared,
           len(a.terms) AS a_terms, len(b.terms) AS b_terms
    FROM (SELECT * FROM same_customer UNION ALL SELECT * FROM anonymous) p
    JOIN kk_dup_docs a ON a.case_id = p.a_id
    JOIN kk_dup_docs b ON b.case_id = p.b_id
),
measured AS (
    SELECT *, CASE kind WHEN 'customer' THEN shared / least(a_terms, b_terms)
                        ELSE shared / (a_terms + b_terms - shared) END AS similarity
    FROM scored
    WHERE shared >= ?
)
SELECT a_id, b_id, kind, shared, similarity
FROM measured
WHERE similarity >= CASE kind WHEN 'customer' THEN CAST(? AS DOUBLE) ELSE CAST(? AS DOUBLE) END
ORDER BY a_id, b_id
