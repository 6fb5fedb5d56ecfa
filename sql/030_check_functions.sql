-- Functions that data-quality checks call inside PostgreSQL, so that checks run where the data is.
-- Plain SQL (no contrib extensions): they must run on the embedded server too.

-- NHS number: 10 digits (spaces and hyphens allowed between groups) with a valid modulus-11 check digit.
CREATE OR REPLACE FUNCTION ops.nhs_number_is_valid(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH d AS (SELECT regexp_replace(value, '[\s-]', '', 'g') AS n)
    SELECT CASE WHEN n !~ '^\d{10}$' THEN false
           ELSE (
               SELECT CASE (11 - sum(substr(n, i, 1)::int * (11 - i)) % 11)
                          WHEN 11 THEN 0 WHEN 10 THEN -1
                          ELSE 11 - sum(substr(n, i, 1)::int * (11 - i)) % 11 END
               FROM generate_series(1, 9) AS i
           ) = substr(n, 10, 1)::int
           END
    FROM d
$$;

-- UK postcode shape, ignoring case and spaces (outward code, then digit and two letters).
CREATE OR REPLACE FUNCTION ops.postcode_is_valid(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT upper(regexp_replace(value, '\s', '', 'g')) ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}$'
$$;

-- Whether year, month (number or English name) and day make a real calendar date.
CREATE OR REPLACE FUNCTION ops.date_parts_are_valid(y text, m text, d text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH p AS (
        SELECT CASE WHEN length(y) = 2 THEN 2000 + y::int ELSE y::int END AS yy,
               CASE WHEN m ~ '^\d+$' THEN m::int
                    ELSE array_position(ARRAY['JAN','FEB','MAR','APR','MAY','JUN','JUL','AUG','SEP','OCT','NOV','DEC'],
                                        upper(left(m, 3))) END AS mm,
               d::int AS dd
    )
    SELECT coalesce(mm BETWEEN 1 AND 12 AND yy BETWEEN 1 AND 9999 AND dd >= 1
                    AND dd <= extract(day FROM make_date(yy, mm, 1) + interval '1 month - 1 day'), false)
    FROM p
$$;

-- HMAC-SHA256 from the built-in sha256(): the caller passes the key's inner and outer pads (derived outside
-- the database), so pseudonyms need no extension and the key is never stored here.
CREATE OR REPLACE FUNCTION ops.hmac_sha256(ipad bytea, opad bytea, message text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(opad || sha256(ipad || convert_to(message, 'UTF8'))), 'hex')
$$;

-- American Soundex (Robert -> R163, Ashcraft -> A261): a phonetic code for fuzzy name matching in linkage.
CREATE OR REPLACE FUNCTION ops.soundex(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH letters AS (SELECT upper(regexp_replace(value, '[^A-Za-z]', '', 'g')) AS n),
    -- H and W do not separate letters with the same code; vowels (code 0) do, then are dropped.
    codes AS (SELECT n, regexp_replace(translate(left(n, 1) || regexp_replace(substr(n, 2), '[HW]', '', 'g'),
                                                 'AEIOUYBFPVCGJKQSXZDTLMNR', '000000111122222222334556'),
                                       '(\d)\1+', '\1', 'g') AS d FROM letters)
    SELECT CASE WHEN n = '' THEN NULL ELSE left(rpad(left(n, 1) || replace(substr(d, 2), '0', ''), 4, '0'), 4) END
    FROM codes
$$;

-- A real calendar date from year, month (number or English name) and day parts, or null.
CREATE OR REPLACE FUNCTION ops.date_from_parts(y text, m text, d text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ops.date_parts_are_valid(y, m, d) THEN
        make_date(CASE WHEN length(y) = 2 THEN 2000 + y::int ELSE y::int END,
                  CASE WHEN m ~ '^\d+$' THEN m::int
                       ELSE array_position(ARRAY['JAN','FEB','MAR','APR','MAY','JUN','JUL','AUG','SEP','OCT','NOV','DEC'],
                                           upper(left(m, 3))) END,
                  d::int)
    END
$$;
