"""The factory that turns a table's spec (``gmoda_assets.lib.tables``) into its Dagster asset.

The asset carries the spec's description, ``dagster/column_schema``, ``dagster/column_lineage``,
``dagster/table_name`` and dependencies, and one asset check per check of its suite
(``expectations/<schema>.<table>.yaml``). Materialising it builds the table by write, check, publish
(``gmoda_assets.lib.publish``). The asset is subsettable, so each check can also be executed on its own (from
the UI, or by a run that selects only checks): it then validates the live table and builds nothing.

This is also the product factory: a table in a product schema (``synthetic``, ``model``, ``signposting``,
``mart``) must name its purpose, which becomes the asset's ``gmoda/purpose`` tag (read by the agreement check
when the code location loads), and every run of it first checks the agreements again (``require_agreements``),
so a product whose agreement ended while the code location stayed loaded fails before it reads anything.
"""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, Failure, MaterializeResult, multi_asset

from gmoda_assets.lib import publish
from gmoda_assets.lib.governance import PRODUCT_SCHEMAS, product_tags, require_agreements
from gmoda_assets.lib.quality import CheckDef
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.lib.tables import TableSpec
from gmoda_assets.resources import WAREHOUSE_POOL, Warehouse


def table_asset(spec: TableSpec, checks: list[CheckDef] | None = None) -> AssetsDefinition:
    """The asset of ``spec``, with the checks of its suite (or ``checks``, for a table whose checks its spec's
    maker generates, as staging's come from the feed contract). Materialising it writes a candidate, runs every
    check on it and publishes it only when no blocking check fails; selecting only checks runs them on the live
    table."""
    checks = load_suite(spec.key) if checks is None else checks
    asset_key = AssetKey(spec.asset_key)
    if (spec.schema in PRODUCT_SCHEMAS) != (spec.purpose is not None):
        raise ValueError(f"{spec.qualified_name}: a table in {', '.join(PRODUCT_SCHEMAS)} is a product and names its "
                         "purpose; a table elsewhere names none")
    tags = product_tags(asset_key, spec.purpose, spec.per_feed) if spec.purpose else {}

    @multi_asset(
        name="__".join(spec.asset_key),
        specs=[AssetSpec(asset_key, description=spec.description, deps=spec.deps, group_name=spec.schema,
                         kinds={"postgres"}, metadata=spec.metadata, tags=tags)],
        check_specs=[c.spec(spec.asset_key) for c in checks],
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def build(context: AssetExecutionContext, warehouse: Warehouse):
        if spec.purpose:
            require_agreements(context)
        selected = {k.name for k in context.selected_asset_check_keys}
        if asset_key not in context.selected_asset_keys:
            yield from publish.check_live(spec, [c for c in checks if c.name in selected], warehouse)
            return
        # Every check runs on the candidate, selected or not: a blocking check cannot be stepped round.
        outcome = publish.write_check_publish(spec, checks, warehouse, context)
        results = [r for r in outcome.checks if r.check_name in selected]
        if outcome.refused:
            yield from results
            raise Failure(outcome.refused)
        yield MaterializeResult(metadata=outcome.metadata, check_results=results)

    return build
