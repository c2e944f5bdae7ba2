-- Kakehashi case store. One file owns the schema; README.md documents it for analysts.
-- Timestamps are naive Japan time (Asia/Tokyo), so daily counts never shift with the machine's zone.

CREATE SEQUENCE IF NOT EXISTS batch_id_seq START 1;

CREATE TABLE IF NOT EXISTS store_meta (
    key   VARCHAR,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS import_batches (
    batch_id        INTEGER DEFAULT nextval('batch_id_seq'),
    kind            VARCHAR,      -- cases / events / countermeasures
    file_name       VARCHAR,
    sha256          VARCHAR,
    size_bytes      BIGINT,
    encoding        VARCHAR,      -- utf-8, utf-8-sig, cp932, utf-16, xlsx
    format          VARCHAR,      -- csv / tsv / xlsx
    delimiter       VARCHAR,
    mapping_name    VARCHAR,
    mapping         JSON,         -- {field: header} actually used
    status          VARCHAR,      -- running / done / refused / failed / interrupted
    message         VARCHAR,      -- why a file was refused or failed (Japanese)
    rows_read       BIGINT,
    rows_inserted   BIGINT,
    rows_updated    BIGINT,
    rows_unchanged  BIGINT,
    rows_duplicate  BIGINT,       -- earlier rows of a case repeated within the same file
    rows_rejected   BIGINT,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    pid             INTEGER,
    -- Schema 2 (migrations/0002_case_identity.sql): the case identity a load used.
    identity        VARCHAR,      -- the case ID column used, or 'generated'
    identity_reason VARCHAR,      -- why (Japanese), with the customer columns not used as customers
    rows_conflict   BIGINT,       -- rows kept under a derived ID (<ID>~<YYYYMMDD>): their ID was another case's
    conflict_examples JSON        -- up to five [{line, case_id, kept_as, received, other_received}]
);

CREATE TABLE IF NOT EXISTS cases (
    case_id        VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    channel        VARCHAR,
    customer_key   VARCHAR,       -- the export's customer ID, or a salted hash of name/phone/e-mail
    product        VARCHAR,
    category       VARCHAR,       -- the desk's own classification
    department     VARCHAR,       -- current owner
    status         VARCHAR,
    priority       VARCHAR,
    closed_at      TIMESTAMP,
    updated_at     TIMESTAMP,
    cause          VARCHAR,       -- the desk's own cause column, when the export has one
    -- Long free text is stored with zstd: on Japanese text it writes two to three times as fast as
    -- the default dictionary/FSST choice, takes a third of the space, and scans as fast.
    text           VARCHAR NOT NULL USING COMPRESSION 'zstd',  -- customer's words, NFKC-normalised and PII-masked
    response       VARCHAR USING COMPRESSION 'zstd',           -- what the desk did, PII-masked
    extra          JSON USING COMPRESSION 'zstd',              -- unknown columns of the export, PII-masked
    -- Random hex: the default compression's analysis costs a second per million rows for nothing.
    row_hash       VARCHAR USING COMPRESSION 'zstd',  -- detects "unchanged" on reload
    text_hash      VARCHAR USING COMPRESSION 'zstd',  -- detects changed text (only changed text is tokenized again)
    batch_id       INTEGER,       -- batch that last wrote the row
    first_batch_id INTEGER
);

CREATE TABLE IF NOT EXISTS case_events (
    case_id         VARCHAR NOT NULL,
    seq             INTEGER,      -- order within the case
    "at"            TIMESTAMP,    -- NULL for hops read from a route column (quote it: AT is an SQL keyword)
    from_department VARCHAR,
    to_department   VARCHAR,
    action          VARCHAR,
    note            VARCHAR,      -- PII-masked
    source          VARCHAR,      -- events (an events export) / route (a route column)
    batch_id        INTEGER
);

CREATE TABLE IF NOT EXISTS rejected_rows (
    batch_id INTEGER,
    line     BIGINT,              -- line in the file where the row starts (header = 1)
    reason   VARCHAR,             -- Japanese, human-readable
    raw      VARCHAR USING COMPRESSION 'zstd'  -- the row as read, PII-masked, JSON {header: value}
);

CREATE TABLE IF NOT EXISTS case_terms (
    case_id VARCHAR NOT NULL,
    idx     SMALLINT,             -- token position in the text (content words only are stored)
    surface VARCHAR,
    lemma   VARCHAR,              -- UniDic lemma without the English gloss; surface for unknown words
    pos     VARCHAR,              -- UniDic POS, levels joined by '-'
    negated BOOLEAN
);

CREATE TABLE IF NOT EXISTS saved_mappings (
    name     VARCHAR,
    kind     VARCHAR,
    mapping  JSON,                -- {field: header}
    saved_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS countermeasures (
    implemented_on DATE NOT NULL,
    target         VARCHAR NOT NULL,  -- a cause, theme or product name, matched by the recurrence page
    department     VARCHAR,
    description    VARCHAR,
    batch_id       INTEGER
);

-- Text analysis: written by each load for the texts it tokenizes, and by `python -m pipelines analyze`
-- (rules changes, repeat counts). Re-tagging reads case_terms only.
CREATE TABLE IF NOT EXISTS themes (
    theme_id VARCHAR,             -- stable ID from the rules file; survives renames
    name     VARCHAR,             -- Japanese display name
    color    VARCHAR,             -- the theme's colour on every chart
    position INTEGER
);

CREATE TABLE IF NOT EXISTS case_themes (
    case_id  VARCHAR NOT NULL,
    theme_id VARCHAR NOT NULL,
    evidence VARCHAR[]            -- the words that triggered the tag
);

CREATE TABLE IF NOT EXISTS case_causes (
    case_id  VARCHAR NOT NULL,
    cause    VARCHAR NOT NULL,    -- canonical cause (梱包不良, キャップ不良, …)
    source   VARCHAR,             -- export (the desk's own cause column) / extracted
    evidence VARCHAR[]
);

CREATE TABLE IF NOT EXISTS case_scores (
    case_id         VARCHAR NOT NULL,
    emotion_level   TINYINT,      -- 0 calm … 3 severe
    reasons         VARCHAR[],    -- why, in words
    harassment      VARCHAR[],    -- customer-harassment types seen (MHLW manual)
    repeat_contacts INTEGER       -- contacts by the same customer_key within 30 days before
);

CREATE TABLE IF NOT EXISTS analysis_state (
    case_id     VARCHAR,
    text_hash   VARCHAR USING COMPRESSION 'zstd',  -- the text the terms were analysed from
    rules_hash  VARCHAR           -- themes + causes rules the tags were made with
);

-- Schema 4: inferred (推定) themes of cases no rule tags, and the desk's labels; kept apart from the
-- rule tags in case_themes (migrations/0004_inferred_and_labels.sql says more).
CREATE TABLE IF NOT EXISTS case_inferred_themes (
    case_id     VARCHAR NOT NULL,
    theme_id    VARCHAR NOT NULL,
    confidence  DOUBLE,           -- the classifier's probability for the theme, 0..1
    words       VARCHAR[]         -- the case's lemmas that pushed most towards the theme, strongest first
);

CREATE TABLE IF NOT EXISTS case_labels (
    case_id     VARCHAR NOT NULL,
    themes      VARCHAR[] NOT NULL,  -- theme ids the case is about, the primary first; [] when none applies
    negative    BOOLEAN,             -- the customer evaluates something negatively
    anger       TINYINT,             -- 0 none .. 3 furious; NULL when the text does not allow a judgement
    shown       VARCHAR[],           -- the rule themes the case had when it was labelled
    labelled_by VARCHAR NOT NULL,    -- the acting user (access.Actor.user_id)
    labelled_at TIMESTAMP NOT NULL
);

-- Schema 3: the summary tables (sum_case_flow, sum_stints, sum_daily, sum_chains) are defined in
-- migrations/0003_summaries.sql, which pipelines/store/summaries.py also runs for a new store.
