-- Recurring cases of kk_period (built by summary._load_period), the one definition of 再発件数:
-- a case whose cause — or, for a case without any cause, one of its themes — is on 再発's list of
-- recurring causes for its period ($current_keys / $previous_keys, 'cause:<cause>' or
-- 'theme:<theme_id>', chosen by summary.recurring_list), or whose cause, theme or product came back
-- after its countermeasure and was received since the return began ($return_keys with
-- $return_since, the return-after-countermeasure detector's; the previous period's likewise).
-- Causes are the effective ones (kk_causes, see definitions.EFFECTIVE_CAUSES_VIEW).
CREATE OR REPLACE TEMP TABLE kk_recurring AS
WITH causes AS (   -- of the period's cases only: the store's other cases are never looked at
    SELECT k.case_id, 'cause:' || k.cause AS key FROM kk_causes k SEMI JOIN kk_period p ON p.case_id = k.case_id
),
themes AS (
    SELECT ct.case_id, ct.theme_id FROM case_themes ct SEMI JOIN kk_period p ON p.case_id = ct.case_id
),
keys AS (
    SELECT case_id, key FROM causes
    UNION ALL
    SELECT t.case_id, 'theme:' || t.theme_id
    FROM themes t ANTI JOIN causes k ON k.case_id = t.case_id
),
listed AS (
    SELECT p.case_id
    FROM kk_period p JOIN keys k USING (case_id)
    WHERE list_contains(CASE WHEN p.current THEN $current_keys ELSE $previous_keys END, k.key)
),
returns AS (
    SELECT TRUE AS current, unnest($return_keys::VARCHAR[]) AS key, unnest($return_since::TIMESTAMP[]) AS since
    UNION ALL
    SELECT FALSE, unnest($previous_return_keys::VARCHAR[]), unnest($previous_return_since::TIMESTAMP[])
),
subjects AS (   -- every cause, theme and product of a case (a return is about any of them)
    SELECT case_id, key FROM causes
    UNION ALL
    SELECT case_id, 'theme:' || theme_id FROM themes
    UNION ALL
    SELECT case_id, 'product:' || product FROM kk_period WHERE product IS NOT NULL
),
returned AS (
    SELECT p.case_id
    FROM kk_period p JOIN subjects s USING (case_id) JOIN returns r ON r.key = s.key AND r.current = p.current
    WHERE p.received_at >= r.since
)
SELECT case_id FROM listed
UNION
SELECT case_id FROM returned
