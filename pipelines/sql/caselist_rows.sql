-- One page of the case list: the matching cases (kk_match, built by caselist._match), newest
-- first, with their theme and cause names, the words that triggered them, the emotion level and
-- its reasons. Parameters: LIMIT, OFFSET. Causes are the effective ones (kk_causes).
WITH page AS (
    SELECT case_id, received_at FROM kk_match
    ORDER BY received_at DESC, case_id
    LIMIT ? OFFSET ?
),
theme_tags AS (
    SELECT ct.case_id,
           string_agg(coalesce(t.name, ct.theme_id), '、' ORDER BY t.position NULLS LAST, ct.theme_id) AS names,
           string_agg(coalesce(t.name, ct.theme_id) || '〔' || array_to_string(ct.evidence, '・') || '〕', ' '
                      ORDER BY t.position NULLS LAST, ct.theme_id) AS evidence
    FROM case_themes ct SEMI JOIN page p ON p.case_id = ct.case_id
    LEFT JOIN themes t ON t.theme_id = ct.theme_id
    GROUP BY ct.case_id
),
cause_tags AS (
    SELECT k.case_id,
           string_agg(k.cause, '、' ORDER BY k.cause) AS names,
           string_agg(k.cause || '〔' || array_to_string(k.evidence, '・') || '〕', ' ' ORDER BY k.cause) AS evidence
    FROM kk_causes k SEMI JOIN page p ON p.case_id = k.case_id
    GROUP BY k.case_id
)
SELECT p.received_at                                        AS 受付日時,
       c.case_id                                            AS ケース番号,
       c.channel                                            AS チャネル,
       c.product                                            AS 商品,
       c.department                                         AS 部署,
       c.status                                             AS 状態,
       c.closed_at                                          AS 完了日時,
       th.names                                             AS テーマ,
       ca.names                                             AS 原因,
       s.emotion_level                                      AS 感情レベル,
       nullif(concat_ws(' ', th.evidence, ca.evidence), '') AS 根拠,
       nullif(array_to_string(s.reasons, '、'), '')         AS 感情の根拠,
       c.text                                               AS 本文
FROM page p
JOIN cases c USING (case_id)
LEFT JOIN theme_tags th USING (case_id)
LEFT JOIN cause_tags ca USING (case_id)
LEFT JOIN case_scores s USING (case_id)
ORDER BY p.received_at DESC, p.case_id
