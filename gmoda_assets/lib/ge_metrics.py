"""Great Expectations metrics computed from another GE already computes: the same values, a statement fewer.

GE lists an expectation's failing rows or values and counts them in two statements, each its own pass over the
table, for two kinds of expectation whose count cannot join the one aggregate pass that counts the others:

- a row query (``unexpected_rows_expectation``): its failing rows listed (the query run, at most
  ``MAX_RESULT_RECORDS``, 200, fetched), then counted (``SELECT COUNT(*) FROM (query)``), the query run again
  (at Greater Manchester scale the linkage features' checks 3-4 s a run, a drop's identifier check 1-2 s);
- a uniqueness expectation: the duplicated values listed (``LIMIT`` the sample's size), then counted, each a
  window over the whole column (``linked.person_records``' record keys 1.8-3.1 s to count, 0.8 s to list).

A list shorter than its limit holds every failing row or value, so its length is the count: each count's
provider is registered again to take it from the list then, and to run GE's own count only when the list is
full. Importing this module registers them; the expectations, their verdicts and results are GE's, with the same
figures (``bench/validation.py`` prints an md5 of every check's metadata). ``lib/quality`` imports it when it
validates, so Great Expectations is imported then, not with the definitions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.metric_function_types import MetricFunctionTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation_configuration import parse_result_format
from great_expectations.expectations.metrics.column_map_metrics.column_values_unique import ColumnValuesUnique
from great_expectations.expectations.metrics.map_metric_provider.map_condition_auxilliary_methods import (
    _sqlalchemy_map_condition_unexpected_count_value as _unique_counted,  # GE's count: a window over the column
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metrics import UnexpectedRowsQueryRowCount, UnexpectedRowsQueryTable
from great_expectations.expectations.registry import get_metric_kwargs, register_metric
from great_expectations.validator.metric_configuration import MetricConfiguration

_REGISTRY = logging.getLogger("great_expectations.expectations.registry")
_ROWS_LISTED = UnexpectedRowsQueryTable.metric_name
_rows_counted = UnexpectedRowsQueryRowCount._sqlalchemy  # GE's count: SELECT COUNT(*) over the query
_UNIQUE_LISTED = f"{ColumnValuesUnique.condition_metric_name}.unexpected_values"
_UNIQUE_COUNTED = f"{ColumnValuesUnique.condition_metric_name}.unexpected_count"


class _Replacing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "being registered with different metric_provider" not in record.getMessage()


@contextmanager
def _replacing() -> Iterator[None]:
    """GE's registry warns when a metric's provider is replaced, which is the point here."""
    _REGISTRY.addFilter(quiet := _Replacing())
    try:
        yield
    finally:
        _REGISTRY.removeFilter(quiet)


def _listed_with(metric: MetricConfiguration, name: str, value_kwargs: dict) -> dict[str, MetricConfiguration]:
    # The list exactly as the expectation asks for it (name and arguments), so GE computes it once.
    return {name: MetricConfiguration(name, metric.metric_domain_kwargs, value_kwargs)}


def _result_format(runtime_configuration: dict | None) -> dict | None:
    given = (runtime_configuration or {}).get("result_format")
    return parse_result_format(given) if given else None


def _list_limit(runtime_configuration: dict | None) -> int:
    """How many duplicates GE lists in this result format (0: it lists none)."""
    result_format = _result_format(runtime_configuration)
    if result_format is None or result_format["result_format"] == "BOOLEAN_ONLY":
        return 0
    if result_format["result_format"] == "COMPLETE":
        return MAX_RESULT_RECORDS
    return min(result_format["partial_unexpected_count"], MAX_RESULT_RECORDS)


def _count_unique(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                  runtime_configuration, **kwargs):
    listed = metrics.get(_UNIQUE_LISTED)
    if listed is not None and len(listed) < _list_limit(runtime_configuration):
        return len(listed)
    return _unique_counted(cls, execution_engine=execution_engine, metric_domain_kwargs=metric_domain_kwargs,
                           metric_value_kwargs=metric_value_kwargs, metrics=metrics,
                           runtime_configuration=runtime_configuration, **kwargs)


with _replacing():
    class RowCountFromList(UnexpectedRowsQueryRowCount):
        """``unexpected_rows_query.row_count``: the listed failing rows' number while they are fewer than GE lists."""

        @classmethod
        def _get_evaluation_dependencies(cls, metric, configuration=None, execution_engine=None,
                                         runtime_configuration=None):
            return {**super()._get_evaluation_dependencies(metric, configuration, execution_engine,
                                                           runtime_configuration),
                    **_listed_with(metric, _ROWS_LISTED, metric.metric_value_kwargs)}

        @metric_value(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                        runtime_configuration):
            if len(listed := metrics[_ROWS_LISTED]) < MAX_RESULT_RECORDS:
                return len(listed)
            return _rows_counted(cls, execution_engine=execution_engine, metric_domain_kwargs=metric_domain_kwargs,
                                 metric_value_kwargs=metric_value_kwargs, metrics=metrics,
                                 runtime_configuration=runtime_configuration)

    class UniqueCountFromList(ColumnValuesUnique):
        """``column_values.unique.unexpected_count``: the listed duplicates' number while they are fewer than the
        list's limit, in a result format that lists them."""

        @classmethod
        def _get_evaluation_dependencies(cls, metric, configuration=None, execution_engine=None,
                                         runtime_configuration=None):
            dependencies = super()._get_evaluation_dependencies(metric, configuration, execution_engine,
                                                                runtime_configuration)
            if metric.metric_name == _UNIQUE_COUNTED and _list_limit(runtime_configuration):
                dependencies.update(_listed_with(metric, _UNIQUE_LISTED, {
                    **metric.metric_value_kwargs, "result_format": _result_format(runtime_configuration)}))
            return dependencies

    _unique_keys = get_metric_kwargs(_UNIQUE_COUNTED)  # as GE registered the count: its domain and value keys
    register_metric(_UNIQUE_COUNTED, _unique_keys["metric_domain_keys"], _unique_keys["metric_value_keys"],
                    SqlAlchemyExecutionEngine, UniqueCountFromList, _count_unique, MetricFunctionTypes.VALUE)

