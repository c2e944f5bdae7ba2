-- Cases a theme rule being edited could tag (pipelines/themes.py: Prefilter), so the editor's
-- preview builds documents only for them. A case is a candidate when a term's surface or lemma is
-- a rule word ($words), when a term and the next one (consecutive idx) may start a word the
-- tokenizer split ($pairs: term, chr(0), first character of the next term — ログ + イ for ログイン;
-- $prefixes: the terms such a run can start with), when its text contains a literal a text:/regex
-- atom needs ($literals), or always ($everything).
CREATE OR REPLACE TEMP TABLE kk_candidates AS
WITH words AS (SELECT unnest($words::VARCHAR[]) AS word),
     prefixes AS (SELECT unnest($prefixes::VARCHAR[]) AS prefix),
     pairs AS (SELECT unnest($pairs::VARCHAR[]) AS pair),
     literals AS (SELECT unnest($literals::VARCHAR[]) AS literal),
     starts AS (SELECT case_id, idx, surface, lemma FROM case_terms
                WHERE surface IN (SELECT prefix FROM prefixes) OR lemma IN (SELECT prefix FROM prefixes))
SELECT case_id FROM case_terms WHERE surface IN (SELECT word FROM words) OR lemma IN (SELECT word FROM words)
UNION
SELECT s.case_id FROM starts s JOIN case_terms n ON n.case_id = s.case_id AND n.idx = s.idx + 1
WHERE s.surface || chr(0) || left(n.surface, 1) IN (SELECT pair FROM pairs)
   OR s.surface || chr(0) || left(n.lemma, 1) IN (SELECT pair FROM pairs)
   OR s.lemma || chr(0) || left(n.surface, 1) IN (SELECT pair FROM pairs)
   OR s.lemma || chr(0) || left(n.lemma, 1) IN (SELECT pair FROM pairs)
UNION
SELECT c.case_id FROM cases c JOIN literals l ON contains(c.text, l.literal)
UNION
SELECT case_id FROM cases WHERE $everything;
