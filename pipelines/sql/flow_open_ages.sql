-- Open cases (as of $now) by current holder and age since receipt, in whole days.
WITH open_cases AS (
    SELECT st.department, floor(date_diff('second', sc.received_at, $now) / 86400.0) AS age_days
    FROM flow_stints st JOIN flow_scope sc USING (case_id)
    WHERE st.is_last AND NOT sc.closed
)
SELECT department AS 部署,
       count(*) FILTER (WHERE age_days <= 3) AS "未完了 〜3日",
       count(*) FILTER (WHERE age_days BETWEEN 4 AND 7) AS "未完了 4〜7日",
       count(*) FILTER (WHERE age_days BETWEEN 8 AND 14) AS "未完了 8〜14日",
       count(*) FILTER (WHERE age_days BETWEEN 15 AND 30) AS "未完了 15〜30日",
       count(*) FILTER (WHERE age_days > 30) AS "未完了 31日〜",
       count(*) AS 未完了計
FROM open_cases
GROUP BY department
