"""The linked layer's assets: the linkage run (``linked/model_runs``) and the tables built from its output."""

from dagster import (AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, TableColumn, TableSchema,
                     asset)
from psycopg import sql

from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.linkage import households, people, quality
from gmoda_assets.linkage.config import linkage_config
from gmoda_assets.linkage.run import run_linkage
from gmoda_assets.resources import WAREHOUSE_POOL, Warehouse

RUNS_KEY = list(people.RUNS)
RUNS_DESCRIPTION = ("Every run of the record linkage, published or not: the trained model (Splink settings with m and "
                    "u probabilities) and its figures (counts only).")
RUN_COLUMNS = {
    "run_id": ("integer", "Number of the linkage run, 1, 2, ... in order."),
    "dagster_run": ("text", "Id of the Dagster run that ran it."),
    "started_at": ("timestamp with time zone", "When the run started."),
    "finished_at": ("timestamp with time zone", "When it finished linking, before its checks."),
    "model": ("jsonb", "The trained model: Splink settings JSON with m and u probabilities per comparison level."),
    "figures": ("jsonb", "Records, exact groups, profiles, pairs scored and matched, people, records by method, "
                         "people by size, match-weight histogram and key changes: counts, never a value."),
}
_CHECKS = load_suite(RUNS_KEY)


def _identifier_sources() -> list[AssetKey]:
    """The staging tables whose exact identifiers the linkage reads besides the features."""
    kinds = {k for held in linkage_config().exact.values() if held for k in held}
    return [AssetKey(["staging", c.partner, c.feed]) for c in feed_contracts() if c.kind in kinds]


@asset(
    key=RUNS_KEY,
    group_name="linked",
    deps=[AssetKey(list(people.FEATURES)), *_identifier_sources()],
    kinds={"postgres", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[c.spec(RUNS_KEY) for c in _CHECKS],
    metadata={"dagster/table_name": "linked.model_runs", "dagster/column_schema": TableSchema(columns=[
        TableColumn(n, t, description=d) for n, (t, d) in RUN_COLUMNS.items()])},
)
def model_runs(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """One run of the record linkage (configuration: gmoda_assets/linkage/linkage.yaml). Records that share an NHS
    number, UPN or partner person id are one person; a Fellegi-Sunter model (Splink, trained on this run's
    records) links the rest by name codes and pseudonyms, date of birth, sex, postcode and address. Each person
    keeps the key they had before. Appends the run to linked.model_runs (the trained model with its m and u
    probabilities, and the figures shown here: counts and the match-weight distribution, never a value) and
    writes its output to linked.linkage_output, from which linked.person_records is checked and published.
    Also places each person in a household (linked.household_output). Reads staging.linkage_features, which
    analysts cannot."""
    with warehouse.connect(autocommit=True) as conn:
        run = run_linkage(conn, linkage_config(), context.run_id)
        conn.execute(sql.SQL("COMMENT ON TABLE linked.model_runs IS {}").format(sql.Literal(RUNS_DESCRIPTION)))
        for name, (_, text) in RUN_COLUMNS.items():
            conn.execute(sql.SQL("COMMENT ON COLUMN linked.model_runs.{} IS {}").format(sql.Identifier(name),
                                                                                        sql.Literal(text)))
    results = validate_in_postgres(warehouse.sqlalchemy_url, "SELECT * FROM linked.linkage_output", _CHECKS,
                                   RUNS_KEY)
    figures = run.figures
    metadata = {
        "dagster/row_count": run.run_id, "run_id": run.run_id,  # runs are numbered 1, 2, ...; none is deleted
        "seconds": round(run.seconds, 1),
        **{k: v for k, v in figures.items() if isinstance(v, int)},
        **{k: MetadataValue.json(v) for k, v in figures.items() if isinstance(v, dict)},
        "model": MetadataValue.json(run.model),
    }
    return MaterializeResult(metadata=metadata, check_results=results)


linked_assets = [model_runs, *(table_asset(s) for s in (*people.SPECS, *households.SPECS, *quality.SPECS))]
