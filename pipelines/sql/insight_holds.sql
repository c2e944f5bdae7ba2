-- Per department: how long it held cases in the window ($start, $now], from flow_stints (built on
-- insight_scope.sql). A stint counts when it ended in the window or is still running at $now
-- (then it counts as held until $now: a case sitting there is exactly what this is for).
-- Only timed stints (an events export with times) have a length.
WITH held AS (
    SELECT department,
           coalesce(hold_hours, date_diff('second', start_at, $now) / 3600.0) / 24.0 AS days,
           end_at IS NULL AS ongoing
    FROM flow_stints
    WHERE source = 'events' AND start_at IS NOT NULL AND start_at <= $now
      AND (end_at > $start OR (end_at IS NULL AND is_last))
      AND (end_at IS NULL OR end_at >= start_at)
)
SELECT department, count(*) AS stints, count(*) FILTER (WHERE ongoing) AS ongoing,
       quantile_cont(days, 0.5) AS median_days
FROM held
GROUP BY department
ORDER BY department
