-- The cases a rule being edited could tag: those where some rule line has every one of its key sets
-- met by the keys present (kk_presence, from explore_candidates.sql). $line_nos/$set_nos/$key_nos
-- flatten Prefilter.lines: key $key_nos[i] belongs to set $set_nos[i] of line $line_nos[i].
CREATE OR REPLACE TEMP TABLE kk_candidates AS
WITH members AS (SELECT unnest($line_nos::INTEGER[]) AS line_no, unnest($set_nos::INTEGER[]) AS set_no,
                        unnest($key_nos::INTEGER[]) AS key_no),
     sizes AS (SELECT line_no, count(DISTINCT set_no) AS sets FROM members GROUP BY line_no),
     met AS (SELECT DISTINCT p.case_id, m.line_no, m.set_no FROM kk_presence p JOIN members m USING (key_no))
SELECT DISTINCT met.case_id
FROM met JOIN sizes USING (line_no)
GROUP BY met.case_id, met.line_no, sizes.sets
HAVING count(*) = sizes.sets;
