-- trends_series.sql read from the summary sum_daily, for views without a product, channel,
-- department or theme filter: counts per bucket (day / week / month) and value of one dimension,
-- plus each bucket's case total (is_total). Same rows, without scanning cases.
-- Parameters: $grain, $dimension, $start, $end (days, [start, end)), $unclassified, $no_cause, $not_entered.
WITH days AS (
    SELECT CAST(date_trunc($grain, day) AS DATE) AS bucket, dimension, key, cases
    FROM sum_daily
    WHERE day >= $start AND day < $end AND dimension IN ($dimension, 'all')
)
SELECT d.bucket, false AS is_total, coalesce(d.key, '') AS key,
       any_value(CASE WHEN d.key IS NULL THEN CASE $dimension WHEN 'theme' THEN $unclassified
                                                             WHEN 'cause' THEN $no_cause ELSE $not_entered END
                      WHEN $dimension = 'theme' THEN coalesce(t.name, d.key) ELSE d.key END) AS name,
       CAST(sum(d.cases) AS BIGINT) AS count
FROM days d LEFT JOIN themes t ON $dimension = 'theme' AND t.theme_id = d.key
WHERE d.dimension = $dimension
GROUP BY d.bucket, d.key
UNION ALL
SELECT bucket, true, NULL, NULL, CAST(sum(cases) AS BIGINT) FROM days WHERE dimension = 'all' GROUP BY bucket
