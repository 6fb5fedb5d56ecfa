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


def test_a_frame_written_as_csv_reads_back_as_written_value_by_value(warehouse_url):
    """``csv_rows`` gives COPY the rows that psycopg's ``write_row`` gives it value by value (the way copy_rows
    wrote every frame before): the same NULLs beside empty texts, texts CSV could confuse, the same doubles to the
    last bit, booleans, dates, and integers held by pandas in every way the computed tables hold them."""
    import numpy as np

    from gmoda_assets.lib.frames import csv_rows

    with psycopg.connect(warehouse_url) as conn:
        frame = query_frame(conn, _ROWS).drop(columns=["big"]).astype({"small": "Int64"})  # as written: ints
        frame["ratio"] = [1 / 3, np.nan, 5e-324, -0.0]  # a NaN is missing, as copy_rows has always taken it
        frame["counted"] = pd.array([3, None, 5, 2**40], dtype="Int64")
        frame["whole"] = pd.Series([3, None, 5, 7], dtype=object)
        frame["nothing"] = None
        columns = ("id bigint, small smallint, txt text, flag boolean, day date, ratio float8, code varchar, "
                   "always boolean, counted bigint, whole integer, nothing text")
        conn.execute(f"CREATE TEMP TABLE by_csv ({columns}); CREATE TEMP TABLE by_value ({columns})")
        with conn.cursor().copy("COPY by_csv FROM STDIN (FORMAT csv)") as copy:
            copy.write(csv_rows(frame))
        values = frame.astype(object)
        with conn.cursor().copy("COPY by_value FROM STDIN") as copy:
            for row in values.where(values.notna(), None).itertuples(index=False, name=None):
                copy.write_row(row)
        differing = conn.execute("(TABLE by_csv EXCEPT ALL TABLE by_value) UNION ALL "
                                 "(TABLE by_value EXCEPT ALL TABLE by_csv)").fetchall()
        written = conn.execute("SELECT txt, ratio::text, counted FROM by_csv ORDER BY id").fetchall()
    assert differing == [] and len(written) == 4
    assert [r[0] for r in written] == ["a", "", None, 'comma, "quote"\nnext line']
    assert [r[1] for r in written] == [str(1 / 3), None, "5e-324", "-0"] and written[1][2] is None
    stamped = pd.DataFrame({"id": [1], "stamp": [pd.Timestamp("2026-11-27 10:00", tz="UTC")]})
    assert csv_rows(stamped) is None and csv_rows(pd.DataFrame({"blob": [b"\x00"]})) is None  # value by value
