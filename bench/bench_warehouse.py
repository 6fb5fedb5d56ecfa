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


def tree_cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process and of its descendants that are not named too (Linux): each running
    process's own user and system time plus its ended children's, which a parent that waits for them (the postmaster
    for its backends, a fork server for its workers) gathers into its children's times."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), sum(map(int, fields[11:15])))  # ppid; utime .. cstime
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    totals = {}
    for name, root in roots.items():
        ticks, todo = 0, [root]
        while todo:
            pid = todo.pop()
            ticks += stats.get(pid, (0, 0))[1]
            todo += [child for child in children.get(pid, []) if child not in roots.values()]  # counted apart
        totals[name] = ticks / os.sysconf("SC_CLK_TCK")
    return totals
