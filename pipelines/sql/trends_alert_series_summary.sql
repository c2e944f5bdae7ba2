-- trends_alert_series.sql read from the summary sum_daily, for views without a product, channel,
-- department or theme filter: daily counts per theme, cause and product, and each product's first
-- day (a launch is not a spike). Parameters: $start, $end (days, inclusive).
SELECT dimension, key, day, CAST(cases AS BIGINT) AS n
FROM sum_daily
WHERE dimension IN ('theme', 'cause', 'product') AND key IS NOT NULL AND day >= $start AND day <= $end
