"""Data-quality checks run by Great Expectations inside PostgreSQL, reported as Dagster asset check results.

A check is a named group of expectations, written as data (GE's own ``{"type", "kwargs"}`` form) so that
suites can be read and reviewed. ``validate_in_postgres`` runs them where the data is, against a whole table
or the rows of a SQL query, and turns each check's results into an ``AssetCheckResult`` with its counts and a
sample of failing rows or values.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from gmoda_assets.lib.redaction import database_errors_redacted, redacted

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class CheckDef:
    name: str
    description: str
    expectations: list[dict] = field(default_factory=list)
    blocking: bool = False  # a failing blocking check stops downstream assets in the same run
    # The companion table (lib/tables.TableSpec.companions) whose rows the check validates, as its batch, where
    # it checks what the build wrote beside the asset's table (synthetic.children's figures); None: the table's.
    companion: str | None = None

    def spec(self, asset_key: AssetKey | list[str]) -> AssetCheckSpec:
        return AssetCheckSpec(name=self.name, asset=AssetKey(asset_key), description=self.description, blocking=self.blocking)


@dataclass(frozen=True)
class Table:
    """A table validated whole. Great Expectations learns a table's columns (for its column expectations) from
    the catalog, where for a query it runs the query and fetches every row to read the names off the result: at
    Greater Manchester scale 1.2-3.9 s for linked.person_records' 2.1 million rows, 1.9-4.2 s for staged health
    visiting's 734,003."""
    schema: str
    name: str


def expectation(type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs}


def _outcome_metadata(result) -> dict:
    """Counts and a sample of failing values from one GE expectation result."""
    cfg = result.expectation_config
    res = result.result or {}
    about = cfg.kwargs.get("column") or cfg.meta.get("about") or cfg.type
    meta = {"expectation": cfg.type, "about": about, "success": bool(result.success)}
    if "unexpected_count" in res:
        meta.update(rows_checked=res.get("element_count"), failing_rows=res["unexpected_count"],
                    failing_percent=round(res.get("unexpected_percent") or 0.0, 3),
                    sample=[str(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]])
    elif "details" in res and res["details"] and "unexpected_rows" in res["details"]:
        rows = res["details"]["unexpected_rows"]
        meta.update(failing_rows=res.get("observed_value"),
                    sample=[", ".join(f"{k}={v}" for k, v in dict(r).items()) for r in list(rows)[:SAMPLE_SIZE]])
    else:
        meta.update(observed=res.get("observed_value"), expected=cfg.kwargs.get("value"))
    if result.exception_info and result.exception_info.get("raised_exception"):
        meta["error"] = redacted(result.exception_info.get("exception_message") or "")
    return meta


def validate_in_postgres(sqlalchemy_url: str, rows: Table | str, checks: list[CheckDef], asset_key: list[str],
                         severity_of: dict[str, AssetCheckSeverity] | None = None,
                         metadata: dict | None = None, figures: dict[str, dict] | None = None) -> list[AssetCheckResult]:
    """Validate ``checks`` against ``rows`` (a whole table, or a query's rows) inside PostgreSQL; one result per
    check, carrying ``metadata`` and its own ``figures`` (by check name) besides its results. Failing rows are
    shown as the checks' queries select them: a check on a direct identifier selects the row number and the kind
    of fault, never the value."""
    with database_errors_redacted():
        return _validate(sqlalchemy_url, rows, checks, asset_key, severity_of or {}, metadata or {}, figures or {})


def _validate(sqlalchemy_url: str, rows: Table | str, checks: list[CheckDef], asset_key: list[str],
              severity_of: dict[str, AssetCheckSeverity], metadata: dict,
              figures: dict[str, dict]) -> list[AssetCheckResult]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from gmoda_assets.lib import ge_metrics  # noqa: F401  a row query's failing rows counted from their list
    from gmoda_assets.lib import ge_configuration  # noqa: F401  an expectation's kwargs from one configuration

    started = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # they would flood the run logs
    with warnings.catch_warnings():  # GE suggests its Postgres source, which rejects Unix-socket URLs
        warnings.simplefilter("ignore")
        source = context.data_sources.add_sql("warehouse", connection_string=sqlalchemy_url)
    asset = (source.add_table_asset("batch", table_name=rows.name, schema_name=rows.schema) if isinstance(rows, Table)
             else source.add_query_asset("batch", query=rows))
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    by_check: dict[str, list] = {c.name: [] for c in checks}
    # Row-query expectations only return their failing rows with the COMPLETE format; the others would
    # return every failing value with it, so the two kinds are validated separately.
    for complete in (False, True):
        configs = [
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta={"check": c.name, "about": e.get("about")})
            for c in checks
            for e in c.expectations
            if (e["type"] == "unexpected_rows_expectation") == complete
        ]
        if not configs:
            continue
        suite = gx.ExpectationSuite(name=f"{'.'.join(asset_key)}.{'rows' if complete else 'columns'}",
                                    expectations=[cfg.to_domain_obj() for cfg in configs])
        fmt = {"result_format": "COMPLETE"} if complete else {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        for result in batch.validate(suite, result_format=fmt).results:
            by_check[result.expectation_config.meta["check"]].append(result)

    seconds = round(time.perf_counter() - started, 3)
    outcomes = []
    for check in checks:
        results = by_check[check.name]
        details = [_outcome_metadata(r) for r in results]
        failing = [d for d in details if not d["success"]]
        outcomes.append(
            AssetCheckResult(
                asset_key=AssetKey(asset_key),
                check_name=check.name,
                passed=not failing,
                severity=severity_of.get(check.name, AssetCheckSeverity.ERROR if check.blocking else AssetCheckSeverity.WARN),
                metadata={
                    **metadata,
                    **figures.get(check.name, {}),
                    "expectations": len(results),
                    "expectations_failed": len(failing),
                    "failing_rows": sum(int(d.get("failing_rows") or 0) for d in failing),
                    # One validation serves all the checks of its rows, so each reports the time of the whole.
                    "validation_seconds": seconds,
                    "results": MetadataValue.json(details),
                    "failures": MetadataValue.md(_failure_table(failing)) if failing else MetadataValue.md("All expectations met."),
                },
            )
        )
    return outcomes


def _failure_table(failing: list[dict]) -> str:
    lines = ["| about | expectation | failing rows | sample |", "|---|---|---|---|"]
    for d in failing:
        sample = d.get("error") or "; ".join(d.get("sample") or []) or f"observed {d.get('observed')}, expected {d.get('expected')}"
        lines.append(f"| {d['about']} | {d['expectation']} | {d.get('failing_rows', '')} | {sample.replace('|', '/')} |")
    return "\n".join(lines)
