-- sum_daily rows of the days in TEMP TABLE kk_sum_days(day), from scratch for those days.
-- A case counts once per value (DISTINCT pairs), as trends_series.sql and summary_items.sql count.
INSERT INTO sum_daily
WITH sel AS (
    SELECT c.case_id, CAST(c.received_at AS DATE) AS day, nullif(trim(c.product), '') AS product,
           nullif(trim(c.channel), '') AS channel, nullif(trim(c.department), '') AS department,
           coalesce(s.emotion_level, 0) AS level, coalesce(s.repeat_contacts, 0) > 0 AS repeat
    FROM cases c LEFT JOIN case_scores s USING (case_id)
    WHERE CAST(c.received_at AS DATE) IN (SELECT day FROM kk_sum_days)
),
themes AS (SELECT DISTINCT ct.case_id, ct.theme_id FROM case_themes ct SEMI JOIN sel USING (case_id)),
causes AS (SELECT DISTINCT cc.case_id, cc.cause FROM case_causes cc SEMI JOIN sel USING (case_id)),
members AS (
    SELECT 'all' AS dimension, NULL::VARCHAR AS key, case_id FROM sel
    UNION ALL SELECT 'theme', t.theme_id, s.case_id FROM sel s LEFT JOIN themes t USING (case_id)
    UNION ALL SELECT 'cause', x.cause, s.case_id FROM sel s LEFT JOIN causes x USING (case_id)
    UNION ALL SELECT 'theme_nocause', t.theme_id, t.case_id FROM themes t ANTI JOIN causes x USING (case_id)
    UNION ALL SELECT 'product', product, case_id FROM sel
    UNION ALL SELECT 'channel', channel, case_id FROM sel
    UNION ALL SELECT 'department', department, case_id FROM sel
)
SELECT s.day, m.dimension, m.key, count(*), count(*) FILTER (WHERE s.level >= 2),
       count(*) FILTER (WHERE s.level >= 1), count(*) FILTER (WHERE s.repeat)
FROM members m JOIN sel s USING (case_id)
GROUP BY ALL
