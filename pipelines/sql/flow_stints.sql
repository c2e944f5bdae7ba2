-- Holding intervals ("stints") of the cases in the temp table flow_scope: who held each case, from
-- when until when. Built by pipelines/reports/flow.py; every flow measure reads this one table.
--
-- One row per stint, in order: n = 0 is the holder at receipt (the first event's 移管元, since
-- exports rarely record the receipt itself), then one stint per hand-off to another department.
-- Events that leave the case where it is (完了, a note) do not start a stint.
--   * An events export beats a route column for the same case; events after "now" are not seen yet.
--   * A stint starts at receipt or at the hand-off that brought the case, and ends at the next
--     hand-off or, for the last holder, at closed_at. Hops from a route column have no time, so
--     their stints are untimed; so are cases with neither, which keep their current department.
--   * `returned`: the holder gave the case back to whoever sent it, not as an answer: the hand-off
--     back is a return (差戻し), or the sender sends it again right after (A→B→A→B). In a chain
--     A→B→A→B→A… only B's stints are returns (every other one, from the first): A re-sends.
-- Parameters: $now (the filters' "now"), $return_pattern (regex of return actions).
CREATE OR REPLACE TEMP TABLE flow_stints AS
WITH chosen AS (
    SELECT e.case_id, e.seq, e."at", e.from_department, e.to_department, e.action, e.source
    FROM case_events e SEMI JOIN flow_scope s ON s.case_id = e.case_id
    WHERE e."at" IS NULL OR e."at" <= $now
    QUALIFY e.source = CASE WHEN bool_or(e.source = 'events') OVER (PARTITION BY e.case_id)
                            THEN 'events' ELSE e.source END
),
ordered AS (
    SELECT *, row_number() OVER w AS k,
           first_value(coalesce(from_department, to_department)) OVER w AS first_holder,
           lag(to_department) OVER w AS holder_before
    FROM chosen
    WINDOW w AS (PARTITION BY case_id ORDER BY "at" NULLS LAST, seq)
),
per_case AS (
    SELECT case_id, any_value(first_holder) AS first_holder, any_value(source) AS source,
           max("at") AS last_event_at
    FROM ordered GROUP BY case_id
),
case_info AS (  -- every case in scope; one without events keeps its department from receipt
    SELECT s.case_id, s.received_at, s.closed, s.closed_at,
           coalesce(p.first_holder, nullif(trim(s.department), ''), '（不明）') AS first_holder,
           coalesce(p.source, 'case') AS source, p.last_event_at
    FROM flow_scope s LEFT JOIN per_case p USING (case_id)
),
changes AS (  -- the holder at receipt, then every event that hands the case to someone else
    SELECT case_id, 0 AS k, first_holder AS department, NULL::VARCHAR AS action, received_at AS start_at
    FROM case_info
    UNION ALL
    SELECT case_id, k, to_department, action, "at"
    FROM ordered
    WHERE to_department IS NOT NULL AND to_department IS DISTINCT FROM coalesce(holder_before, first_holder)
),
stints AS (
    SELECT c.case_id, c.department, c.action, c.start_at, i.source, i.last_event_at,
           row_number() OVER w - 1 AS n,
           lag(c.department) OVER w AS prev_department,
           lead(c.department) OVER w AS next_department,
           lead(c.department, 2) OVER w AS next2_department,
           lead(c.action) OVER w AS next_action,
           lead(c.k) OVER w IS NULL AS is_last,
           CASE WHEN lead(c.k) OVER w IS NOT NULL THEN lead(c.start_at) OVER w
                WHEN i.closed THEN i.closed_at END AS end_at
    FROM changes c JOIN case_info i USING (case_id)
    WINDOW w AS (PARTITION BY c.case_id ORDER BY c.k)
),
flagged AS (
    SELECT *,
           prev_department IS NOT NULL AND next_department = prev_department AND next_department <> department
               AND regexp_matches(coalesce(next_action, ''), $return_pattern) AS said_return,
           prev_department IS NOT NULL AND next_department = prev_department AND next_department <> department
               AND (regexp_matches(coalesce(next_action, ''), $return_pattern) OR next2_department = department)
               AS candidate
    FROM stints
),
placed AS (  -- consecutive candidates form a run; its 1st, 3rd, … stints are the receiver's returns
    SELECT *, n - max(CASE WHEN NOT candidate THEN n END) OVER (
               PARTITION BY case_id ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_pos
    FROM flagged
)
SELECT case_id, CAST(n AS INTEGER) AS n, department, prev_department, next_department, next2_department,
       action AS entry_action, next_action, start_at, end_at, is_last, source, last_event_at,
       source = 'events' AND start_at IS NOT NULL AND end_at IS NOT NULL AND end_at >= start_at AS timed,
       CASE WHEN source = 'events' AND end_at >= start_at
            THEN date_diff('second', start_at, end_at) / 3600.0 END AS hold_hours,
       candidate AND (said_return OR run_pos % 2 = 1) AS returned
FROM placed
