"""The bench warehouse that `bench/raw_load.py` fills, as the scripts that build on raw open it, and what the
scripts measure it with."""

from __future__ import annotations

import os
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def open_bench_warehouse() -> str | None:
    """Point the platform at the bench's home, set the warehouse up, and return its URL; None (saying so) while raw
    is still empty."""
    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    import psycopg

    from gmoda_assets.cli import _setup_warehouse

    url = _setup_warehouse()
    with psycopg.connect(url) as conn:
        raw_rows = conn.execute("SELECT coalesce(sum(rows_loaded), 0) FROM ops.drops").fetchone()[0]
    if not raw_rows:
        print("raw is empty: run bench/raw_load.py first")
        return None
    print(f"raw holds {raw_rows:,} rows")
    return url


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
