-- The stored terms of the cases in kk_candidates, for re-tagging them in Python without
-- tokenizing. Each distinct term (idx, surface, lemma, pos, negated) is numbered once in kk_vocab,
-- so Python builds one Term object per distinct term rather than one per stored row (a tenth as
-- many on typical data); kk_doc_terms lists each case's term numbers in reading order.
CREATE OR REPLACE TEMP TABLE kk_doc_rows AS
SELECT t.case_id, t.idx, coalesce(t.surface, '') AS surface, coalesce(t.lemma, '') AS lemma,
       coalesce(t.pos, '') AS pos, coalesce(t.negated, false) AS negated
FROM case_terms t SEMI JOIN kk_candidates USING (case_id);

CREATE OR REPLACE TEMP TABLE kk_vocab AS
SELECT idx, surface, lemma, pos, negated, (row_number() OVER ()) - 1 AS term_no
FROM (SELECT DISTINCT idx, surface, lemma, pos, negated FROM kk_doc_rows);

CREATE OR REPLACE TEMP TABLE kk_doc_terms AS
SELECT r.case_id, list(v.term_no ORDER BY r.idx, v.term_no) AS term_nos
FROM kk_doc_rows r JOIN kk_vocab v USING (idx, surface, lemma, pos, negated)
GROUP BY r.case_id;
