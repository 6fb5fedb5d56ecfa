"""Benchmark: one asset (or a few) of the bench warehouse, materialised alone in this process.

    .venv/bin/python bench/asset.py linked/model_runs [staging/linkage_features ...]

Uses the warehouse `bench/raw_load.py` and `bench/refresh.py` (or `bench/conform.py`) built: the assets named are
materialised in one in-process Dagster run, with their checks, over what their upstream tables hold now. Prints each
step's seconds, the seconds its checks' validation took, and its rows; the machine's load average beside them.
"""

from __future__ import annotations

import os
import sys
import time

from bench_warehouse import open_bench_warehouse


def main() -> int:
    names = sys.argv[1:]
    if not names or any(n.startswith("-") for n in names):
        print(__doc__)
        return 2
    if open_bench_warehouse() is None:
        return 1
    from dagster import AssetKey, AssetSelection, materialize

    from gmoda_assets.definitions import defs
    from gmoda_assets.resources import Warehouse

    keys = [AssetKey(n.split("/")) for n in names]
    assets = [a for a in defs.assets if all(k.path[0] != "raw" for k in a.keys)]  # raw needs the landing zone
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = materialize(assets, resources={"warehouse": Warehouse()}, selection=AssetSelection.assets(*keys),
                         run_config=quiet, raise_on_error=False)
    total = time.perf_counter() - started
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
    checks = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            seconds = event.event_specific_data.metadata.get("validation_seconds")
            if seconds is not None:
                checks["__".join(event.event_specific_data.asset_key.path)] = seconds.value
    for m in result.get_asset_materialization_events():
        step = "__".join(m.asset_key.path)
        rows = m.materialization.metadata.get("dagster/row_count")
        print(f"{'/'.join(m.asset_key.path)}: {steps.get(step, 0.0):.1f} s (checks {checks.get(step, 0.0):.1f} s), "
              f"rows {rows.value if rows is not None else '-':,}")
    print(f"run: {'succeeded' if result.success else 'FAILED'} in {total:.1f} s; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
