-- Schema 3 (issue 15): the summaries: what the pages read instead of scanning cases, case_events and
-- case_terms. Derived data only: pipelines/store/summaries.py keeps them equal to a computation from
-- scratch, in the transaction of every write (a load, an analysis, a re-tag), for the cases it
-- touched; the migration to schema 3 builds them for a store of an earlier release.

-- One row per case: the flow facts that need case_events (the escalation definition is
-- definitions.escalation_sql; the latest event says which cases an as-of view must recompute).
CREATE TABLE IF NOT EXISTS sum_case_flow (
    case_id         VARCHAR NOT NULL,
    received_at     TIMESTAMP,
    closed_at       TIMESTAMP,
    last_event_at   TIMESTAMP,    -- latest time-stamped event of any source (NULL: none)
    esc_first_at    TIMESTAMP,    -- first time-stamped escalation event (NULL: none)
    esc_untimed     BOOLEAN       -- an escalation without a time (a route column) exists
);

-- One row per case: its content words as 再発's near-duplicate check compares them (lemmas, a negated
-- one marked with ¬, without numbers and masked data), in order of receipt.
CREATE TABLE IF NOT EXISTS sum_termsets (
    received_at TIMESTAMP,
    case_id     VARCHAR NOT NULL,
    terms       VARCHAR[]
);

-- The holding intervals of every case as 部門フロー measures them (flow_stints.sql) with every stored
-- event seen: the case's receipt, then the columns of the TEMP table flow_stints (summaries.STINT_COLUMNS).
-- Rows are written in order of receipt, so a period reads only the row groups it needs.
CREATE TABLE IF NOT EXISTS sum_stints (
    received_at      TIMESTAMP,
    case_id          VARCHAR NOT NULL,
    n                INTEGER,
    department       VARCHAR,
    prev_department  VARCHAR,
    next_department  VARCHAR,
    next2_department VARCHAR,
    entry_action     VARCHAR,
    next_action      VARCHAR,
    start_at         TIMESTAMP,
    end_at           TIMESTAMP,
    is_last          BOOLEAN,
    source           VARCHAR,
    last_event_at    TIMESTAMP,
    timed            BOOLEAN,
    hold_hours       DOUBLE,
    returned         BOOLEAN
);

-- Daily case counts per value of each dimension; any 基準日 and period reads them.
-- dimension: all (key NULL) | theme | cause | theme_nocause (the themes of a case without any cause)
--            | product | channel | department. key NULL = the case has none (未分類, 原因未特定, 未記入).
CREATE TABLE IF NOT EXISTS sum_daily (
    day       DATE NOT NULL,
    dimension VARCHAR NOT NULL,
    key       VARCHAR,
    cases     INTEGER,            -- distinct cases
    severe    INTEGER,            -- of them with emotion level >= 2
    concern   INTEGER,            -- of them with emotion level >= 1
    repeats   INTEGER             -- of them with repeat_contacts > 0
);

-- Repeat-contact chains (再発 / repeat-contact detector): one customer's contacts on one cause or
-- theme, each within definitions.REPEAT_WINDOW_DAYS of the previous; chains of two or more only.
CREATE TABLE IF NOT EXISTS sum_chains (
    customer_key VARCHAR NOT NULL,
    dimension    VARCHAR NOT NULL,  -- cause / theme
    key          VARCHAR NOT NULL,
    chain        INTEGER NOT NULL,  -- 0, 1, … in time order per customer and subject
    case_id      VARCHAR NOT NULL,
    received_at  TIMESTAMP
);
