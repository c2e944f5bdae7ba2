-- Terms of the cases behind each alert: the recent stretch [recent_from, recent_to] and the
-- baseline [base_from, recent_from) of the alerted series, for "the words that rose with it".
-- /* where */ is the shared filter condition on `cases c`. Parameters, in order: the alert
-- numbers, dimensions, keys, base_from, recent_from and recent_to (parallel lists), the filter
-- values, the earliest and latest day, the theme filter list twice, the cap on cases per side,
-- the POS pattern.
WITH spec AS (
    SELECT unnest(?::INTEGER[]) AS alert_no, unnest(?::VARCHAR[]) AS dimension, unnest(?::VARCHAR[]) AS series_key,
           unnest(?::DATE[]) AS base_from, unnest(?::DATE[]) AS recent_from, unnest(?::DATE[]) AS recent_to
),
sel AS (
    SELECT c.case_id, c.product, CAST(c.received_at AS DATE) AS day
    FROM cases c
    WHERE /*where*/ AND CAST(c.received_at AS DATE) BETWEEN ? AND ?
),
members AS (
    SELECT 'theme' AS dimension, ct.theme_id AS series_key, case_id, day FROM sel JOIN case_themes ct USING (case_id)
    WHERE len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], ct.theme_id)
    UNION
    SELECT 'cause', cc.cause, case_id, day FROM sel JOIN case_causes cc USING (case_id)
    UNION
    SELECT 'product', product, case_id, day FROM sel
),
matched AS (
    SELECT DISTINCT s.alert_no, m.case_id, m.day, m.day >= s.recent_from AS recent
    FROM spec s JOIN members m ON m.dimension = s.dimension AND m.series_key = s.series_key
         AND m.day >= s.base_from AND m.day <= s.recent_to
),
-- At most ? cases per side of an alert, the latest first: shares are stable well before that,
-- and the words of a busy series stay cheap to compute.
chosen AS (
    SELECT alert_no, case_id, recent FROM matched
    QUALIFY row_number() OVER (PARTITION BY alert_no, recent ORDER BY day DESC, case_id) <= ?
),
-- The chosen cases' terms first, the POS pattern after: a filter on case_terms itself would run the
-- pattern over every stored term of the store (30M at a million cases) before the join.
joined AS MATERIALIZED (
    SELECT ch.alert_no, ch.case_id, ch.recent, t.idx, t.surface, t.lemma, t.pos, t.negated
    FROM chosen ch JOIN case_terms t USING (case_id)
)
SELECT alert_no, case_id, recent,
       list(struct_pack(idx := idx, surface := coalesce(surface, ''),
                        lemma := coalesce(nullif(lemma, ''), surface, ''), pos := coalesce(pos, ''),
                        negated := coalesce(negated, false)) ORDER BY idx) AS terms
FROM joined
WHERE regexp_matches(pos, ?)
GROUP BY alert_no, case_id, recent
