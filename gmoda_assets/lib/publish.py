"""Write, check, publish: how a table past raw (a ``TableSpec``) replaces its live version.

1. Write: the new version is built as a candidate, ``<schema>.<table>__candidate`` (an unlogged table with the
   live table's columns and NOT NULLs, readable by no analyst; logged when it is to become a partition), by one
   INSERT ... SELECT inside PostgreSQL, or, for a ``Computed`` table, by COPY of the rows its function returns.
2. Check: the table's whole suite runs on the candidate (Great Expectations, inside PostgreSQL).
3. Publish: only when no blocking check fails do the candidate's rows replace the live table's, in one
   transaction. A rebuilt table is truncated and refilled; a conformed fact, a partitioned table, has its one
   partition replaced by the candidate (``_attach``: a foreign key checked once per key rather than by a trigger
   per row, and no lock that a reader of a dimension waits for); a dimension is upserted on its surrogate key and
   never loses a row, so the facts' foreign keys keep holding. When a blocking check fails, the live table keeps
   its last good version, the candidate stays for inspection until the next build, and the run fails naming the
   check and a sample of its failing rows.

The live table is never dropped or renamed, so its foreign keys, grants, owner and dependants stay as they are,
and publishing needs no more than the transformer role has: CREATE on the schema (for the candidate) and
SELECT, INSERT, UPDATE and TRUNCATE on the table (and ownership of a partitioned one, which it has). The table's and columns' COMMENTs are set from the spec when
the warehouse is set up (``gmoda db init``), and again in the publish transaction should they differ.

A table whose ``CREATE TABLE`` is its spec's (staging) has its candidate made from the spec, and is made (or
remade, should the spec's columns have changed) in the publish transaction. Its companions (staging's rejects)
are written, checked and published with it; a check names a companion's rows as ``{batch<suffix>}``
(``{batch__rejects}`` for ``<table>__rejects``), the candidate's in a build and the live table's when the check
runs on its own, or, when it checks only a companion's rows (``CheckDef.companion``), validates them as its batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from dagster import AssetCheckResult, AssetExecutionContext, DagsterLogManager
from psycopg import Connection, errors, sql

from gmoda_assets.lib.frames import csv_rows
from gmoda_assets.lib.quality import CheckDef, Table, validate_in_postgres
from gmoda_assets.lib.tables import (CHECK_FIGURES, UNKNOWN, Computed, Query, TableSpec, Through, Written,
                                     comment_changes, create_table, shape_changes)
from gmoda_assets.resources import Warehouse

SAMPLE = 5  # failing rows named in a refusal
# Default privileges (sql/040_roles.sql) let analysts read every new table in synthetic and mart; a candidate
# is not published, so they lose it at once.
ANALYST_ROLE = "gmoda_analyst"


@dataclass
class Build:
    metadata: dict
    checks: list[AssetCheckResult]
    refused: str | None  # why the candidate was not published


def _tables(spec: TableSpec) -> tuple[sql.Identifier, sql.Identifier]:
    return sql.Identifier(*spec.key), sql.Identifier(spec.schema, f"{spec.name}__candidate")


def _names(names, prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, n) if prefix else sql.Identifier(n) for n in names)


def write_check_publish(spec: TableSpec, checks: list[CheckDef], warehouse: Warehouse,
                        context: AssetExecutionContext) -> Build:
    """Build ``spec``'s table as a candidate, check it with ``checks`` and publish it unless a blocking one fails."""
    live, candidate = _tables(spec)
    tables = [spec, *spec.companions]
    candidates = {t.name: _tables(t)[1] for t in tables}
    with warehouse.connect(autocommit=True) as conn:
        # One build of a table at a time: a second would rebuild the candidate under the first one's checks.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (spec.qualified_name,))
        with conn.transaction():
            partitioned = {table.name: _partitioned(conn, table) for table in tables}
            for table in tables:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(candidates[table.name]))
                conn.execute(create_table(table, candidates[table.name], unlogged=True) if table.primary_key else
                             sql.SQL("CREATE {}TABLE {} (LIKE {})").format(
                                 # A partition to be is written to disk as any live table is.
                                 sql.SQL("" if partitioned[table.name] else "UNLOGGED "), candidates[table.name],
                                 _tables(table)[0]))
                conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(candidates[table.name],
                                                                        sql.Identifier(ANALYST_ROLE)))
            if isinstance(spec.source, Computed):
                rows, computed = spec.source.compute(context, conn)
                copy_rows(conn, spec, candidate, rows)
            elif isinstance(spec.source, Written):
                computed = spec.source.write(context, conn, candidates)
            elif isinstance(spec.source, Query) and spec.source.parallel and spec.keys is None:
                _fill_in_parallel(conn, spec, candidate)
                computed = {}
            else:
                conn.execute(_fill(spec, live, candidate))
                computed = {}
            figures = computed.get(CHECK_FIGURES, {})
            metadata = {**_measure(conn, spec, live, candidate),
                        **{k: v for k, v in computed.items() if k != CHECK_FIGURES}}
        results = _validate(spec, checks, warehouse, "__candidate", figures)
        if refused := _refusal(spec, checks, results):
            return Build(metadata, results, refused)
        with conn.transaction():
            for table in tables:
                for change in shape_changes(conn, table) if table.primary_key else ():
                    conn.execute(change)
                if partitioned[table.name]:
                    _attach(conn, table, candidates[table.name])
                    conn.execute(sql.SQL("ANALYZE {}").format(_tables(table)[0]))  # a new partition: no statistics yet
                else:
                    with _indexes_made_after(conn, table):
                        conn.execute(_publish(table, *_tables(table)))
                    conn.execute(sql.SQL("DROP TABLE {}").format(candidates[table.name]))
                _comment(conn, table, context.log)
        for table in tables:
            if not partitioned[table.name]:
                _vacuum(conn, _tables(table)[0])
    return Build(metadata, results, None)


@contextmanager
def _indexes_made_after(conn: Connection, spec: TableSpec) -> Iterator[None]:
    """For a table refilled whole (TRUNCATE, INSERT): its indexes, its primary key's too, dropped before the rows
    go in and made again after, each from all the rows at once rather than an entry per row (Greater Manchester
    scale, 2.1 million rows: linked.person_records 10.5 s -> 4.4 s, staging.linkage_features 6.6 s -> 4.5 s).
    Within the publish transaction, whose TRUNCATE locks the table anyway, so no one sees it without them. Not
    for an upserted dimension (ON CONFLICT needs its key), a table a foreign key references (its key must stay)
    or one the role does not own (publishing asks no more than the rights above): they keep their indexes."""
    found = [] if spec.keys else conn.execute("""
        SELECT n.nspname, t.relname, i.relname, c.conname, pg_get_constraintdef(c.oid), pg_get_indexdef(x.indexrelid)
        FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid
        JOIN pg_namespace AS n ON n.oid = t.relnamespace
        LEFT JOIN pg_constraint AS c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
        WHERE x.indrelid = to_regclass(%s) AND pg_has_role(t.relowner, 'USAGE')
          AND NOT EXISTS (SELECT FROM pg_constraint AS f WHERE f.contype = 'f' AND f.confrelid = x.indrelid)
        ORDER BY i.relname""", (spec.qualified_name,)).fetchall()
    for schema, table, index, constraint, _, _ in found:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(schema, table),
                                                                         sql.Identifier(constraint))
                     if constraint else sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index)))
    yield
    for schema, table, _, constraint, constraint_def, index_def in found:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.Identifier(schema, table), sql.Identifier(constraint), sql.SQL(constraint_def))
                     if constraint else sql.SQL(index_def))


def _vacuum(conn: Connection, live: sql.Identifier) -> None:
    """VACUUM and ANALYZE a table just published, once its transaction has committed (VACUUM runs in none).
    Autovacuum would get to both up to a minute later, but the next step starts at once. The ANALYZE samples the
    table, where counting its rows to decide whether its size had moved read all of it again. Without
    statistics, from an empty warehouse, linked.person was planned as a nested loop probing the 34 staging
    tables for each of person_records' 2.1 million rows (62-96 s at Greater Manchester scale against 19 s).
    Without the vacuum, no page of the rewritten rows is marked all-visible, so an index-only scan fetches every
    row from the table: linked.person's check counting person_records' distinct keys so took 5.9 s against 0.2 s
    (README, "Performance"). The vacuum also sets the rows' hint bits, which the first readers would otherwise."""
    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(live))


def check_live(spec: TableSpec, checks: list[CheckDef], warehouse: Warehouse) -> list[AssetCheckResult]:
    """``checks`` run on the live table, as a check executed on its own does."""
    return _validate(spec, checks, warehouse, "", {})


def _validate(spec: TableSpec, checks: list[CheckDef], warehouse: Warehouse, suffix: str,
              figures: dict[str, dict]) -> list[AssetCheckResult]:
    """``checks`` validated on the tables named ``<table><suffix>`` (the candidates, or the live tables): each on
    the rows it checks, the table's or a companion's (``CheckDef.companion``), so that its row queries read them
    as ``{batch}`` (GE warns of a query that does not, and prints the warning each time it reads the check)."""
    tables = {t.name: Table(t.schema, t.name + suffix) for t in (spec, *spec.companions)}
    rows: dict[str, list[CheckDef]] = {}
    for check in _bound(spec, checks, tables):
        rows.setdefault(check.companion or spec.name, []).append(check)
    results = {r.check_name: r for name, of_rows in rows.items()
               for r in validate_in_postgres(warehouse.sqlalchemy_url, tables[name], of_rows, spec.asset_key,
                                             figures=figures)}
    return [results[c.name] for c in checks]


def _bound(spec: TableSpec, checks: list[CheckDef], tables: dict[str, Table]) -> list[CheckDef]:
    """``checks`` with each companion's rows, ``{batch<suffix>}`` in a row query, read from ``tables``."""
    companions = {c.name: tables[c.name] for c in spec.companions}
    names = {"{batch" + name.removeprefix(spec.name) + "}": sql.Identifier(table.schema, table.name).as_string()
             for name, table in companions.items()}
    if not names:
        return checks

    def bound(value):
        if isinstance(value, str):
            for token, table in names.items():
                value = value.replace(token, table)
        return value

    return [replace(c, expectations=[{**e, "kwargs": {k: bound(v) for k, v in e["kwargs"].items()}}
                                     for e in c.expectations]) for c in checks]


def _select(spec: TableSpec, names: list[str]) -> sql.Composable:
    """The spec's rows: its columns ``names`` computed from the source ``s`` and the dimensions looked up."""
    joins = sql.SQL(" ").join(
        sql.SQL("{through}LEFT JOIN {dimension} AS {alias} ON {alias}.{match} = {source}").format(
            through=_join(lookup.through), dimension=sql.Identifier(*lookup.dimension.split(".")),
            alias=sql.Identifier(name), match=sql.Identifier(lookup.match), source=sql.SQL(lookup.source))
        for name, lookup in spec.lookups.items() if name in names)
    return sql.SQL("SELECT {} FROM ({}) AS s {}").format(
        sql.SQL(", ").join(sql.SQL("{} AS {}").format(spec.expression(n), sql.Identifier(n)) for n in names),
        spec.source.relation(spec), joins)


def _join(through: Through | None) -> sql.Composable:
    if through is None:
        return sql.SQL("")
    return sql.SQL("LEFT JOIN {table} AS {alias} ON {alias}.{match} = {source} ").format(
        table=sql.Identifier(*through.table.split(".")), alias=sql.Identifier(through.alias),
        match=sql.Identifier(through.match), source=sql.SQL(through.source))


def copy_rows(conn: Connection, spec: TableSpec, candidate: sql.Identifier, rows) -> None:
    """COPY a computed table's rows into the candidate: a DataFrame's columns by name, tuples in column order."""
    names = list(spec.columns)
    if hasattr(rows, "itertuples"):  # a pandas DataFrame; missing values (NaN, NaT, None) become NULL
        if sorted(rows.columns) != sorted(names):
            raise ValueError(f"{spec.qualified_name}: the computed rows have columns {', '.join(map(str, rows.columns))}; "
                             f"the table has {', '.join(names)}")
        if (text := csv_rows(rows[names])) is not None:
            with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(candidate, _names(names))) as copy:
                copy.write(text)
            return
        frame = rows[names].astype(object)
        rows = frame.where(frame.notna(), None).itertuples(index=False, name=None)
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(candidate, _names(names))) as copy:
        for number, row in enumerate(rows, start=1):
            if len(row) != len(names):
                raise ValueError(f"{spec.qualified_name}: computed row {number} has {len(row)} values; the table has "
                                 f"{len(names)} columns ({', '.join(names)})")
            copy.write_row(row)


def _fill_in_parallel(conn: Connection, spec: TableSpec, candidate: sql.Identifier) -> None:
    """The candidate's rows computed by CREATE TABLE AS, which PostgreSQL may run on parallel workers, where an
    INSERT ... SELECT runs on one core (PostgreSQL 16), then copied in: for linked.person, the aggregation of 2.1
    million records at Greater Manchester scale, 10-12 s on one core, its rows a seventh of that."""
    names = list(spec.columns)
    rows = sql.Identifier(f"{spec.name}__rows")
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(rows, _select(spec, names)))
    conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(candidate, _names(names), _names(names), rows))


def _fill(spec: TableSpec, live: sql.Identifier, candidate: sql.Identifier) -> sql.Composable:
    names = list(spec.columns)
    if spec.keys is None:
        return sql.SQL("INSERT INTO {} ({}) {}").format(candidate, _names(names), _select(spec, names))
    key, natural = sql.Identifier(spec.keys.key), sql.Identifier(spec.keys.natural)
    assigned = not spec.columns[spec.keys.key].expression
    members = [n for n in names if not (assigned and n == spec.keys.key)]
    # A member already live keeps its key; new members take the next keys, in natural-key order.
    new_key = sql.SQL("coalesce(l.{key}, greatest((SELECT max({key}) FROM {live}), 0) "
                      "+ row_number() OVER (PARTITION BY l.{key} IS NULL ORDER BY m.{natural}))").format(
        key=key, live=live, natural=natural)
    kept = [new_key if assigned and n == spec.keys.key else sql.Identifier("m", n) for n in names]
    retired = [sql.SQL("false") if n == "is_current" else sql.Identifier("l", n) for n in names]
    unknown = [sql.Literal(UNKNOWN if n == spec.keys.key else spec.keys.unknown.get(n)) for n in names]
    return sql.SQL("""
        INSERT INTO {candidate} ({names})
        WITH m AS ({members})
        SELECT {kept} FROM m LEFT JOIN {live} AS l ON l.{natural} = m.{natural}
        UNION ALL
        SELECT {retired} FROM {live} AS l
        WHERE l.{key} <> {unknown_key} AND NOT EXISTS (SELECT FROM m WHERE m.{natural} = l.{natural})
        UNION ALL
        SELECT {unknown}
    """).format(candidate=candidate, names=_names(names), members=_select(spec, members), live=live,
                kept=sql.SQL(", ").join(kept), natural=natural, retired=sql.SQL(", ").join(retired), key=key,
                unknown_key=sql.Literal(UNKNOWN), unknown=sql.SQL(", ").join(unknown))


def _measure(conn: Connection, spec: TableSpec, live: sql.Identifier, candidate: sql.Identifier) -> dict:
    """The candidate's row count, rows whose lookups found nothing (-1), the spec's metrics and, for a
    dimension, its members added, updated and retired."""
    measures = {"dagster/row_count": sql.SQL("count(*)"),
                **{f"rows_unknown_{n.removesuffix('_key')}": sql.SQL("count(*) FILTER (WHERE {} = {})").format(
                    sql.Identifier(n), sql.Literal(UNKNOWN)) for n, lookup in spec.lookups.items()
                   if lookup.unknown is not None},
                **{name: sql.SQL(aggregate) for name, aggregate in spec.metrics.items()}}
    values = conn.execute(sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(measures.values()), candidate)).fetchone()
    metadata = dict(zip(measures, values))
    if spec.keys:
        names = list(spec.columns)
        retiring = sql.SQL("l.is_current AND NOT c.is_current" if "is_current" in spec.columns else "false")
        added, updated, retired = conn.execute(sql.SQL("""
            SELECT count(*) FILTER (WHERE l.{key} IS NULL),
                   count(*) FILTER (WHERE l.{key} IS NOT NULL AND ({c}) IS DISTINCT FROM ({l}) AND NOT ({retiring})),
                   count(*) FILTER (WHERE {retiring})
            FROM {candidate} AS c LEFT JOIN {live} AS l USING ({key}) WHERE c.{key} <> {unknown}
        """).format(key=sql.Identifier(spec.keys.key), c=_names(names, "c"), l=_names(names, "l"), retiring=retiring,
                    candidate=candidate, live=live, unknown=sql.Literal(UNKNOWN))).fetchone()
        metadata.update(members_added=added, members_updated=updated, members_retired=retired)
    return metadata


def _refusal(spec: TableSpec, checks: list[CheckDef], results: list[AssetCheckResult]) -> str | None:
    """Why the candidate may not be published (the failing blocking checks and samples), or None."""
    blocking = {c.name for c in checks if c.blocking}
    failed = [r for r in results if r.check_name in blocking and not r.passed]
    if not failed:
        return None
    lines = [f"{spec.qualified_name} was not published: blocking check(s) {', '.join(r.check_name for r in failed)} "
             f"failed on the candidate. The live table keeps its last good version; the rejected rows stay in "
             f"{spec.qualified_name}__candidate until the next build."]
    for result in failed:
        for detail in result.metadata["results"].value:
            if not detail["success"]:
                sample = "; ".join((detail.get("sample") or [])[:SAMPLE]) or detail.get("error") or (
                    f"observed {detail.get('observed')}")
                lines.append(f"- {result.check_name}: {detail['about']} ({detail['expectation']}), "
                             f"{detail.get('failing_rows', '?')} failing, e.g. {sample}")
    return "\n".join(lines)


def _publish(spec: TableSpec, live: sql.Identifier, candidate: sql.Identifier) -> sql.Composable:
    names = list(spec.columns)
    insert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {}").format(
        live, _names(names), _names(names), candidate)
    if spec.keys is None:
        return sql.SQL("TRUNCATE {}; {}").format(live, insert)
    return sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET ({}) = ROW({}) WHERE ({}) IS DISTINCT FROM ({})").format(
        insert, sql.Identifier(spec.keys.key), _names(names), _names(names, "excluded"), _names(names, "t"),
        _names(names, "excluded"))


def _partitioned(conn: Connection, spec: TableSpec) -> bool:
    """Whether the live table is partitioned: a conformed fact (sql/320_conformed_facts_partitioned.sql), whose
    one partition holds its rows and is replaced by the checked candidate."""
    return conn.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)",
                        (spec.qualified_name,)).fetchone() == (True,)


def _attach(conn: Connection, spec: TableSpec, candidate: sql.Identifier) -> None:
    """Publish a partitioned table's candidate as its one partition, in place of the last one: the old partition is
    dropped, the candidate takes its name, bounds and own constraints (a unique key other than the primary key),
    and attaching it builds its primary key and checks each foreign key with one query, where an INSERT would
    run a trigger per row and key. Readers of the table wait for the commit, as under a TRUNCATE; readers of the
    dimensions never wait: attaching takes SHARE ROW EXCLUSIVE on each (it keeps their rows from changing while
    it checks), and dropping a partition locks no dimension, its foreign keys being the parent's."""
    live = sql.Identifier(*spec.key)
    oid, name, bounds = conn.execute("SELECT c.oid, c.relname::text, pg_get_expr(c.relpartbound, c.oid) "
                                     "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                     "WHERE i.inhparent = %s::regclass", (spec.qualified_name,)).fetchone()
    own = conn.execute("SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s "
                       "AND conparentid = 0 ORDER BY conname", (oid,)).fetchall()
    dimensions = conn.execute("SELECT DISTINCT n.nspname::text, c.relname::text FROM pg_constraint f "
                              "JOIN pg_class c ON c.oid = f.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE f.conrelid = %s::regclass AND f.contype = 'f' ORDER BY 1, 2",
                              (spec.qualified_name,)).fetchall()
    # Taken up front in one order: two facts published at once wait for each other rather than deadlock.
    for dimension in dimensions:
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(*dimension)))
    partition = sql.Identifier(spec.schema, name)
    conn.execute(sql.SQL("DROP TABLE {}").format(partition))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(candidate, sql.Identifier(name)))
    for constraint, definition in own:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(partition, sql.Identifier(constraint),
                                                                         sql.SQL(definition)))
    conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(live, partition, sql.SQL(bounds)))


def _comment(conn: Connection, spec: TableSpec, log: DagsterLogManager) -> None:
    """Bring the comments in line with the spec, should it have changed since the warehouse was set up."""
    if not (changes := comment_changes(conn, spec)):
        return
    try:
        with conn.transaction():
            for change in changes:
                conn.execute(change)
    except errors.InsufficientPrivilege:
        log.warning(f"{spec.qualified_name}: {len(changes)} comment(s) not updated; only the table's owner may set "
                    "them, and the role that builds the table should own it")
