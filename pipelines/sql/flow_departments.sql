-- Per department, over the stints (flow_stints.sql) of the cases received in the period
-- (flow_scope.in_period): cases held, how long each held a case before passing it on or answering
-- (timed stints only: events with timestamps), and the share of hand-offs received that were given
-- back to the sender (差し戻し).
SELECT department AS 部署,
       count(DISTINCT case_id) AS 担当件数,
       quantile_cont(hold_hours, 0.5) FILTER (WHERE timed) AS "保持時間の中央値（時間）",
       quantile_cont(hold_hours, 0.9) FILTER (WHERE timed) AS "保持時間の90%点（時間）",
       count(*) FILTER (WHERE timed) AS 時刻のある保持,
       count(*) FILTER (WHERE source IN ('route', 'case')) AS 時刻のない保持,
       count(*) FILTER (WHERE prev_department IS NOT NULL) AS 受け取った移管,
       count(*) FILTER (WHERE returned) AS 差し戻し,
       count(*) FILTER (WHERE returned) / nullif(count(*) FILTER (WHERE prev_department IS NOT NULL), 0) AS 差し戻し率
FROM flow_stints
WHERE case_id IN (SELECT case_id FROM flow_scope WHERE in_period)
GROUP BY department
ORDER BY 担当件数 DESC, 部署
