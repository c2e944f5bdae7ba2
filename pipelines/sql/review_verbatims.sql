-- A few representative customer's words for one item of the review (reports/review.py): the cases
-- received in [$start, $end) under the shared filters (kk_review_scope) that are about the item —
-- a theme ($theme), an effective cause ($cause, kk_causes), a product ($product) — or listed in
-- $case_ids; the strongest emotion first, then the newest. The words that tagged the case
-- (theme and cause evidence) come along for highlighting.
WITH chosen AS (
    SELECT s.case_id FROM kk_review_scope s
    WHERE ($theme IS NOT NULL AND EXISTS (SELECT 1 FROM case_themes t WHERE t.case_id = s.case_id AND t.theme_id = $theme))
       OR ($cause IS NOT NULL AND EXISTS (SELECT 1 FROM kk_causes k WHERE k.case_id = s.case_id AND k.cause = $cause))
       OR ($product IS NOT NULL AND s.product = $product)
    UNION
    SELECT case_id FROM cases WHERE list_contains($case_ids::VARCHAR[], case_id)
)
SELECT c.case_id, c.received_at, c.channel, c.text, coalesce(sc.emotion_level, 0) AS level,
       list_distinct(flatten(coalesce(list(ct.evidence) FILTER (WHERE ct.evidence IS NOT NULL), [])
                             || coalesce(list(k.evidence) FILTER (WHERE k.evidence IS NOT NULL), []))) AS words
FROM chosen x JOIN cases c USING (case_id)
LEFT JOIN case_scores sc USING (case_id)
LEFT JOIN case_themes ct ON ct.case_id = c.case_id
LEFT JOIN kk_causes k ON k.case_id = c.case_id
GROUP BY c.case_id, c.received_at, c.channel, c.text, sc.emotion_level
ORDER BY level DESC, c.received_at DESC, c.case_id
LIMIT $limit
