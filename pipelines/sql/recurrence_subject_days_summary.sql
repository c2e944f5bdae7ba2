-- recurrence_subject_days.sql read from the summary sum_daily, for views without a product,
-- channel, department or theme filter: daily case counts of each countermeasure target
-- (kk_subjects(dimension, key): a cause, a theme or a product).
-- Parameters: the days [start, end).
SELECT d.dimension, d.key, d.day, CAST(d.cases AS BIGINT) AS cases
FROM sum_daily d JOIN kk_subjects k ON k.dimension = d.dimension AND k.key = d.key
WHERE d.day >= ? AND d.day < ?
ORDER BY d.dimension, d.key, d.day
