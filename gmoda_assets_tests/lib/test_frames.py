"""A query read through COPY gives the frame that fetching its rows would, value for value and dtype for dtype."""

import pandas as pd
import psycopg
import pytest

from gmoda_assets.lib.frames import query_frame

# Every kind query_frame reads, with the values CSV could confuse: NULL beside the empty text, text with commas,
# quotes and newlines, text that looks like a number or a null marker, columns with and without nulls.
_ROWS = """
    SELECT * FROM (VALUES
        (1, 10::smallint, 7::bigint, 'a'::text, true, DATE '2024-08-31', 0.1::float8, 'x'::varchar, true),
        (2, NULL, 8, '', NULL, NULL, NULL, 'NULL', false),
        (3, 30, 9, NULL, false, DATE '1999-01-01', -2.5e-300, 'NA', true),
        (4, 40, 10, 'comma, "quote"' || chr(10) || 'next line', true, DATE '2000-02-29', 1e300, '007', false)
    ) AS t(id, small, big, txt, flag, day, ratio, code, always)
    ORDER BY id"""


def _fetched(conn, query) -> pd.DataFrame:
    cursor = conn.execute(query)
    return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])


@pytest.mark.parametrize("query", [_ROWS, f"SELECT * FROM ({_ROWS}) AS r WHERE false",
                                   f"SELECT id, code FROM ({_ROWS}) AS r WHERE id > 1"])
def test_query_frame_equals_the_fetched_rows(query, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        fetched, read = _fetched(conn, query), query_frame(conn, query)
    pd.testing.assert_frame_equal(read, fetched, check_exact=True)
    if len(fetched) == 4:  # the cases above are really there to compare
        assert read["txt"].isna().tolist() == [False, False, True, False] and read.loc[1, "txt"] == ""
        assert read.loc[3, "txt"].count("\n") == 1 and read["code"].tolist() == ["x", "NULL", "NA", "007"]
        assert read["flag"].tolist() == [True, None, False, True]


def test_query_frame_refuses_a_type_it_does_not_read(warehouse_url):
    with psycopg.connect(warehouse_url) as conn, pytest.raises(ValueError, match=r"stamp \(type 1184\)"):
        query_frame(conn, "SELECT 1 AS id, now() AS stamp")
