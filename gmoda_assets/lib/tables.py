"""A table past raw, declared once.

A ``TableSpec`` says what the table holds (the asset's description and the table's ``COMMENT``), its columns
(type as PostgreSQL's ``format_type()`` names it, description, the SQL that computes it from the source row
``s``, the source columns it comes from, and the dimension it looks its key up in), where its rows come from,
and how its keys behave from one build to the next:

* rebuilt whole (``keys=None``): nothing references the table (a fact, a bridge), so each build replaces it;
* ``StableKeys`` (a dimension): facts hold its surrogate keys under foreign keys, so a member keeps its key
  (matched on the natural key), a new member gets the next key in natural-key order, a member that leaves the
  source stays with ``is_current`` false, and ``-1`` is the unknown member.

The spec gives its asset the description, ``dagster/column_schema``, ``dagster/column_lineage``,
``dagster/table_name`` and dependencies (``gmoda_assets.lib.table_assets`` makes the asset, with the checks of
its suite), and the SQL that builds the table by write, check, publish (``gmoda_assets.lib.publish``). The
``CREATE TABLE`` (types, constraints, foreign keys) stays in ``sql/``; the table's and columns' comments are
the spec's descriptions (``comment_changes``, applied when the warehouse is set up and by every build).

Where the rows come from (``source``):

* ``Tables``: tables of one shape (one kind of feed from each partner), one after another;
* ``Query``: a SQL query over the warehouse;
* ``Rows``: reference data shipped in the package;
* ``Computed``: rows made in Python by ``compute(context, conn) -> (rows, metadata)``, for what SQL cannot
  say (a linkage model's matches, a trained model's scores, synthetic records). ``rows`` is a pandas DataFrame
  with the table's columns or an iterable of tuples in the table's column order; they are COPYed into the
  candidate and go through the same checks and publish as any other table. ``metadata`` joins the
  materialisation's. ``conn`` is the build's connection (acting as gmoda_transformer), inside the transaction
  that writes the candidate: read what ``assets`` names through it. For example::

      def _matches(context, conn):
          frame = link(conn.execute("SELECT ... FROM staging.linkage_features").fetchall())
          return frame, {"clusters": int(frame.person_key.nunique())}

      PERSON_LINKS = TableSpec("linked", "person_links", "Each staging record's person, ...", {
          "record_key": Column("text", "The staging record."),
          "person_key": Column("bigint", "The person it belongs to."),
          "match_probability": Column("double precision", "..."),
      }, Computed(_matches, assets=(("staging", "linkage_features"),),
                  column_lineage={"record_key": ((("staging", "linkage_features"), "record_key"),)}))

  A computed table is rebuilt whole at each build, and its columns take the rows' values as they are (no
  expression, no lookup).
* ``Written``: rows that ``write(context, conn, candidates) -> metadata`` writes by SQL into the candidates,
  for rows that must never leave PostgreSQL (staging: raw rows hold identifiers) or a build that writes more
  than one table (staging's rejects; synthetic children and their quality figures, COPYed with
  ``publish.copy_rows``).

A computed or written table's metadata may hold, under ``CHECK_FIGURES``, figures for its checks by check name
(a synthesis's utility and risk measures): each check's result shows its own, and the materialisation none.

A column's expression reads only its own ``sources`` (or a source's tags, such as ``partner_id``) from ``s``;
a column with a lookup gets its dimension's key, the dimension joined under the column's name.

A product (a table in ``synthetic``, ``model``, ``signposting`` or ``mart``) names its ``purpose``, one of the
purposes agreements grant (``gmoda_assets.lib.governance``): the factory tags the asset with it, so the code
location does not load while a feed upstream lacks a live agreement for that purpose, and checks the
agreements again first thing in every run.

A table with no ``CREATE TABLE`` in ``sql/`` (a staging table, generated from its feed contract) declares its
``primary_key``: its ``CREATE TABLE`` is then the spec's (``create_table``), made when the warehouse is set up and
again, in the publish transaction, should the spec's columns have changed. A build that writes more than one
table (staging's rows and the rows it set aside) names the others as ``companions``: specs of their own,
written and published with it, in the same transaction.

A table whose build is not the factory's has a spec with no ``source``: a companion, or a table an asset of its
own writes (``ops.feed_deliveries``, rebuilt by the ledger's keeper; ``linked.model_runs``, appended to by each
linkage run). Its spec still holds its descriptions once: its asset shows ``column_schema`` and its build
applies ``comment_changes``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dagster import AssetExecutionContext, AssetKey, TableColumn, TableColumnDep, TableColumnLineage, TableSchema
from psycopg import Connection, sql

UNKNOWN = -1  # every dimension's unknown member
CHECK_FIGURES = "check_figures"  # in a build's metadata: {check name: {figure: value}}, shown on each check


@dataclass(frozen=True)
class Through:
    """A table a lookup goes through: its row (at most one) whose ``match`` column equals ``source`` (SQL over
    ``s``), left-joined as ``alias`` for the lookup's own source to read. A join, not a subquery per row: the
    planner can hash it (a fact's person keys, read from linked.person_records, took a third of its build as an
    index probe per row)."""

    table: str  # schema-qualified, e.g. linked.person_records
    alias: str
    match: str
    source: str


@dataclass(frozen=True)
class Lookup:
    """A dimension's key, found by matching ``source`` (SQL over ``s``, or over the table it goes ``through``)
    with the dimension's ``match`` column."""

    dimension: str  # schema-qualified table, e.g. conformed.dim_geography
    match: str
    source: str
    key: str
    unknown: int | None = UNKNOWN  # what a row without a match gets; None leaves it null, for NOT NULL to refuse
    through: Through | None = None


@dataclass(frozen=True)
class Column:
    type: str  # as PostgreSQL's format_type() names it, so a test can compare it with the catalog
    description: str  # the column's description in the Dagster UI and its COMMENT in PostgreSQL
    expression: str = ""  # SQL over the source row ``s``; empty: ``s.<column>``, or the lookup's key
    sources: tuple[str, ...] = ()  # source columns it is derived from (its column lineage)
    lookup: Lookup | None = None
    not_null: bool = False  # for a table whose CREATE TABLE is the spec's (sql/ holds the others' constraints)


def copied(type_: str, description: str, source: str) -> Column:
    """A column taken as it is from a source column."""
    return Column(type_, description, f"s.{source}", (source,))


@dataclass(frozen=True)
class SourceTable:
    asset_key: tuple[str, ...]
    table: tuple[str, str]  # schema, name
    tags: Mapping[str, str] = field(default_factory=dict)  # constant columns, e.g. the partner that delivered it


@dataclass(frozen=True)
class Tables:
    """Rows of tables of one shape (one kind of feed from each partner), one after another, each with its tags."""

    tables: tuple[SourceTable, ...]

    @property
    def deps(self) -> list[AssetKey]:
        return [AssetKey(t.asset_key) for t in self.tables]

    def lineage(self, name: str, column: Column) -> list[TableColumnDep]:
        return [TableColumnDep(asset_key=AssetKey(t.asset_key), column_name=s) for t in self.tables for s in column.sources]

    def relation(self, spec: "TableSpec") -> sql.Composable:
        needed = sorted({s for c in spec.columns.values() for s in c.sources})
        return sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join([*map(sql.Identifier, needed),
                                    *(sql.SQL("{} AS {}").format(sql.Literal(v), sql.Identifier(k))
                                      for k, v in t.tags.items())]),
                sql.Identifier(*t.table))
            for t in self.tables)


class _ReadsAssets:
    """A source that reads the assets ``assets``; ``column_lineage`` names, for each column of the table, the
    asset columns it comes from."""

    assets: tuple[tuple[str, ...], ...]
    column_lineage: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]

    @property
    def deps(self) -> list[AssetKey]:
        return [AssetKey(a) for a in self.assets]

    def lineage(self, name: str, column: Column) -> list[TableColumnDep]:
        return [TableColumnDep(asset_key=AssetKey(a), column_name=c) for a, c in self.column_lineage.get(name, ())]


@dataclass(frozen=True)
class Query(_ReadsAssets):
    """Rows of a SQL query over the warehouse. ``parallel``: computed by ``CREATE TABLE AS``, which PostgreSQL
    may run on several cores, where ``INSERT ... SELECT`` runs on one, and then copied into the candidate; for a
    query that reads and aggregates far more rows than it returns (not for a dimension, whose keys its fill
    assigns)."""

    query: sql.Composable
    assets: tuple[tuple[str, ...], ...] = ()
    column_lineage: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)
    parallel: bool = False

    def relation(self, spec: "TableSpec") -> sql.Composable:
        return self.query


@dataclass(frozen=True)
class Computed(_ReadsAssets):
    """Rows made in Python by ``compute(context, conn) -> (rows, metadata)``: a pandas DataFrame with the
    table's columns, or tuples in the table's column order, COPYed into the candidate."""

    compute: Callable[[AssetExecutionContext, Connection], tuple[object, Mapping]]
    assets: tuple[tuple[str, ...], ...] = ()
    column_lineage: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rows:
    """Rows made in Python from reference data shipped in the package (a pandas DataFrame whose columns are
    columns of the table), handed to PostgreSQL as one JSON document: no temporary table, nothing row by row.
    ``checked_against``: assets the table's checks compare it with, so that it is built after them."""

    fetch: Callable[[], object]
    checked_against: tuple[tuple[str, ...], ...] = ()

    @property
    def deps(self) -> list[AssetKey]:
        return [AssetKey(a) for a in self.checked_against]

    def lineage(self, name: str, column: Column) -> list[TableColumnDep]:
        return []

    def relation(self, spec: "TableSpec") -> sql.Composable:
        frame = self.fetch()
        return sql.SQL("SELECT * FROM jsonb_to_recordset({}::jsonb) AS r ({})").format(
            sql.Literal(frame.to_json(orient="records")),
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(spec.columns[c].type))
                               for c in frame.columns))


@dataclass(frozen=True)
class Written(_ReadsAssets):
    """Rows that ``write(context, conn, candidates) -> metadata`` writes by SQL into the candidates (``candidates``:
    each table's name, the spec's and its companions', to its candidate), inside the transaction that writes
    them: for rows that must not leave PostgreSQL, or a build that writes more than one table. Staging is one:
    its raw rows hold identifiers, it sets invalid rows aside in its rejects, and it pseudonymises under a key
    that lives only in that transaction."""

    write: Callable[[AssetExecutionContext, Connection, Mapping[str, sql.Identifier]], Mapping]
    assets: tuple[tuple[str, ...], ...] = ()
    column_lineage: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class StableKeys:
    """A dimension's keys: ``key`` is kept per ``natural`` key across builds; ``unknown`` holds the values of the
    unknown member (key -1). A key column with an expression (a date's yyyymmdd) is computed, not assigned."""

    key: str
    natural: str
    unknown: Mapping[str, object]


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    description: str  # the asset's description in the UI and the table's COMMENT
    columns: Mapping[str, Column]  # in the order of the CREATE TABLE
    source: Tables | Query | Rows | Computed | Written | None  # None: a companion, or a table its own asset builds
    keys: StableKeys | None = None  # None: rebuilt whole at each build
    metrics: Mapping[str, str] = field(default_factory=dict)  # extra materialisation metadata: SQL aggregates
    purpose: str | None = None  # a product's purpose (gmoda_assets.lib.governance.PURPOSES)
    per_feed: bool = False  # a product held to the agreements row by row (gmoda_assets.lib.governance)
    asset_path: tuple[str, ...] = ()  # the asset's key, when it is not [schema, name] (staging: schema, partner, feed)
    primary_key: tuple[str, ...] = ()  # set: the CREATE TABLE is the spec's, not in sql/
    companions: tuple[TableSpec, ...] = ()  # tables the same build writes, published with this one

    def __post_init__(self):
        if isinstance(self.source, Computed):
            derived = [n for n, c in self.columns.items() if c.expression or c.lookup]
            if self.keys or derived:
                raise ValueError(f"{self.qualified_name}: a computed table is rebuilt whole from the rows its function "
                                 f"returns, so it has no stable keys and no column expressions or lookups "
                                 f"({', '.join(derived) or 'keys'})")

    @property
    def key(self) -> list[str]:
        return [self.schema, self.name]

    @property
    def asset_key(self) -> list[str]:
        return list(self.asset_path) or self.key

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def lookups(self) -> dict[str, Lookup]:
        return {n: c.lookup for n, c in self.columns.items() if c.lookup}

    @property
    def deps(self) -> list[AssetKey]:
        if self.source is None:  # a companion: its build is its table's
            return []
        dimensions = [AssetKey(lookup.dimension.split(".")) for lookup in self.lookups.values()]
        return list(dict.fromkeys([*self.source.deps, *dimensions]))

    def expression(self, name: str) -> sql.Composable:
        column = self.columns[name]
        if column.lookup:
            found = sql.Identifier(name, column.lookup.key)
            return found if column.lookup.unknown is None else sql.SQL("coalesce({}, {})").format(
                found, sql.Literal(column.lookup.unknown))
        return sql.SQL(column.expression) if column.expression else sql.Identifier("s", name)

    @property
    def column_schema(self) -> TableSchema:
        return TableSchema(columns=[TableColumn(n, c.type, description=c.description) for n, c in self.columns.items()])

    @property
    def metadata(self) -> dict:
        return {
            "dagster/table_name": self.qualified_name,
            "dagster/column_schema": self.column_schema,
            "dagster/column_lineage": TableColumnLineage(deps_by_column={
                n: deps for n, c in self.columns.items() if (deps := self.source.lineage(n, c))}),
        }


def comment_changes(conn: Connection, spec: TableSpec) -> list[sql.Composed]:
    """The COMMENT statements that make the table's and its columns' comments the spec's descriptions."""
    wanted = {None: spec.description, **{n: c.description for n, c in spec.columns.items()}}
    current = dict(conn.execute(
        "SELECT NULL, obj_description(%(t)s::regclass, 'pg_class') UNION ALL "
        "SELECT attname::text, col_description(attrelid, attnum) FROM pg_attribute "
        "WHERE attrelid = %(t)s::regclass AND attnum > 0 AND NOT attisdropped", {"t": spec.qualified_name}).fetchall())
    return [
        sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(*spec.key), sql.Literal(text)) if name is None else
        sql.SQL("COMMENT ON COLUMN {} IS {}").format(sql.Identifier(*spec.key, name), sql.Literal(text))
        for name, text in wanted.items() if current.get(name) != text]


def create_table(spec: TableSpec, table: sql.Identifier | None = None, unlogged: bool = False) -> sql.Composed:
    """The spec's own CREATE TABLE (``table``: another name for it, such as its candidate's; an unlogged candidate
    gets no primary key, so a duplicate is the checks' to find and name, not an insert's to refuse)."""
    columns = [sql.SQL("{} {}{}").format(sql.Identifier(n), sql.SQL(c.type), sql.SQL(" NOT NULL" if c.not_null else ""))
               for n, c in spec.columns.items()]
    if spec.primary_key and not unlogged:
        columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))))
    return sql.SQL("CREATE {}TABLE {} ({})").format(sql.SQL("UNLOGGED " if unlogged else ""),
                                                    table or sql.Identifier(*spec.key), sql.SQL(", ").join(columns))


def shape_changes(conn: Connection, spec: TableSpec) -> list[sql.Composed]:
    """For a table whose CREATE TABLE is the spec's: the statements that make the live table (none yet, or one
    whose columns are no longer the spec's, in name, order or type) the spec's; its rows go with the old shape."""
    current = conn.execute("SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                           (spec.qualified_name,)).fetchall()
    if current == [(n, c.type) for n, c in spec.columns.items()]:
        return []
    return [sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*spec.key)), create_table(spec)]
