-- Schema 4 (issue 14, items 3 and 6): themes the classifier infers for cases no rule tags, and the
-- desk's own labels. Both are kept apart from case_themes, which holds rule tags only: the summaries
-- and every count of "tagged" cases read case_themes and never these.

-- Inferred (推定) themes: written by pipelines/analysis/infer.py after rule tagging, for cases with no
-- rule tag, when the classifier's probability reaches its threshold. Replaced on every analysis.
CREATE TABLE IF NOT EXISTS case_inferred_themes (
    case_id     VARCHAR NOT NULL,
    theme_id    VARCHAR NOT NULL,
    confidence  DOUBLE,           -- the classifier's probability for the theme, 0..1
    words       VARCHAR[]         -- the case's lemmas that pushed most towards the theme, strongest first
);

-- A lead's label of a case (pipelines/store/labels.py): one row per case, the latest label wins
-- (every label is also in the audit trail). Per-theme precision and the exported test set read it.
CREATE TABLE IF NOT EXISTS case_labels (
    case_id     VARCHAR NOT NULL,
    themes      VARCHAR[] NOT NULL,  -- theme ids the case is about, the primary first; [] when none applies
    negative    BOOLEAN,             -- the customer evaluates something negatively
    anger       TINYINT,             -- 0 none .. 3 furious; NULL when the text does not allow a judgement
    shown       VARCHAR[],           -- the rule themes the case had when it was labelled
    labelled_by VARCHAR NOT NULL,    -- the acting user (access.Actor.user_id)
    labelled_at TIMESTAMP NOT NULL
);
