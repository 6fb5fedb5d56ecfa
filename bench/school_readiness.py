"""Benchmark: the school-readiness model at Greater Manchester scale: feature building, training (every candidate,
calibrated, and the chosen one refitted on every known cohort) and scoring, each timed, with the process's peak
memory after each; then the evaluation on the validation cohort beside the majority class, the pilot's model and
the Bayes-optimal from the simulation's truth, the issue's targets with their figures, and the model card (written
to bench/out/school_readiness_model_card.md).

    .venv/bin/python bench/school_readiness.py [--scale gm] [--months 3] [--seed 42]

Uses the warehouse `bench/raw_load.py` and `bench/refresh.py` built (run those first, as `make bench` does: the
refresh links people and gives every fact its person key). The steps run as the assets' own functions (not
through Dagster, so that a run whose data has not changed still trains); nothing is written to the warehouse.
Target: under 2 minutes for the three on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime, timezone

from bench_warehouse import OUT, open_bench_warehouse


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process so far (every thread): on a shared machine, steadier than the wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _step(timings: list, name: str, started: float, cpu: float) -> None:
    timings.append((name, time.perf_counter() - started, _cpu() - cpu, _peak_mib()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "gm"], default="gm", help="the simulation bench/raw_load.py loaded")
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if open_bench_warehouse() is None:
        return 1
    from gmoda_assets.resources import Warehouse
    from gmoda_assets.school_readiness import evaluation, features, model_runs, report, scores, training

    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    timings = []
    with Warehouse().connect() as conn:
        linked = conn.execute("SELECT count(*) FROM conformed.fact_births WHERE person_key <> -1").fetchone()[0]
        if not linked:
            print("no linked births in the bench warehouse: run bench/raw_load.py and bench/refresh.py first")
            return 1
        started, cpu = time.perf_counter(), _cpu()
        frame, counts = features.build(conn)
        _step(timings, "features", started, cpu)
        print(f"{len(frame):,} children: {counts['children_known']:,} known, {counts['children_pending']:,} pending")

        started, cpu = time.perf_counter(), _cpu()
        trained = model_runs.train(frame)
        _step(timings, "training", started, cpu)

        chosen = trained["chosen"]
        run = {"run_id": 0, "validation_year": trained["split"].validation_year, "chosen_model": chosen,
               "models": training.dumps(trained["fitted"]), "production_model": training.dumps(trained["production"]),
               "model_version": f"bench-{chosen}", "train_years": ", ".join(trained["split"].train_years)}
        started, cpu = time.perf_counter(), _cpu()
        scored = scores.score(run, frame)
        _step(timings, "scoring", started, cpu)

        truth = OUT / f"{args.scale}-seed{args.seed}-months{args.months}" / "landing_truth"
        true_p = evaluation.true_probabilities(conn, truth) if (truth / "children.csv.gz").is_file() else None
        table, _ = evaluation.evaluate(run, frame, true_p)

    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'step':<10} {'seconds':>8} {'CPU s':>8} {'peak MiB':>9}")
    for step, seconds, cpu, peak in timings:
        print(f"{step:<10} {seconds:>8.1f} {cpu:>8.1f} {peak:>9.0f}")
    total, cpu = sum(t[1] for t in timings), sum(t[2] for t in timings)
    print(f"total      {total:>8.1f} {cpu:>8.1f}  ({'within' if total < 120 else 'over'} the 2-minute target); "
          f"{len(scored):,} children scored")
    print(f"validated on {run['validation_year']}, trained on {run['train_years']}; chosen: {chosen}")
    print(report.markdown_table(report.overall(table)))
    councils = table[(table["model"] == chosen) & (table["group_kind"] == "council")].set_index("group_value")
    councils = councils[["children", "accuracy", "majority_accuracy", "auc", "ece"]]
    if true_p is not None:  # the true probabilities' own calibration error there: the sampling noise
        bayes = table[(table["model"] == evaluation.BAYES) & (table["group_kind"] == "council")]
        councils = councils.join(bayes.set_index("group_value")[["auc", "ece"]].add_suffix("_bayes_optimal"))
    print(report.markdown_table(councils))
    print(report.targets(table, chosen))
    card = OUT / "school_readiness_model_card.md"
    run.update(trained_at=datetime.now(timezone.utc), code_version=model_runs.code_version(), dagster_run="none (bench)",
               features=", ".join(training.CANDIDATES[chosen].columns), children_train=len(trained["split"].train),
               children_validation=len(trained["split"].validation))
    card.write_text(report.model_card(run, table, frame))
    print(f"model card: {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
