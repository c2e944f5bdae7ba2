-- Per theme: cases of flow_scope, cases escalated by "now" (flow_escalated), and the severe cases of
-- the escalation check (flow_severe). A case counts under each of its themes; none → 未分類.
WITH themed AS (
    SELECT sc.case_id, coalesce(t.name, '未分類') AS theme, coalesce(t.position, 2147483647) AS position
    FROM flow_scope sc
    LEFT JOIN case_themes ct ON ct.case_id = sc.case_id
    LEFT JOIN themes t ON t.theme_id = ct.theme_id
)
SELECT th.theme AS テーマ,
       count(DISTINCT th.case_id) AS ケース数,
       count(DISTINCT th.case_id) FILTER (WHERE x.case_id IS NOT NULL) AS エスカレーション件数,
       count(DISTINCT th.case_id) FILTER (WHERE x.case_id IS NOT NULL) / count(DISTINCT th.case_id) AS エスカレーション率,
       count(DISTINCT th.case_id) FILTER (WHERE v.case_id IS NOT NULL) AS 重大ケース,
       count(DISTINCT th.case_id) FILTER (WHERE v.verdict IN ('late', 'closed_without', 'waiting'))
           AS 期限内に上がらなかった重大ケース
FROM themed th
LEFT JOIN flow_escalated x ON x.case_id = th.case_id
LEFT JOIN flow_severe v ON v.case_id = th.case_id
GROUP BY th.theme
ORDER BY min(th.position), th.theme
