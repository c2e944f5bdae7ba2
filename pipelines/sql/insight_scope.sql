-- The cases a detector of pipelines/detect (bottleneck, escalation) looks at, in the shape of
-- flow_scope (reports/flow.py), so flow_stints.sql, flow_stalls.sql and flow_escalation.sql read
-- them unchanged and the detectors count exactly what 部門フロー counts.
-- As of $now: later closures, updates and events are not seen yet.
--   * $open_too false: the cases received in [$start, $now] (in_period = all of them);
--   * $open_too true: also every case still open at $now, whenever received (a stall or a long hold
--     began long ago); in_period marks those received in [$start, $now].
-- The shared filters' condition (without the period) replaces /*where*/; its values come first.
CREATE OR REPLACE TEMP TABLE flow_scope AS
SELECT c.case_id, c.received_at, c.channel, c.product, c.department, c.status, c.priority,
       c.received_at >= $start AS in_period,
       CASE WHEN c.updated_at <= $now THEN c.updated_at END AS updated_at,
       CASE WHEN c.closed_at <= $now THEN c.closed_at END AS closed_at,
       coalesce(c.closed_at <= $now, /*done*/) AS closed
FROM cases c
WHERE c.received_at <= $now AND /*where*/
  AND (c.received_at >= $start
       OR ($open_too AND NOT coalesce(c.closed_at <= $now, /*done*/)))
