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
