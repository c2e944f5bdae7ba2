-- Repeat-contact chains as of $now: one customer contacting again and again about one cause (or
-- theme). A chain is a run of one customer's contacts on one subject, each within $window_days of
-- the previous one (definitions.REPEAT_WINDOW_DAYS); it counts when its latest contact falls in
-- ($since, $now] and it has at least $min_contacts contacts, however long ago it began. Each
-- customer is represented by their longest chain. Customers are the export's customer ID
-- (cases.customer_key); placeholders (0000, 不明, guest …) are not a person.
-- The shared filters' condition (without the period) replaces /*where*/; its values come first.
WITH scoped AS (
    SELECT c.case_id, c.customer_key, c.received_at
    FROM cases c
    WHERE /*where*/ AND c.received_at <= $now AND c.customer_key IS NOT NULL AND trim(c.customer_key) <> ''
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
                       > to_days(CAST($window_days AS INTEGER)) THEN 1 ELSE 0 END AS starts_chain
    FROM subjects
),
chains AS (
    SELECT *, sum(starts_chain) OVER (PARTITION BY customer_key, dimension, key ORDER BY received_at, case_id
                                      ROWS UNBOUNDED PRECEDING) AS chain
    FROM gaps
),
chain_stats AS (
    SELECT customer_key, dimension, key, chain, count(DISTINCT case_id) AS contacts,
           count(DISTINCT case_id) FILTER (WHERE received_at > $since) AS in_window,
           min(received_at) AS first_at, max(received_at) AS last_at, list(DISTINCT case_id) AS case_ids
    FROM chains
    GROUP BY ALL
    HAVING count(DISTINCT case_id) >= $min_contacts AND max(received_at) > $since
),
best AS (
    SELECT *, row_number() OVER (PARTITION BY customer_key
                                 ORDER BY contacts DESC, dimension = 'cause' DESC, last_at - first_at, key) AS nth
    FROM chain_stats
)
SELECT b.customer_key, b.dimension, b.key,
       CASE WHEN b.dimension = 'theme' THEN coalesce(t.name, b.key) ELSE b.key END AS name,
       b.contacts, b.in_window, b.first_at, b.last_at, b.case_ids,
       (SELECT max(sc.emotion_level) FROM case_scores sc WHERE list_contains(b.case_ids, sc.case_id)) AS max_level
FROM best b LEFT JOIN themes t ON b.dimension = 'theme' AND t.theme_id = b.key
WHERE b.nth = 1
ORDER BY b.contacts DESC, b.last_at - b.first_at, b.customer_key
