-- Term sets of the cases in scope, for near-duplicate detection (the termsets placeholder: the summary
-- sum_termsets for the period, or summaries/termsets.sql over the scope; see there what a term is).
-- A placeholder ID (0000, 不明, guest, …) or a customer key shared by very many cases (a company
-- account, an unlisted placeholder) is not one person: such cases count as from an unknown sender.
-- Parameters: the filter condition's values, the most contacts one real customer can have, then
-- the parameters of the termsets query.
CREATE OR REPLACE TEMP TABLE kk_dup_docs AS
WITH scoped AS (
    SELECT c.case_id, nullif(trim(c.customer_key), '') AS customer_key, coalesce(trim(c.product), '') AS product,
           c.received_at
    FROM cases c
    WHERE {where}
),
placeholders AS (
    SELECT customer_key FROM scoped WHERE customer_key IS NOT NULL GROUP BY 1
    HAVING count(*) > ? OR regexp_matches(lower(customer_key), '^(0+|-+|不明|なし|無し|未登録|未入力|該当なし|ゲスト|guest|unknown|anonymous|n/?a|none|null)$')
)
SELECT s.case_id,
       CASE WHEN s.customer_key IN (SELECT customer_key FROM placeholders) THEN NULL
            ELSE s.customer_key END AS customer_key,
       s.product, s.received_at, t.terms
FROM scoped s JOIN ({termsets}) t USING (case_id)
