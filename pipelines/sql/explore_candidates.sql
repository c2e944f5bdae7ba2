-- What a rule being edited needs, per case (pipelines/rules/themes.py: Prefilter), so the editor's preview
-- builds documents only for the cases that could match. One row per case and key present:
--   $keys      a term whose surface or lemma is a rule word, with the negation that word needs
--              (any, pos = not negated, neg = negated, neg_or_noun = negated or a noun, whose
--              predicate may be the negated one);
--   $pairs     a term and the next one (consecutive idx) that may start a word the tokenizer split
--              (term, chr(0), first character of the next term: ログ + イ for ログイン);
--   $literals  a string the text contains (text:/regex atoms and the literals regexes need).
CREATE OR REPLACE TEMP TABLE kk_presence AS
WITH keys AS (SELECT k.word, k.key_no, k.needs
              FROM (SELECT unnest($key_words::VARCHAR[]) AS word, unnest($key_nos::INTEGER[]) AS key_no,
                           unnest($key_needs::VARCHAR[]) AS needs) k),
     pairs AS (SELECT unnest($pairs::VARCHAR[]) AS pair, unnest($pair_nos::INTEGER[]) AS key_no),
     literals AS (SELECT unnest($literals::VARCHAR[]) AS literal, unnest($literal_nos::INTEGER[]) AS key_no),
     prefixes AS (SELECT DISTINCT split_part(pair, chr(0), 1) AS prefix FROM pairs),
     hits AS (
        SELECT t.case_id, k.key_no, k.needs, coalesce(t.negated, false) AS negated, t.pos
        FROM case_terms t JOIN keys k ON t.surface = k.word
        UNION ALL
        SELECT t.case_id, k.key_no, k.needs, coalesce(t.negated, false) AS negated, t.pos
        FROM case_terms t JOIN keys k ON t.lemma = k.word WHERE t.lemma <> t.surface),
     starts AS (SELECT case_id, idx, surface, lemma FROM case_terms
                WHERE surface IN (SELECT prefix FROM prefixes) OR lemma IN (SELECT prefix FROM prefixes)),
     runs AS (SELECT s.case_id,
                     unnest([s.surface || chr(0) || left(n.surface, 1), s.surface || chr(0) || left(n.lemma, 1),
                             s.lemma || chr(0) || left(n.surface, 1), s.lemma || chr(0) || left(n.lemma, 1)]) AS pair
              FROM starts s JOIN case_terms n ON n.case_id = s.case_id AND n.idx = s.idx + 1)
SELECT case_id, key_no FROM hits
WHERE needs = 'any' OR needs = 'pos' AND NOT negated OR needs = 'neg' AND negated
   OR needs = 'neg_or_noun' AND (negated OR pos LIKE '名詞%')
UNION
SELECT r.case_id, p.key_no FROM runs r JOIN pairs p USING (pair)
UNION
SELECT c.case_id, l.key_no FROM cases c JOIN literals l ON contains(c.text, l.literal);
