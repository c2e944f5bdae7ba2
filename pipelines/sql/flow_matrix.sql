-- Theme × department: how many cases of each theme a department held, and its median holding time
-- for them (timed stints only). A case counts under each of its themes; none → 未分類.
WITH themed AS (
    SELECT sc.case_id, coalesce(t.name, '未分類') AS theme, coalesce(t.position, 2147483647) AS position
    FROM flow_scope sc
    LEFT JOIN case_themes ct ON ct.case_id = sc.case_id
    LEFT JOIN themes t ON t.theme_id = ct.theme_id
)
SELECT th.theme AS テーマ, st.department AS 部署,
       count(DISTINCT st.case_id) AS 件数,
       quantile_cont(st.hold_hours, 0.5) FILTER (WHERE st.timed) AS "保持時間の中央値（時間）"
FROM flow_stints st JOIN themed th ON th.case_id = st.case_id
GROUP BY th.theme, st.department
ORDER BY min(th.position), th.theme, st.department
