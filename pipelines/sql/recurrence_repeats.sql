-- Customers who contacted the desk again and again about the same cause or theme.
-- The members placeholder is a query of chain members (customer_key, dimension, key, chain, case_id, received_at):
-- the summary sum_chains, or summaries/chains.sql over the filtered cases. A chain is a run of one
-- customer's contacts on one cause (or theme) where each contact comes within the window of the
-- previous one; each customer is represented by their longest chain. A chain counts when one of its
-- contacts falls in the period; it is followed back as far as it goes, so its contacts before the
-- period count too. Contacts after the period are not seen yet: a chain cut at the period end is the
-- start of the same chain, so the members of the whole history serve any period.
-- Parameters: $end (period end), $min_contacts, $start (period start), $limit.
WITH chain_stats AS (
    SELECT customer_key, dimension, key, chain, count(DISTINCT case_id) AS contacts,
           min(received_at) AS first_at, max(received_at) AS last_at, list(case_id ORDER BY received_at) AS case_ids
    FROM ({members}) m
    WHERE received_at < $end
    GROUP BY ALL
    HAVING count(DISTINCT case_id) >= $min_contacts AND max(received_at) >= $start
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
LIMIT $limit
