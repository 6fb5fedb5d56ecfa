"""The product factory: every asset in a product schema (``synthetic``, ``model``, ``signposting``, ``mart``)
is made here, so none can forget what every product needs.

``product_asset(key, purpose, ...)`` is ``@asset`` for products: it declares the purpose (tag
``gmoda/purpose``, which the agreement check at definition load reads), puts the run-time agreement check
(``require_agreements``) before the body, groups the asset by its schema and insists on a docstring and on
checks. ``table_product(spec)`` builds on it for a product that is one warehouse table: the body returns the
rows, and the factory writes them as a candidate table with its column comments, runs the table's suite
(``expectations/<schema>.<table>.yaml``) on the candidate, and publishes it in one transaction only when no
blocking check fails; otherwise the last published table stays and the run fails naming the checks.
"""


import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    asset,
)
from psycopg import sql

from gmoda_assets.lib.governance import PRODUCT_SCHEMAS, product_tags, require_agreements
from gmoda_assets.lib.quality import CheckDef, validate_in_postgres
from gmoda_assets.lib.suites import SuiteError, load_suite, suite_path
from gmoda_assets.resources import Warehouse

# Schemas analysts read (sql/040_roles.sql); products elsewhere stay with the platform.
ANALYST_SCHEMAS = ("synthetic", "mart")
ANALYST_ROLE = "gmoda_analyst"
_PARAMETER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")  # {disclosure.min_count}; {batch} is left to GE


def product_asset(*, key: Sequence[str], purpose: str, deps: Iterable = (), **asset_args):
    """``@asset`` for a product: ``key`` in a product schema, ``purpose`` one of the agreements' purposes; other
    arguments go to ``@asset``. The decorated body runs only after ``require_agreements`` passes."""
    key = AssetKey(list(key))
    if key.path[0] not in PRODUCT_SCHEMAS:
        raise ValueError(f"product {key.to_user_string()}: a product's key starts with one of {', '.join(PRODUCT_SCHEMAS)}")
    if not asset_args.get("check_specs"):
        raise ValueError(f"product {key.to_user_string()}: every product has at least one check")
    tags = {**asset_args.pop("tags", {}), **product_tags(key, purpose)}

    def decorate(body: Callable):
        description = asset_args.pop("description", None) or body.__doc__
        if not description:
            raise ValueError(f"product {key.to_user_string()}: a product needs a docstring; analysts read it in the UI")

        @functools.wraps(body)
        def guarded(context: AssetExecutionContext, *args, **kwargs):
            require_agreements(context)
            return body(context, *args, **kwargs)

        return asset(key=key, deps=list(deps), tags=tags, group_name=key.path[0], description=description,
                     **asset_args)(guarded)

    return decorate


@dataclass(frozen=True)
class ProductTable:
    """A product that is one table: its key, purpose, sources, columns and keys, declared once."""

    key: tuple[str, str]  # (schema, table)
    purpose: str
    deps: tuple[Sequence[str], ...]  # asset keys it is built from
    columns: dict[str, tuple[str, str]]  # name: (PostgreSQL type as format_type() names it, description)
    comment: str  # the table's COMMENT
    primary_key: tuple[str, ...] = ()
    lineage: dict[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)  # column: (schema, table, column)
    suite_params: dict[str, object] = field(default_factory=dict)  # values its suite names as {<group>.<name>}

    @property
    def candidate(self) -> sql.Identifier:
        return sql.Identifier(self.key[0], f"{self.key[1]}__candidate")

    def checks(self) -> list[CheckDef]:
        """The table's suite, with ``{<group>.<name>}`` in row queries replaced by ``suite_params``."""
        def fill(text: str, check: str) -> str:
            def value(match: re.Match) -> str:
                if match.group(1) not in self.suite_params:
                    raise SuiteError(f"{suite_path(list(self.key))}: check '{check}' names {{{match.group(1)}}}, which "
                                     f"is not one of {', '.join(sorted(self.suite_params)) or 'no parameters'}")
                return str(self.suite_params[match.group(1)])
            return _PARAMETER.sub(value, text)

        return [CheckDef(c.name, fill(c.description, c.name), [
            {**e, "kwargs": {k: fill(v, c.name) if isinstance(v, str) else v for k, v in e["kwargs"].items()}}
            for e in c.expectations], blocking=c.blocking) for c in load_suite(list(self.key))]


Rows = tuple[list[tuple], dict]  # the table's rows in column order, and metadata for the materialisation


def table_product(spec: ProductTable):
    """Decorate ``rows(context, conn) -> (rows, metadata)`` to make the product asset that writes, checks and
    publishes ``spec``'s table. The body's docstring is the asset's description."""
    checks = spec.checks()
    name = ".".join(spec.key)

    def decorate(rows_of: Callable[..., Rows]):
        @product_asset(
            key=spec.key, purpose=spec.purpose, deps=[AssetKey(list(d)) for d in spec.deps], kinds={"postgres"},
            description=rows_of.__doc__, check_specs=[c.spec(list(spec.key)) for c in checks],
            metadata={
                "dagster/table_name": name,
                "dagster/column_schema": TableSchema(
                    columns=[TableColumn(n, t, description=d) for n, (t, d) in spec.columns.items()]),
                "dagster/column_lineage": TableColumnLineage(deps_by_column={
                    column: [TableColumnDep(asset_key=AssetKey([schema, table]), column_name=source)
                             for schema, table, source in sources]
                    for column, sources in spec.lineage.items()}),
            },
        )
        def _product(context: AssetExecutionContext, warehouse: Warehouse):
            with warehouse.connect(autocommit=True) as conn:
                with conn.transaction():
                    rows, metadata = rows_of(context, conn)
                    _write_candidate(conn, spec, rows)
                candidate = spec.candidate.as_string(conn)
                results = validate_in_postgres(warehouse.sqlalchemy_url, f"SELECT * FROM {candidate}", checks,
                                               list(spec.key))
                blocked = [c.name for c, r in zip(checks, results) if c.blocking and not r.passed]
                if blocked:
                    conn.execute(sql.SQL("DROP TABLE {}").format(spec.candidate))
                    yield from results
                    raise Failure(description=f"{name} not published: blocking check(s) {', '.join(blocked)} failed "
                                              "on the new version; the last published version stays.",
                                  metadata={"failed_checks": ", ".join(blocked)})
                with conn.transaction():
                    _publish(conn, spec)
            yield MaterializeResult(metadata={"dagster/row_count": len(rows), **metadata}, check_results=results)

        return _product

    return decorate


def _write_candidate(conn, spec: ProductTable, rows: list[tuple]) -> None:
    """The new version as ``<table>__candidate``, with its comments, readable by no analyst until published."""
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, (t, _) in spec.columns.items()]
    if spec.primary_key:
        columns.append(sql.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(f"{spec.key[1]}__candidate_pkey"), sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(spec.candidate))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(spec.candidate, sql.SQL(", ").join(columns)))
    # Default privileges (sql/040_roles.sql) let analysts read every new mart table, this one included.
    conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(spec.candidate, sql.Identifier(ANALYST_ROLE)))
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            spec.candidate, sql.SQL(", ").join(map(sql.Identifier, spec.columns)))) as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(spec.candidate, sql.Literal(spec.comment)))
    for column, (_, description) in spec.columns.items():
        conn.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
            spec.candidate, sql.Identifier(column), sql.Literal(description)))


def _publish(conn, spec: ProductTable) -> None:
    """Swap the candidate in. The grant is explicit because default privileges cover only the creating roles
    named in sql/040_roles.sql, and the step may connect as another member of gmoda_transformer."""
    schema, table = spec.key
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(spec.candidate, sql.Identifier(table)))
    if spec.primary_key:  # index names are unique in a schema: the next candidate's must be free
        conn.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            sql.Identifier(schema, table), sql.Identifier(f"{table}__candidate_pkey"), sql.Identifier(f"{table}_pkey")))
    if schema in ANALYST_SCHEMAS:
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, table), sql.Identifier(ANALYST_ROLE)))
