-- Customers who contacted the desk again and again about the same cause or theme.
-- A chain is a run of one customer's contacts on one cause (or theme) where each contact comes
-- within `window` days of the previous one; each customer is represented by their longest chain.
-- A chain counts when one of its contacts falls in the period; it is followed back as far as it
-- goes, so its contacts before the period count too.
-- Parameters: the filter condition's values (without the period), the period end, window days,
-- minimum contacts, the period start, limit.
-- Placeholder IDs that exports use for "no customer" (0000, 不明, guest, …) are not a person.
WITH scoped AS (
    SELECT c.case_id, c.customer_key, c.received_at
    FROM cases c
    WHERE {where} AND c.received_at < ? AND c.customer_key IS NOT NULL AND trim(c.customer_key) <> ''
      AND NOT regexp_matches(lower(trim(c.customer_key)), '^(0+|-+|不明|なし|無し|未登録|未入力|該当なし|ゲスト|guest|unknown|anonymous|n/?a|none|null)$')
),
subjects AS (
    SELECT s.*, 'cause' AS dimension, x.cause AS key FROM scoped s JOIN case_causes x USING (case_id)
    UNION ALL
    SELECT s.*, 'theme', t.theme_id FROM scoped s JOIN case_themes t USING (case_id)
),
gaps AS (
    SELECT *, CASE WHEN received_at - lag(received_at) OVER (
                       PARTITION BY customer_key, dimension, key ORDER BY received_at, case_id)
                       > to_days(CAST(? AS INTEGER)) THEN 1 ELSE 0 END AS starts_chain
    FROM subjects
),
chains AS (
    SELECT *, sum(starts_chain) OVER (PARTITION BY customer_key, dimension, key ORDER BY received_at, case_id
                                      ROWS UNBOUNDED PRECEDING) AS chain
    FROM gaps
),
chain_stats AS (
    SELECT customer_key, dimension, key, chain, count(DISTINCT case_id) AS contacts,
           min(received_at) AS first_at, max(received_at) AS last_at, list(case_id ORDER BY received_at) AS case_ids
    FROM chains
    GROUP BY ALL
    HAVING count(DISTINCT case_id) >= ? AND max(received_at) >= ?
),
best AS (
    SELECT *, row_number() OVER (PARTITION BY customer_key
                                 ORDER BY contacts DESC, dimension = 'cause' DESC, last_at - first_at, key) AS nth
    FROM chain_stats
),
chosen AS (SELECT *, last_at - first_at AS span FROM best WHERE nth = 1),
member_ids AS (SELECT customer_key, unnest(case_ids) AS case_id FROM chosen),
members AS (
    SELECT i.customer_key, c.case_id, c.received_at, c.channel, c.product, c.status, sc.emotion_level
    FROM member_ids i JOIN cases c USING (case_id)
    LEFT JOIN case_scores sc USING (case_id)
)
SELECT b.customer_key, b.dimension, b.key, b.contacts, b.first_at, b.last_at, b.case_ids, b.span,
       max(m.emotion_level) AS max_emotion,
       list(DISTINCT m.channel ORDER BY m.channel) FILTER (WHERE m.channel IS NOT NULL) AS channels,
       list(DISTINCT m.product ORDER BY m.product) FILTER (WHERE m.product IS NOT NULL) AS products,
       arg_max(m.status, m.received_at) AS last_status
FROM chosen b JOIN members m USING (customer_key)
GROUP BY ALL
ORDER BY contacts DESC, span, max_emotion DESC NULLS LAST, last_at DESC, customer_key
LIMIT ?
