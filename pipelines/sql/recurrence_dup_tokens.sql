-- Each term set's terms ranked rarest first (by document frequency in scope): the prefix
-- filter of the near-duplicate join reads only the first few of each set.
CREATE OR REPLACE TEMP TABLE kk_dup_tokens AS
WITH u AS (
    SELECT case_id, customer_key, product, received_at, unnest(terms) AS term, len(terms) AS n FROM kk_dup_docs
),
df AS (SELECT term, count(*) AS df FROM u GROUP BY term)
SELECT u.*, row_number() OVER (PARTITION BY u.case_id ORDER BY df.df, u.term) AS pos
FROM u JOIN df USING (term)
