-- Repeat-contact chain members: a chain is a run of one customer's contacts on one cause (or theme)
-- where each contact comes within `window` days of the previous one. The scope placeholder: cases
-- (case_id, customer_key, received_at) chosen by the caller: the customers a write touched
-- (summaries.py, the whole history, every chain) or the cases under the page's filters
-- (recurrence.repeat_customers when the summary cannot answer).
-- Placeholder IDs that exports use for "no customer" (0000, 不明, guest, …) are not a person.
-- Parameters: $window (days).
WITH scoped AS (
    SELECT s.case_id, s.customer_key, s.received_at
    FROM ({scope}) s
    WHERE s.customer_key IS NOT NULL AND trim(s.customer_key) <> ''
      AND NOT regexp_matches(lower(trim(s.customer_key)), '^(0+|-+|不明|なし|無し|未登録|未入力|該当なし|ゲスト|guest|unknown|anonymous|n/?a|none|null)$')
),
subjects AS (
    SELECT s.*, 'cause' AS dimension, x.cause AS key FROM scoped s JOIN case_causes x USING (case_id)
    UNION ALL
    SELECT s.*, 'theme', t.theme_id FROM scoped s JOIN case_themes t USING (case_id)
),
gaps AS (
    SELECT *, CASE WHEN received_at - lag(received_at) OVER (
                       PARTITION BY customer_key, dimension, key ORDER BY received_at, case_id)
                       > to_days(CAST($window AS INTEGER)) THEN 1 ELSE 0 END AS starts_chain
    FROM subjects
)
SELECT customer_key, dimension, key,
       CAST(sum(starts_chain) OVER (PARTITION BY customer_key, dimension, key ORDER BY received_at, case_id
                                    ROWS UNBOUNDED PRECEDING) AS INTEGER) AS chain,
       case_id, received_at
FROM gaps
