"""Benchmark: synthesising the children of Greater Manchester, with every utility and risk measure.

    .venv/bin/python bench/synthetic.py [--scale gm] [--seed 42]

Draws the simulated world (``--scale gm``: about 34,000 births a year) and takes the children assessed at the end
of Reception by its cut-off, shaped as ``synthetic.children`` reads them from the warehouse, as if the linkage had
found every child's records (their person key is the simulation's own): the cohort (month of birth, assessment
year, prediction point), the EYFSP record (council, home ward and deprivation, sex, ethnicity, first language,
free school meals, SEN, GLD), and the births, health-visiting and funded-early-education records, turned into
features by the same functions as the asset (``gmoda_assets.synthetic.source.assemble``). Then runs the synthesis
exactly as the ``synthetic/children`` asset does (``synthesise_children``: holdout split, one CART model per
council, copies and replicated uniques removed, every figure measured) and prints the seconds (wall and CPU) of
each stage, the process's peak memory and the figures. The world is simulated truth, used here only to measure;
nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def real_children(scale: str, seed: int):
    """The simulated children assessed by the simulation's cut-off, as ``source.real_children`` gives them."""
    import numpy as np
    import pandas as pd

    from gmoda_assets.school_readiness import cohort
    from gmoda_assets.school_readiness.config import settings
    from gmoda_assets.school_readiness.domains import AREA, ASQ, BIRTHS, EARLY_EDUCATION, HEALTH_VISITING
    from gmoda_assets.simulate.records import KEY, PERSON
    from gmoda_assets.simulate.world import build_world
    from gmoda_assets.synthetic.config import synthetic_config
    from gmoda_assets.synthetic.source import assemble

    world = build_world(scale, seed)
    population = world.population
    assessed = population.children[population.children.gld.notna()]
    born = pd.to_datetime(assessed.date_of_birth, unit="D")
    home = population.periods.iloc[population.address_at(assessed.household.to_numpy(),
                                                         assessed.assessment_day.to_numpy())]
    year = assessed.assessment_year.astype(int)
    children = pd.DataFrame({
        "birth_month": born.dt.month.to_numpy(), "assessed_council_code": assessed.eyfsp_council.to_numpy(),
        "assessment_year": [f"{y - 1}/{y % 100:02d}" for y in year], "outcome_status": "known",
        "gld": assessed.gld.to_numpy(),
        "prediction_date": cohort.prediction_dates(born.dt.year, born.dt.month, settings().prediction_point)
                                 .to_numpy()}, index=pd.Index(assessed.child_id.to_numpy(), name="person_key"))
    assessments = pd.DataFrame({
        "ward17cd": home.ward17cd.to_numpy(), "imd_decile": home.imd_decile.to_numpy(),
        **{c: assessed[c].to_numpy() for c in ("sex", "ethnicity", "first_language", "fsm_eligible",
                                               "sen_provision")}}, index=children.index)

    def records(feed_kind: str, **columns) -> pd.DataFrame:
        frames = [f for feed, f in world.records.items() if feed.endswith(f".{feed_kind}")]
        found = pd.concat(frames, ignore_index=True)
        found = found[found["_to"].isna()]  # the current version of each record
        return pd.DataFrame({"person_key": found[PERSON].to_numpy(), "record_key": found[KEY].to_numpy(),
                             **{name: found[source].to_numpy() for name, source in columns.items()},
                             **{c: None for c in AREA}})

    births = records("births", event_date="date_of_birth", sex="sex", birth_weight_grams="birth_weight_grams",
                     gestation_weeks="gestation_weeks", ethnicity="ethnicity", mother_age="mother_age")
    births["event_date"] = pd.to_datetime(births["event_date"]).dt.to_period("M").dt.to_timestamp()
    reviews = records("hv_reviews", event_date="review_date", review_type="review_type",
                      breastfeeding="breastfeeding", **{c: c for c in ASQ})
    reviews["asq_complete"] = np.logical_and.reduce([reviews[c].notna().to_numpy() for c in ASQ])
    funded = records("funded_early_education", event_date="start_date", funding_stream="funding_stream")
    events = {d.name: frame.assign(event_date=pd.to_datetime(frame["event_date"]))
              for d, frame in ((BIRTHS, births), (HEALTH_VISITING, reviews), (EARLY_EDUCATION, funded))}
    return assemble(children, assessments, events, synthetic_config().columns)


STAGES = {"split": "split", "synthesise": "synthesis", "without_copies": "copies removed",
          "replicated_unique_rows": "replicated uniques removed", "exact_copies": "exact copies",
          "distance_to_closest_record": "distance to closest record", "replicated_uniques": "replicated uniques",
          "attribute_disclosure": "attribute disclosure", "pmse": "pMSE", "discriminator_auc": "discriminator",
          "marginal_distances": "marginal distances", "key_rates": "key rates",
          "train_synthetic_test_real": "train on synthetic, test on real"}


@contextmanager
def timed_stages(timings: dict):
    """Time (wall, CPU) each stage of the synthesis by wrapping the functions ``build`` calls."""
    from gmoda_assets.synthetic import build

    modules = [build, build.risk, build.utility]
    saved = []
    for name in STAGES:
        module = next(m for m in modules if hasattr(m, name))
        original = getattr(module, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent = timings.setdefault(STAGES[_name], [0.0, 0.0])
                spent[0] += time.perf_counter() - wall
                spent[1] += time.process_time() - cpu

        saved.append((module, name, original))
        setattr(module, name, wrapper)
    try:
        yield timings
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


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
    timings: dict = {}
    cpu = time.process_time()
    with timed_stages(timings):
        made = synthesise_children(real, synthetic_config())
    seconds, cpu = time.perf_counter() - drawn, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"synthesis and every measure: {seconds:.1f} s wall, {cpu:.1f} s CPU ({len(real) / seconds:,.0f} "
          f"children/s), peak memory {peak:.2f} GiB (the whole process, simulated world included)")
    print("  " + ", ".join(f"{stage} {wall:.1f}/{spent:.1f}" for stage, (wall, spent) in timings.items()
                           if spent >= 0.5) + " (s wall/CPU; stages of 0.5 s CPU or more)")
    print(", ".join(f"{k} {v:,}" for k, v in made.summary.items()))
    quality = made.quality
    for check, rows in quality.groupby("check_name", sort=False):
        worst = rows.loc[(rows.value - rows.limit_value).abs().idxmax()] if len(rows) > 1 else rows.iloc[0]
        print(f"  {check:<28} {'passed' if rows.passed.all() else 'FAILED':<7} {len(rows):>4} figure(s); e.g. "
              f"{worst.measure} {worst.council_code}: {worst.value:.4g} (limit {worst.limit_value:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
