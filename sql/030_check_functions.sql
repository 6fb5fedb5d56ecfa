-- Functions that data-quality checks call inside PostgreSQL, so that checks run where the data is.
-- Plain SQL (no contrib extensions): they must run on the embedded server too.

-- NHS number: 10 digits (spaces and hyphens allowed between groups) with a valid modulus-11 check digit.
-- One expression, no subquery: it runs for every row of large tables. [0-9], not \d: under an ICU locale \d
-- also matches other scripts' digits, which ::int refuses. PostgreSQL inlines these functions, copying an argument
-- into each place it is used: hence the check digit on its own, so that a value already written as ten digits
-- (most are) is not normalised by regexp_replace eleven times, and length plus '^[0-9]+$', which PostgreSQL's regex
-- engine matches in half the time of '^[0-9]{10}$'.
CREATE OR REPLACE FUNCTION ops.nhs_check_digit_holds(n text) RETURNS boolean  -- n: ten ASCII digits
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (11 - (substr(n, 1, 1)::int * 10 + substr(n, 2, 1)::int * 9 + substr(n, 3, 1)::int * 8
                  + substr(n, 4, 1)::int * 7 + substr(n, 5, 1)::int * 6 + substr(n, 6, 1)::int * 5
                  + substr(n, 7, 1)::int * 4 + substr(n, 8, 1)::int * 3 + substr(n, 9, 1)::int * 2) % 11) % 11
           = substr(n, 10, 1)::int  -- a remainder giving check digit 10 never equals a digit: invalid
$$;

CREATE OR REPLACE FUNCTION ops.nhs_digits_are_valid(n text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(n) = 10 AND n ~ '^[0-9]+$' THEN ops.nhs_check_digit_holds(n) ELSE false END
$$;

CREATE OR REPLACE FUNCTION ops.nhs_number_is_valid(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(value) = 10 AND value ~ '^[0-9]+$' THEN ops.nhs_check_digit_holds(value)
                ELSE ops.nhs_digits_are_valid(regexp_replace(value, '[\s-]', '', 'g')) END
$$;

-- UK postcode shape, ignoring case and spaces (outward code, then digit and two letters).
CREATE OR REPLACE FUNCTION ops.postcode_is_valid(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT upper(regexp_replace(value, '\s', '', 'g')) ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}$'
$$;

-- HMAC-SHA256 from the built-in sha256(): the caller passes the key's inner and outer pads (derived outside
-- the database, and read from a session's temporary table, never sent as text or parameters: see
-- gmoda_assets/lib/pseudonymise.py), so pseudonyms need no extension and the key is never stored here.
-- STABLE, as convert_to() is: PostgreSQL inlines it into the calling statement only when the body is no more
-- volatile than the declaration, and inlined it takes a third less time per row than called.
CREATE OR REPLACE FUNCTION ops.hmac_sha256(ipad bytea, opad bytea, message text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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

-- Retired: dates are now parsed by expressions generated from each contract's format (gmoda_assets/lib/sql_dates.py),
-- which PostgreSQL runs far faster than a SQL function per value.
DROP FUNCTION IF EXISTS ops.date_from_parts(text, text, text);
DROP FUNCTION IF EXISTS ops.date_parts_are_valid(text, text, text);
