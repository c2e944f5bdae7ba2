-- The prefix of each term set for the near-duplicate join of unknown senders: its terms ranked
-- rarest first (by document frequency in scope), kept up to n - ceil(t·n) + 1 where t is the
-- Jaccard threshold. Two sets with Jaccard ≥ t always share a term of their prefixes.
-- Parameter: the anonymous similarity threshold t.
CREATE OR REPLACE TEMP TABLE kk_dup_tokens AS
WITH u AS (
    SELECT case_id, customer_key, product, received_at, unnest(terms) AS term, len(terms) AS n FROM kk_dup_docs
),
df AS (SELECT term, count(*) AS df FROM u GROUP BY term),
ranked AS (
    SELECT u.*, row_number() OVER (PARTITION BY u.case_id ORDER BY df.df, u.term) AS pos
    FROM u JOIN df USING (term)
)
SELECT case_id, customer_key, product, received_at, term, n FROM ranked
WHERE pos <= n - ceil(CAST(? AS DOUBLE) * n - 1e-9) + 1
