"""Benchmark: raw -> staging -> conformed at Greater Manchester scale, with rows per second per layer and the
share of the time the Great Expectations checks take.

    .venv/bin/python bench/conform.py

Uses the warehouse `bench/raw_load.py` filled (run that first); materialises every asset above raw in one
in-process Dagster run and reports, per layer, the rows written, the seconds spent building and checking, and
the rows per second.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def main() -> int:
    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    import psycopg
    from dagster import AssetSelection, materialize

    import gmoda_assets.lib.quality as quality
    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.definitions import defs
    from gmoda_assets.resources import Warehouse

    url = _setup_warehouse()
    with psycopg.connect(url) as conn:
        raw_rows = conn.execute("SELECT coalesce(sum(rows_loaded), 0) FROM ops.drops").fetchone()[0]
    if not raw_rows:
        print("raw is empty: run bench/raw_load.py first")
        return 1
    print(f"raw holds {raw_rows:,} rows")

    # Time the checks apart from the building: every asset module calls validate_in_postgres by name.
    check_seconds: dict[str, float] = defaultdict(float)
    original = quality.validate_in_postgres

    def timed(url_, query, checks, asset_key, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(url_, query, checks, asset_key, *args, **kwargs)
        finally:
            check_seconds["/".join(asset_key)] += time.perf_counter() - started

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("gmoda_assets.") and getattr(module, "validate_in_postgres", None) is original:
            module.validate_in_postgres = timed

    graph = defs.resolve_asset_graph()
    assets = [a for a in defs.assets if not set(a.keys) & {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"}]
    started = time.perf_counter()
    result = materialize(assets, resources={"warehouse": Warehouse()}, selection=AssetSelection.all() - AssetSelection.groups("raw"),
                         raise_on_error=False)
    total = time.perf_counter() - started
    steps: dict[str, float] = {}
    begun: dict[str, float] = {}
    for event in result.all_events:
        if event.is_step_start:
            begun[event.step_key] = event.timestamp
        elif event.is_step_success or event.is_step_failure:
            steps[event.step_key] = event.timestamp - begun[event.step_key]
    layers: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for m in result.get_asset_materialization_events():
        key = m.asset_key.path
        layer = layers[key[0]]
        layer[0] += m.materialization.metadata["dagster/row_count"].value
        layer[1] += steps.get("__".join(key), 0.0)
        layer[2] += check_seconds.get("/".join(key), 0.0)
    print(f"{'layer':<12} {'assets':>7} {'rows':>12} {'seconds':>9} {'of which checks':>16} {'rows/s':>12}")
    counts = defaultdict(int)
    for m in result.get_asset_materialization_events():
        counts[m.asset_key.path[0]] += 1
    for name, (rows, seconds, checks) in layers.items():
        print(f"{name:<12} {counts[name]:>7} {rows:>12,} {seconds:>9.1f} {checks:>16.1f} {rows / max(seconds, 1e-9):>12,.0f}")
    print(f"run: {'succeeded' if result.success else 'FAILED'} in {total:.1f} s")
    slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:5]
    print("slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
