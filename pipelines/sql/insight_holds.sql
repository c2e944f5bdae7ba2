-- Per department: how long it held cases in the window ($start, $now]. The stints come from the
-- summary sum_stints (every event seen; summaries.py keeps it) or, on a store without summaries,
-- from flow_stints built on insight_scope.sql; /*stints*/ names which, /*where*/ is the filters'
-- condition on its case_id (alias s). A stint counts when it ended in the window or is still running
-- at $now — including one that ended only after $now, seen as of $now — and then counts as held
-- until $now: a case sitting there is exactly what this is for. Only timed stints (an events export
-- with times) have a length.
WITH held AS (
    SELECT department,
           CASE WHEN end_at IS NULL OR end_at > $now THEN date_diff('second', start_at, $now) / 3600.0
                ELSE hold_hours END / 24.0 AS days,
           end_at IS NULL OR end_at > $now AS ongoing
    FROM /*stints*/ s
    WHERE source = 'events' AND start_at IS NOT NULL AND start_at <= $now AND /*where*/
      AND (end_at > $start OR (end_at IS NULL AND is_last))
      AND (end_at IS NULL OR end_at >= start_at)
)
SELECT department, count(*) AS stints, count(*) FILTER (WHERE ongoing) AS ongoing,
       quantile_cont(days, 0.5) AS median_days
FROM held
GROUP BY department
ORDER BY department
