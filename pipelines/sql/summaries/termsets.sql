-- Term sets as 再発's near-duplicate check compares them: content-word lemmas (a negated one marked
-- with ¬, so 届く and 届かない differ), without numbers and masked personal data, sorted; a case
-- without any such word has none. The scope placeholder: cases (case_id, received_at) chosen by the
-- caller: the cases a write touched (summaries.py → sum_termsets) or the cases in a page's scope
-- when the store has no summaries yet (recurrence.near_duplicates).
SELECT s.received_at, s.case_id,
       list_sort(list(DISTINCT t.lemma || CASE WHEN t.negated THEN '¬' ELSE '' END)) AS terms
FROM ({scope}) s JOIN case_terms t USING (case_id)
WHERE regexp_matches(t.pos, '^(名詞|動詞|形容詞|形状詞|副詞)')
  AND NOT starts_with(t.pos, '名詞-数詞') AND NOT starts_with(t.pos, '名詞-マスク')
GROUP BY s.received_at, s.case_id
