"""Records in and results out: between PostgreSQL and the in-process DuckDB the linkage runs in.

Both ways go through COPY (never a row at a time) and a temporary file of the step's own, removed when the
step ends: PostgreSQL streams a query's rows out as CSV, DuckDB reads the file with the columns' types; DuckDB
writes a result as CSV and PostgreSQL copies it in. Keyed pseudonyms (32 hex digits) arrive in DuckDB as their
first 64 bits, an unsigned integer: equality is all the linkage asks of them, a clash between two of a few
million values has odds of about one in a million million, and they take a quarter of the memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg import Connection, sql

from gmoda_assets.conform.linkage_features import COLUMNS as FEATURES
from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.linkage.config import LinkageConfig
from gmoda_assets.linkage.engine import RECORDS

_DUCKDB_TYPES = {"text": "VARCHAR", "smallint": "SMALLINT", "integer": "INTEGER", "bigint": "BIGINT",
                 "double precision": "DOUBLE", "boolean": "BOOLEAN", "timestamp with time zone": "TIMESTAMPTZ"}


def record_columns(config: LinkageConfig) -> dict[str, str]:
    """Column -> PostgreSQL type of the records the linkage reads: feed, record key, where it was delivered (its
    drop's rank among the drops and its row there), the exact identifiers, the features and the household
    columns."""
    staged = {c: "text" for c in config.staged_columns}
    features = {c: t for c, (t, _) in FEATURES.items() if c not in ("feed_id", "record_key")}
    return {"feed_id": "text", "record_key": "text", **_WHERE_DELIVERED, **staged, **features}


_WHERE_DELIVERED = {"drop_rank": "integer", "_row_number": "integer"}
# Each drop's rank among all drops by its id (<partner>.<feed>/<file name>@<hash of the file's bytes>): the same under
# any key, where record keys are keyed pseudonyms, and whatever order the drops were loaded in.
_DROP_RANKS = sql.SQL('SELECT drop_id, row_number() OVER (ORDER BY drop_id COLLATE "C")::integer AS drop_rank '
                      'FROM ops.drops')


def records_query(config: LinkageConfig) -> sql.Composable:
    """Every record of staging.linkage_features with where its feed's staging table says it was delivered and the
    columns that table holds for the linkage (exact identifiers, household columns; null where the feed has none)."""
    staged = config.staged_columns
    selects = [sql.SQL("SELECT {feed} AS feed_id, record_key, _drop_id, {columns} FROM {table}").format(
        feed=sql.Literal(c.feed_id), table=sql.Identifier("staging", staging_table(c)),
        columns=sql.SQL(", ").join([sql.Identifier("_row_number"), *(
            sql.Identifier(n) if n in config.staged(c.kind) else sql.SQL("NULL::text AS {}").format(sql.Identifier(n))
            for n in staged)]))
        for c in feed_contracts()]
    source = {**dict.fromkeys(staged, "i"), "_row_number": "i", "drop_rank": "d"}
    # Only the digits DuckDB keeps of a pseudonym (``load``) leave PostgreSQL: a third less to copy.
    select = sql.SQL(", ").join(
        sql.SQL("left({}, {}) AS {}").format(sql.Identifier(source.get(c, "f"), c), sql.Literal(_KEPT_HEX),
                                             sql.Identifier(c)) if c.endswith("_pseudonym")
        else sql.Identifier(source.get(c, "f"), c) for c in record_columns(config))
    return sql.SQL("SELECT {} FROM staging.linkage_features AS f LEFT JOIN ({}) AS i USING (feed_id, record_key) "
                   "LEFT JOIN ({}) AS d ON d.drop_id = i._drop_id").format(
        select, sql.SQL(" UNION ALL ").join(selects), _DROP_RANKS)


_KEPT_HEX = 16  # of a pseudonym's 32 hex digits: 64 bits


def _hashed(column: str) -> str:
    return f"('0x' || left({column}, {_KEPT_HEX}))::UBIGINT"


def load(conn: Connection, duck, query: sql.Composable, table: str, columns: dict[str, str],
         hashed: tuple[str, ...] = ()) -> int:
    """Copy the rows of ``query`` (columns ``columns``, name -> PostgreSQL type) into the DuckDB table
    ``table``; columns in ``hashed`` (pseudonyms) become the UBIGINT of their first 16 hex digits."""
    with tempfile.TemporaryDirectory(prefix="gmoda-linkage-") as folder:
        path = Path(folder) / f"{table}.csv"
        with path.open("wb") as out, conn.cursor().copy(
                sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy:
            for chunk in copy:
                out.write(chunk)
        kept = {c: "UBIGINT" if c in hashed else _DUCKDB_TYPES[t] for c, t in columns.items()}
        duck.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(f'{c} {t}' for c, t in kept.items())})")
        if path.stat().st_size:  # DuckDB refuses an empty file, which is no rows
            types = ", ".join(f"'{c}': '{_DUCKDB_TYPES[t]}'" for c, t in columns.items())
            select = ", ".join(_hashed(c) if c in hashed else c for c in columns)
            duck.execute(f"INSERT INTO {table} SELECT {select} FROM read_csv('{path}', header = false, "
                         f"columns = {{{types}}}, nullstr = '', quote = '\"', escape = '\"')")
    return duck.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def load_records(conn: Connection, duck, config: LinkageConfig, query: sql.Composable | None = None) -> int:
    """Every record (``records_query``, or ``query`` with the same columns) into the DuckDB table ``RECORDS``,
    numbered (``record_id``) by where it was delivered: its drop (by the drop's id, not by when it was loaded),
    then its row there. Never by a keyed pseudonym such as the record key: the numbers name the exact groups and
    profiles the model is trained on (Splink draws its seeded sample for u by them), so numbering by a pseudonym
    made the people depend on the key, which every new platform home generates afresh (the same drops gave
    290,953, 291,210 and 291,420 people at Greater Manchester scale)."""
    columns = record_columns(config)
    count = load(conn, duck, records_query(config) if query is None else query, "loaded", columns,
                 hashed=tuple(c for c in columns if c.endswith("_pseudonym")))
    # The record key decides only for a record its staging table no longer holds (staging published again after
    # the features were built): it has no drop to be placed by.
    duck.execute(f"CREATE OR REPLACE TABLE {RECORDS} AS SELECT row_number() OVER (ORDER BY drop_rank, _row_number, "
                 f"feed_id, record_key) AS record_id, * FROM loaded")
    duck.execute("DROP TABLE loaded")
    return count


def store(duck, query: str, conn: Connection, table: sql.Composable, columns: list[str]) -> int:
    """Copy the rows of the DuckDB ``query`` into the PostgreSQL ``table`` (its ``columns``)."""
    with tempfile.TemporaryDirectory(prefix="gmoda-linkage-") as folder:
        path = Path(folder) / "out.csv"
        duck.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER false)")
        with path.open("rb") as source, conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                table, sql.SQL(", ").join(map(sql.Identifier, columns)))) as copy:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
    return duck.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]


@contextmanager
def foreign_keys_checked_once(conn: Connection, tables: list[sql.Identifier]) -> Iterator[None]:
    """Within the caller's transaction, the foreign keys of ``tables`` dropped and added back on leaving, which
    checks every row in one join. Kept through a COPY, a key checks each row by a query of its own: for the
    2.1 million records of linked.linkage_output at Greater Manchester scale that took longer (10-17 s) than the
    COPY itself (6 s). No other session sees a table without its keys; dropping one locks the table it
    references (linked.model_runs) until the transaction ends, so the keys are dropped first, before any
    other lock is taken, and readers of that table wait rather than deadlock."""
    keys = conn.execute("""SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)
                           FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid
                           JOIN pg_namespace AS n ON n.oid = c.relnamespace
                           WHERE k.contype = 'f' AND k.conrelid = ANY(%s::regclass[]) ORDER BY 1, 2, 3""",
                        ([t.as_string(conn) for t in tables],)).fetchall()
    for schema, table, name, _ in keys:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(schema, table),
                                                                         sql.Identifier(name)))
    yield
    for schema, table, name, definition in keys:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.Identifier(schema, table), sql.Identifier(name), sql.SQL(definition)))
