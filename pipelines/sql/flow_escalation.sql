-- Severe cases of flow_scope and whether they were escalated within $within_hours of receipt.
-- Severe = case_scores.emotion_level >= $min_level; or the desk's own priority is high (the export's
-- 優先度 in $high_priorities, compared lower-cased); or the customer asked for what an escalation is
-- for — a superior, a public post — whatever the level: a reason of case_scores whose label (after
-- 『…』: ) is one of $cues, not negated (a negated cue carries a note after its label).
-- Empty lists turn the last two off.
-- Escalations come from flow_escalated (flow.escalated_cases_sql).
-- verdict (the first that applies):
--   in_time         escalated before the deadline                            (not listed)
--   untimed         escalated, but only a route column shows it: no time     (not listed, counted)
--   not_desk        never held by a receiving desk (definitions.RECEIVING_DESKS): nothing to escalate from
--   late            escalated after the deadline                             (listed)
--   resolved        closed before the deadline without escalation: settled at the desk in time
--   not_due         open, not escalated yet, the deadline still ahead        (not listed, counted)
--   closed_without  closed after the deadline (or at an unknown time) without any escalation (listed)
--   waiting         open past the deadline, never escalated                  (listed)
-- When no department of the store is a receiving desk ($desk_known false), every case is checked.
-- Parameters: $now, $min_level, $high_priorities, $cues, $within_hours, $desks, $desk_known.
CREATE OR REPLACE TEMP TABLE flow_severe AS
WITH held AS (
    SELECT case_id, bool_or(list_contains($desks::VARCHAR[], department)) AS via_desk,
           arg_max(department, n) AS holder
    FROM flow_stints GROUP BY case_id
),
severe AS (
    SELECT sc.case_id, sc.received_at, sc.channel, sc.product, sc.status, sc.priority, sc.closed, sc.closed_at,
           s.emotion_level, s.reasons, h.holder, h.via_desk OR NOT $desk_known AS via_desk,
           x.case_id IS NOT NULL AS escalated, x.escalated_at,
           sc.received_at + to_microseconds(CAST($within_hours * 3600000000 AS BIGINT)) AS due_at
    FROM flow_scope sc
    LEFT JOIN case_scores s USING (case_id)
    JOIN held h USING (case_id)
    LEFT JOIN flow_escalated x USING (case_id)
    WHERE s.emotion_level >= $min_level
       OR list_contains($high_priorities::VARCHAR[], lower(trim(sc.priority)))
       OR list_has_any(list_transform(coalesce(s.reasons, []), lambda r: regexp_extract(r, '』: (.+)$', 1)),
                       $cues::VARCHAR[])
)
SELECT *,
       CASE
           WHEN escalated_at <= due_at THEN 'in_time'
           WHEN escalated AND escalated_at IS NULL THEN 'untimed'
           WHEN NOT via_desk THEN 'not_desk'
           WHEN escalated_at IS NOT NULL THEN 'late'
           WHEN closed AND closed_at <= due_at THEN 'resolved'
           WHEN NOT closed AND due_at > $now THEN 'not_due'
           WHEN closed THEN 'closed_without'
           ELSE 'waiting'
       END AS verdict,
       date_diff('second', received_at,
                 coalesce(escalated_at, CASE WHEN closed THEN closed_at ELSE $now END)) / 3600.0 AS wait_hours
FROM severe
