"""The linked layer's assets: the linkage run (``linked/model_runs``) and the tables built from its output."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, TableSpec, comment_changes
from gmoda_assets.linkage import households, people, quality, review
from gmoda_assets.linkage.config import linkage_config
from gmoda_assets.linkage.run import run_linkage
from gmoda_assets.resources import WAREHOUSE_POOL, Warehouse

# Appended to by each linkage run (sql/300_linked.sql creates it): the spec gives it its column schema and comments.
RUNS_SPEC = TableSpec(*people.RUNS, (
    "Every run of the record linkage, published or not: the trained model (Splink settings with m and u "
    "probabilities) and its figures (counts only)."), {
    "run_id": Column("integer", "Number of the linkage run, 1, 2, ... in order."),
    "dagster_run": Column("text", "Id of the Dagster run that ran it."),
    "started_at": Column("timestamp with time zone", "When the run started."),
    "finished_at": Column("timestamp with time zone", "When it finished linking, before its checks."),
    "model": Column("jsonb", "The trained model: Splink settings JSON with m and u probabilities per comparison "
                             "level."),
    "figures": Column("jsonb", "Records, exact groups, profiles, pairs scored and matched, people, records by "
                               "method, people by size, match-weight histogram and key changes: counts, never a "
                               "value."),
}, None)
RUNS_KEY = RUNS_SPEC.key
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
    metadata={"dagster/table_name": RUNS_SPEC.qualified_name, "dagster/column_schema": RUNS_SPEC.column_schema},
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
        for comment in comment_changes(conn, RUNS_SPEC):
            conn.execute(comment)
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


linked_assets = [model_runs, *(table_asset(s) for s in (*people.SPECS, *households.SPECS, *quality.SPECS,
                                                     *review.SPECS))]
