-- What the KWIC and case lists of the テーマ探索 page show next to a verbatim: date, product,
-- channel, emotion level, theme names (rules-file order) and each theme's evidence words.
SELECT c.case_id, c.received_at, c.product, c.channel, c.text, sc.emotion_level,
       (SELECT list(struct_pack(theme_id := ct.theme_id, name := coalesce(th.name, ct.theme_id),
                                evidence := ct.evidence) ORDER BY th.position, ct.theme_id)
        FROM case_themes ct LEFT JOIN themes th USING (theme_id)
        WHERE ct.case_id = c.case_id) AS tags
FROM cases c LEFT JOIN case_scores sc USING (case_id)
WHERE c.case_id IN (SELECT unnest($case_ids::VARCHAR[]));
