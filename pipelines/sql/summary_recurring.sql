-- Recurring cases of kk_period (built by summary._load_period): a case whose cause — or, for a
-- case without any cause, one of its themes — was already seen in an earlier calendar month
-- anywhere in the store. Causes are the effective ones (kk_causes, see summary.EFFECTIVE_CAUSES_VIEW).
CREATE OR REPLACE TEMP TABLE kk_recurring AS
WITH causes AS (
    SELECT case_id, 'cause:' || cause AS key FROM kk_causes
),
keys AS (
    SELECT case_id, key FROM causes
    UNION ALL
    SELECT ct.case_id, 'theme:' || ct.theme_id
    FROM case_themes ct ANTI JOIN causes k ON k.case_id = ct.case_id
),
first_seen AS (
    SELECT k.key, min(date_trunc('month', c.received_at)) AS first_month
    FROM keys k JOIN cases c USING (case_id)
    GROUP BY k.key
)
SELECT DISTINCT p.case_id
FROM kk_period p JOIN keys k USING (case_id) JOIN first_seen f USING (key)
WHERE f.first_month < date_trunc('month', p.received_at)
