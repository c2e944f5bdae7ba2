-- sum_case_flow rows of the cases in TEMP TABLE kk_sum_touched(case_id).
-- Parameters: the escalation condition's values (definitions.escalation_sql, alias e), spliced where the escalation placeholder stands.
INSERT INTO sum_case_flow
SELECT c.case_id, c.received_at, c.closed_at, ev.last_event_at, ev.esc_first_at, coalesce(ev.esc_untimed, false)
FROM cases c
LEFT JOIN (
    SELECT e.case_id, max(e."at") AS last_event_at,
           min(e."at") FILTER (WHERE {escalation}) AS esc_first_at,
           bool_or(e."at" IS NULL AND {escalation}) AS esc_untimed
    FROM case_events e SEMI JOIN kk_sum_touched t ON t.case_id = e.case_id
    GROUP BY e.case_id
) ev USING (case_id)
WHERE c.case_id IN (SELECT case_id FROM kk_sum_touched)
ORDER BY c.received_at, c.case_id
