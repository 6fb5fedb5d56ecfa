"""Benchmark: synthesising the children of Greater Manchester, with every utility and risk measure.

    .venv/bin/python bench/synthetic.py [--scale gm] [--seed 42]

Draws the simulated population (``--scale gm``: about 34,000 births a year) and takes the children assessed at
the end of Reception, with the columns ``synthetic.children`` is made from (ward and deprivation of their home
then, month of birth, sex, ethnicity, first language, birth weight, gestation, ASQ-3 at two, free school meals,
SEN, GLD), as the warehouse would give them if every council delivered NHS numbers (so every child has its birth
and health-visiting columns: the most work). Then runs the synthesis exactly as the ``synthetic/children``
asset does (``synthesise_children``: holdout split, one CART model per council, copies and replicated uniques
removed, every figure measured) and prints the wall time, the process's peak memory and the figures. The
population is simulated truth, used here only to measure; nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def real_children(scale: str, seed: int):
    """The simulated children assessed by the simulation's cut-off, shaped as the warehouse query returns them."""
    import pandas as pd

    from gmoda_assets.simulate.world import build_world
    from gmoda_assets.synthetic.source import ASQ

    population = build_world(scale, seed).population
    children = population.children[population.children.gld.notna()].reset_index(drop=True)
    home = population.periods.iloc[population.address_at(children.household.to_numpy(),
                                                         children.assessment_day.to_numpy())]
    year = children.assessment_year.astype(int)
    frame = pd.DataFrame({
        "council_code": children.eyfsp_council, "ward17cd": home.ward17cd.to_numpy(),
        "imd_decile": home.imd_decile.to_numpy(),
        "academic_year": [f"{y - 1}/{y % 100:02d}" for y in year],
        "birth_month": pd.to_datetime(children.date_of_birth, unit="D").dt.month,
        **{c: children[c] for c in ("sex", "ethnicity", "first_language", "birth_weight_grams", "gestation_weeks",
                                    *ASQ, "fsm_eligible", "sen_provision", "gld")}})
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("small", "gm"), default="gm")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from gmoda_assets.synthetic.build import synthesise_children
    from gmoda_assets.synthetic.config import synthetic_config

    started = time.perf_counter()
    real = real_children(args.scale, args.seed)
    drawn = time.perf_counter()
    print(f"{len(real):,} real children in {real.council_code.nunique()} councils (simulated, scale {args.scale}, "
          f"seed {args.seed}) in {drawn - started:.1f} s")
    made = synthesise_children(real, synthetic_config())
    seconds = time.perf_counter() - drawn
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"synthesis and every measure: {seconds:.1f} s ({len(real) / seconds:,.0f} children/s), "
          f"peak memory {peak:.2f} GiB (the whole process, population included)")
    print(", ".join(f"{k} {v:,}" for k, v in made.summary.items()))
    quality = made.quality
    for check, rows in quality.groupby("check_name", sort=False):
        worst = rows.loc[(rows.value - rows.limit_value).abs().idxmax()] if len(rows) > 1 else rows.iloc[0]
        print(f"  {check:<28} {'passed' if rows.passed.all() else 'FAILED':<7} {len(rows):>4} figure(s); e.g. "
              f"{worst.measure} {worst.council_code}: {worst.value:.4g} (limit {worst.limit_value:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
