"""Dates parsed inside PostgreSQL from each contract format: real calendar dates only."""

import psycopg
import pytest

from gmoda_assets.lib.sql_dates import parsed_date


@pytest.mark.parametrize(("fmt", "value", "expected"), [
    ("%d/%m/%Y", "29/02/2020", "2020-02-29"),
    ("%d/%m/%Y", "29/02/2019", None),
    ("%d/%m/%Y", "31/04/2019", None),
    ("%d/%m/%Y", "1/3/2019", None),  # not as strftime writes it
    ("%y%m%d", "190301", "2019-03-01"),
    ("%Y-%m-%d", "2019-13-01", None),
    ("%d-%b-%Y", "05-Sep-2018", "2018-09-05"),
    ("%d-%b-%Y", "05-Sept-2018", None),
    ("%d.%m.%Y", "31.12.2000", "2000-12-31"),
    ("%d/%m/%Y %H:%M", "18/09/2020 19:57", "2020-09-18"),
    ("%d/%m/%Y %H:%M", "18/09/2020 25:57", None),
    ("%Y-%m-%d %H:%M:%S", "1900-02-29 00:00:00", None),
    ("%Y-%m-%d %H:%M:%S", "2000-02-29 10:00:00", "2000-02-29"),
    ("%Y-%m-%d", "not a date", None),
])
def test_dates_parse_to_real_calendar_dates(fmt, value, expected, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        got = conn.execute(f"SELECT ({parsed_date('r.v', fmt)})::text FROM (SELECT %s::text AS v) AS r",
                           (value,)).fetchone()[0]
    assert got == expected
