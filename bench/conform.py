"""Benchmark: raw -> staging -> conformed at Greater Manchester scale, with rows per second per layer and the
share of the time the Great Expectations checks take.

    .venv/bin/python bench/conform.py

Uses the warehouse `bench/raw_load.py` filled (run that first); materialises every asset above raw in one
in-process Dagster run and reports, per layer, the rows written, the seconds spent building and checking, and
the rows per second.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from bench_warehouse import open_bench_warehouse


def main() -> int:
    if open_bench_warehouse() is None:
        return 1
    from dagster import AssetSelection, materialize

    from gmoda_assets.definitions import defs
    from gmoda_assets.resources import Warehouse

    graph = defs.resolve_asset_graph()
    assets = [a for a in defs.assets if not set(a.keys) & {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"}]
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = materialize(assets, resources={"warehouse": Warehouse()}, selection=AssetSelection.all() - AssetSelection.groups("raw"),
                         run_config=quiet, raise_on_error=False)
    total = time.perf_counter() - started
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
    # Each check result carries the seconds its asset's one validation took (the same on every check).
    check_seconds: dict[tuple[str, ...], float] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            seconds = evaluation.metadata.get("validation_seconds")
            if seconds is not None:
                check_seconds[tuple(evaluation.asset_key.path)] = seconds.value
    layers: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])  # assets, rows, seconds, check seconds
    for m in result.get_asset_materialization_events():
        key = m.asset_key.path
        layer = layers[key[0]]
        layer[0] += 1
        layer[1] += m.materialization.metadata["dagster/row_count"].value
        layer[2] += steps.get("__".join(key), 0.0)
        layer[3] += check_seconds.get(tuple(key), 0.0)
    print(f"{'layer':<12} {'assets':>7} {'rows':>12} {'seconds':>9} {'of which checks':>16} {'rows/s':>12}")
    for name, (assets_built, rows, seconds, checks) in layers.items():
        print(f"{name:<12} {assets_built:>7} {rows:>12,} {seconds:>9.1f} {checks:>16.1f} {rows / max(seconds, 1e-9):>12,.0f}")
    print(f"run: {'succeeded' if result.success else 'FAILED'} in {total:.1f} s")
    slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:5]
    print("slowest steps: " + ", ".join(f"{k} {v:.1f} s (checks {check_seconds.get(tuple(k.split('__')), 0.0):.1f} s)"
                                        for k, v in slowest))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
