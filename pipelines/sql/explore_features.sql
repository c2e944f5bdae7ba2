-- Term features of the cases in kk_scope (case_id, received_at, chosen), one row per case and
-- feature, for the テーマ探索 page's characteristic terms and co-occurrence network.
--
-- A feature is a word's lemma (kk_lemma: 表記ゆれ merged, the surface for unknown words), or
-- lemma + '(否定)' where its predicate is negated: 届く(否定) is counted apart from 届く, as
-- pipelines/analysis/topics.py does. Content words only ($pos: nouns, general verbs and adjectives,
-- na-adjectives; no numerals, masks or pronouns), and no counter right after a number (3日, 500円).
-- $stop words (pipelines/analysis/topics.py's VOC_STOP_WORDS and formal nouns) are dropped, except negated
-- ones in $keep_negated (連絡(否定) is a complaint of its own); $noise drops bare numbers and single
-- ASCII characters.
CREATE OR REPLACE TEMP TABLE kk_features AS
WITH stop AS (SELECT unnest($stop::VARCHAR[]) AS word),
     keep AS (SELECT unnest($keep_negated::VARCHAR[]) AS word),
     numbers AS (
        SELECT t.case_id, t.idx FROM case_terms t SEMI JOIN kk_scope s USING (case_id)
        WHERE t.pos LIKE '名詞-数詞%'),
     terms AS (
        SELECT t.case_id, s.chosen, t.pos, t.surface, kk_lemma(t.lemma, t.surface) AS lemma,
               coalesce(t.negated, false) AS negated, n.case_id IS NOT NULL AS after_number
        FROM case_terms t JOIN kk_scope s USING (case_id)
        LEFT JOIN numbers n ON n.case_id = t.case_id AND n.idx = t.idx - 1
        WHERE regexp_matches(t.pos, $pos))
SELECT DISTINCT case_id, chosen, lemma || CASE WHEN negated THEN $negated_suffix ELSE '' END AS term
FROM terms
WHERE NOT (after_number AND pos LIKE '%助数詞%')
  AND NOT regexp_matches(lemma, $noise)
  AND (NOT (lemma IN (SELECT word FROM stop) OR surface IN (SELECT word FROM stop))
       OR negated AND lemma IN (SELECT word FROM keep));
