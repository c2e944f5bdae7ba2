-- Cases bounced back and forth: every stint of flow_stints flagged `returned` is one bounce (the
-- receiver gave the case back to its sender instead of answering: A→B→A, and often →B again).
-- The loop runs from the first hand-off A→B of the first bounce to the moment the case finally
-- leaves it: the end of B's last stint after the last bounce (when A sent it again), else the end of
-- A's stint after it. loop_hours counts that span; for a loop still running, up to $now.
-- Hops from a route column have no times: their bounces are counted, their hours are NULL.
-- Parameters: $now.
CREATE OR REPLACE TEMP TABLE flow_pingpong AS
WITH bounces AS (
    SELECT case_id, count(*) AS bounces, min(n) AS first_n, max(n) AS last_n
    FROM flow_stints WHERE returned GROUP BY case_id
),
loops AS (
    SELECT b.case_id, b.bounces, f.prev_department AS sender, f.department AS receiver, f.start_at AS loop_start,
           CASE WHEN again.department = last.department THEN again.end_at ELSE back.end_at END AS loop_end,
           CASE WHEN again.department = last.department THEN again.is_last ELSE back.is_last END AS ends_case
    FROM bounces b
    JOIN flow_stints f ON f.case_id = b.case_id AND f.n = b.first_n
    JOIN flow_stints last ON last.case_id = b.case_id AND last.n = b.last_n
    JOIN flow_stints back ON back.case_id = b.case_id AND back.n = b.last_n + 1
    LEFT JOIN flow_stints again ON again.case_id = b.case_id AND again.n = b.last_n + 2
),
paths AS (
    SELECT case_id, string_agg(department, '→' ORDER BY n) AS route, arg_max(department, n) AS holder
    FROM flow_stints SEMI JOIN bounces USING (case_id) GROUP BY case_id
)
SELECT l.*, p.route, p.holder, sc.received_at, sc.channel, sc.product, sc.status, sc.closed,
       l.loop_end IS NULL AND l.ends_case AND NOT sc.closed AND l.loop_start IS NOT NULL AS ongoing,
       date_diff('second', l.loop_start,
                 CASE WHEN l.loop_end IS NOT NULL THEN l.loop_end
                      WHEN l.ends_case AND NOT sc.closed THEN greatest($now, l.loop_start) END) / 3600.0 AS loop_hours
FROM loops l JOIN paths p USING (case_id) JOIN flow_scope sc USING (case_id)
