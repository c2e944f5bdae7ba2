-- Parsing and masking macros, recreated on every writer connection (they are pure functions).

-- Full-width digits and separators to ASCII, weekday marks and 午前/午後 removed.
CREATE OR REPLACE TEMP MACRO kk_ascii_date(s) AS
    regexp_replace(
        regexp_replace(
            translate(trim(s), '０１２３４５６７８９／：－．　Ｔ（）', '0123456789/:-. T()'),
            '\((月|火|水|木|金|土|日)\)|午前|午後', '', 'g'),
        '\s+', ' ', 'g');

-- 令和7年4月1日 / R7.4.1 / 平成31年… → Gregorian "2025-4-1…"; anything else unchanged.
CREATE OR REPLACE TEMP MACRO kk_wareki(s) AS
    CASE WHEN regexp_matches(s, '^(令和|平成|昭和|R|H|S)\s*(元|\d{1,2})\s*[年./-]') THEN
        CAST(
            CASE regexp_extract(s, '^(令和|平成|昭和|R|H|S)', 1)
                WHEN '令和' THEN 2018 WHEN 'R' THEN 2018
                WHEN '平成' THEN 1988 WHEN 'H' THEN 1988
                ELSE 1925 END
            + CASE WHEN regexp_extract(s, '^(?:令和|平成|昭和|R|H|S)\s*(元|\d{1,2})', 1) = '元' THEN 1
                   ELSE CAST(regexp_extract(s, '^(?:令和|平成|昭和|R|H|S)\s*(\d{1,2})', 1) AS INTEGER) END
        AS VARCHAR) || '-' || regexp_replace(s, '^(令和|平成|昭和|R|H|S)\s*(元|\d{1,2})\s*[年./-]\s*', '')
    ELSE s END;

-- Kanji and slash/dot dates to one dash form without offset or fraction: "2025-4-1 9:05:00".
CREATE OR REPLACE TEMP MACRO kk_canonical_date(s) AS
    rtrim(translate(
        regexp_replace(regexp_replace(regexp_replace(
            replace(replace(replace(replace(replace(replace(kk_wareki(s), '年', '-'), '月', '-'), '日', ' '), '時', ':'), '分', ':'), '秒', ''),
            '(\d)T(\d)', '\1 \2'),
            '(:\d{2})\.\d+', '\1'),
            '\s*(Z|[+-]\d{2}:?\d{2})$', ''),
        '/.', '--'), ': ');

-- Offset of an ISO timestamp in minutes (NULL when there is none).
CREATE OR REPLACE TEMP MACRO kk_offset_minutes(s) AS
    CASE
        WHEN regexp_matches(s, '\d:\d{2}(:\d{2}(\.\d+)?)?\s*Z$') THEN 0
        WHEN regexp_matches(s, '\d:\d{2}(:\d{2}(\.\d+)?)?\s*[+-]\d{2}:?\d{2}$') THEN
            (CASE WHEN regexp_extract(s, '([+-])\d{2}:?\d{2}$', 1) = '-' THEN -1 ELSE 1 END)
            * (CAST(regexp_extract(s, '[+-](\d{2}):?\d{2}$', 1) AS INTEGER) * 60
               + CAST(regexp_extract(s, '[+-]\d{2}:?(\d{2})$', 1) AS INTEGER))
    END;

CREATE OR REPLACE TEMP MACRO kk_excel_serial(s) AS
    CASE WHEN regexp_full_match(s, '\d{5}(\.\d+)?') AND CAST(s AS DOUBLE) BETWEEN 29221 AND 73051
         THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(CAST(s AS DOUBLE) * 86400) AS BIGINT) * 1000000)
    END;

-- US month-first dates with a four-digit year (3/4/2024 9:12 PM, as US exports write them: NYC 311,
-- Salesforce and Zendesk in a US locale) come last: Japanese exports never put the year at the end.
CREATE OR REPLACE TEMP MACRO kk_strptime(c) AS
    try_strptime(c, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y-%m-%d %H', '%Y-%m-%d', '%Y%m%d', '%Y%m%d %H:%M:%S', '%Y%m%d %H:%M',
                     '%m-%d-%Y %I:%M:%S %p', '%m-%d-%Y %I:%M %p', '%m-%d-%Y %H:%M:%S', '%m-%d-%Y %H:%M', '%m-%d-%Y']);

-- The slow path: any supported date text → naive Asia/Tokyo TIMESTAMP, or NULL.
-- Plain expressions only: a macro with a subquery becomes a correlated join per use.
CREATE OR REPLACE TEMP MACRO kk_parse_any(s) AS
    coalesce(
        kk_excel_serial(kk_ascii_date(s)),
        CAST(kk_strptime(kk_canonical_date(kk_ascii_date(s))) AS TIMESTAMP)
            + CASE WHEN s LIKE '%午後%' AND hour(CAST(kk_strptime(kk_canonical_date(kk_ascii_date(s))) AS TIMESTAMP)) < 12
                   THEN INTERVAL 12 HOUR ELSE INTERVAL 0 HOUR END
            + to_minutes(CAST(540 - coalesce(kk_offset_minutes(kk_ascii_date(s)), 540) AS BIGINT)));

-- Fast path for the common export formats first; the slow path only where it fails.
CREATE OR REPLACE TEMP MACRO kk_parse_ts(raw) AS
    CASE WHEN nullif(trim(raw), '') IS NULL THEN NULL
         ELSE coalesce(CAST(try_strptime(trim(raw), ['%Y/%m/%d %H:%M', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M:%S',
                                                     '%Y-%m-%d %H:%M', '%Y/%m/%d', '%Y-%m-%d']) AS TIMESTAMP),
                       kk_parse_any(raw))
    END;

-- Timestamp only when plausible for a case export.
CREATE OR REPLACE TEMP MACRO kk_plausible(t) AS CASE WHEN year(t) BETWEEN 1980 AND 2100 THEN t END;
CREATE OR REPLACE TEMP MACRO kk_ts(raw) AS kk_plausible(kk_parse_ts(raw));

-- Full-width ASCII and hyphen variants folded, so PII regexes see one form (cheap stand-in for NFKC
-- on short cells such as extra columns; free text gets real NFKC in Python). Letters too: a
-- full-width e-mail (ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｊｐ) is an e-mail.
CREATE OR REPLACE TEMP MACRO kk_fold(s) AS
    translate(s, '０１２３４５６７８９＠．－（）＋　‐‑‒–—―−﹣＿％ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ',
                 '0123456789@.-()+ --------_%ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');

-- A cell as a value: NULL when empty or blank. DuckDB's trim() scans the whole string for Unicode
-- spaces, which is costly on long texts; only cells that start or end with a space need it.
CREATE OR REPLACE TEMP MACRO kk_cell(s) AS
    CASE WHEN starts_with(s, ' ') OR ends_with(s, ' ') OR starts_with(s, '　') OR ends_with(s, '　')
              OR starts_with(s, chr(160)) OR ends_with(s, chr(160))
         THEN nullif(trim(s), '') ELSE nullif(s, '') END;
