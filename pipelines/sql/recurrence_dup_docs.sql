-- Term sets of the cases in scope, for near-duplicate detection: content-word lemmas (a negated
-- one marked with ¬, so 届く and 届かない differ), without numbers and masked personal data.
-- A placeholder ID (0000, 不明, guest, …) or a customer key shared by very many cases (a company
-- account, an unlisted placeholder) is not one person: such cases count as from an unknown sender.
-- Parameters: the filter condition's values, then the most contacts one real customer can have.
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
       s.product, s.received_at,
       list(DISTINCT t.lemma || CASE WHEN t.negated THEN '¬' ELSE '' END) AS terms
FROM scoped s JOIN case_terms t USING (case_id)
WHERE regexp_matches(t.pos, '^(名詞|動詞|形容詞|形状詞|副詞)')
  AND NOT starts_with(t.pos, '名詞-数詞') AND NOT starts_with(t.pos, '名詞-マスク')
GROUP BY ALL
