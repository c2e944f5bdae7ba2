-- Counts per bucket (day / week / month) and per value of one dimension, plus each bucket's case total.
-- Placeholders filled by pipelines/reports/trends.py from fixed lists, never from user input:
--   /* where */   the shared filter condition on `cases c` (pipelines.store.filters.where, values bound with ?)
--   /* members */ one row per (case, value) of the chosen dimension, read from `sel`
-- Parameters, in order: the grain ('day' / 'week' / 'month'), the filter values, the range
-- [start, end), then the members' own parameters.
-- Rows with is_total = true carry the bucket's number of cases (key and name NULL).
WITH sel AS (
    SELECT c.case_id, c.product, c.channel, c.department,
           CAST(date_trunc(?, c.received_at) AS DATE) AS bucket
    FROM cases c
    WHERE /*where*/ AND c.received_at >= ? AND c.received_at < ?
),
members AS (
    /*members*/
)
SELECT bucket, false AS is_total, series_key AS key, any_value(name) AS name, count(*) AS count
FROM members GROUP BY bucket, series_key
UNION ALL
SELECT bucket, true, NULL, NULL, count(*) FROM sel GROUP BY bucket
