"""Measurement: identifier values of the simulation found in what the platform shows after `gmoda run`.

    GMODA_HOME=/tmp/x .venv/bin/gmoda run | tee /tmp/x-console.txt
    GMODA_HOME=/tmp/x .venv/bin/python bench/identifier_leaks.py /tmp/x-console.txt

Looks for every identifier of the simulation's truth (`<landing>_truth/`) and of the delivered files (landing
zone and quarantine) in every event of every Dagster run, every run's tags and config, every quarantine reason
every row of every `ops` table and the console output files given (`gmoda_assets/simulate/leaks.py` says what is looked for and how), and
prints the hits by kind and by where they were found. The promise is 0.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def main() -> int:
    from gmoda_assets.lib import database, settings
    from gmoda_assets.lib.instance import get_instance
    from gmoda_assets.simulate.leaks import find, identifier_values, platform_texts

    landing, quarantine = settings.landing_dir(), settings.quarantine_dir()
    truth = landing.parent / f"{landing.name}_truth"
    delivered = sorted(landing.glob("*/*")) + sorted(p for p in quarantine.glob("*/*") if not p.name.endswith(".reason.json"))
    values = identifier_values(truth, delivered)
    instance = get_instance()
    runs = len(instance.get_runs())
    consoles = [(f"console {path}", Path(path).read_text(encoding="utf-8")) for path in sys.argv[1:]]
    hits = find(values, [*platform_texts(instance, database.warehouse_url(), quarantine), *consoles])
    print(f"Looked for {len(values):,} identifier values in {runs} runs' events, quarantine reasons, ops tables"
          f"{' and ' + str(len(consoles)) + ' console output file(s)' if consoles else ''}.")
    print(f"Identifier hits: {len(hits)}")
    for kind, n in Counter(h.kind for h in hits).most_common():
        print(f"  {n:6d} {kind}")
    for where, n in Counter(h.where.split(" event ")[-1] if " event " in h.where else h.where for h in hits).most_common(10):
        print(f"  {n:6d} in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
