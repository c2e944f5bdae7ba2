-- Repeat-contact chains as of $now, read from the summary sum_chains (summaries.py keeps it; the
-- same chains insight_repeats.sql finds by scanning, used on a store without summaries). A chain's
-- contacts up to $now are themselves a chain (later contacts never join earlier ones), so the
-- members received by $now are what was known then. It counts when it has at least $min_contacts
-- of them and the latest falls in ($since, $now]; each customer is represented by their longest.
-- /*where*/ is the filters' condition on the member's case_id (alias m).
WITH members AS (
    SELECT m.* FROM sum_chains m WHERE m.received_at <= $now AND /*where*/
),
chain_stats AS (
    SELECT customer_key, dimension, key, chain, count(DISTINCT case_id) AS contacts,
           count(DISTINCT case_id) FILTER (WHERE received_at > $since) AS in_window,
           min(received_at) AS first_at, max(received_at) AS last_at, list(DISTINCT case_id) AS case_ids
    FROM members
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
