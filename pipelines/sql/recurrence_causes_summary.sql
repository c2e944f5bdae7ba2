-- recurrence_causes.sql read from the summary sum_daily, for views without a product, channel,
-- department or theme filter: monthly case counts per cause, and with the theme fallback per theme
-- of the cases without any cause (sum_daily's theme_nocause). A case is received on one day, so
-- the daily distinct counts add up to the month's.
-- Parameters: $start, $end (receipt range [start, end)), $theme_fallback.
SELECT CASE dimension WHEN 'cause' THEN 'cause' ELSE 'theme' END AS dimension, key,
       CAST(date_trunc('month', day) AS DATE) AS month, CAST(sum(cases) AS BIGINT) AS cases
FROM sum_daily
WHERE key IS NOT NULL AND day >= CAST($start AS DATE) AND day < CAST($end AS DATE)
  AND (dimension = 'cause' OR ($theme_fallback AND dimension = 'theme_nocause'))
GROUP BY ALL
ORDER BY dimension, key, month
