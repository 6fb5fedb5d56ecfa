"""How good the published linkage is (``linked.linkage_quality``): against a simulation's truth where one is
configured, and always in the model's own view.

* **Against the truth** (only where ``GMODA_TRUTH_DIR`` names a simulation's truth folder: demos, tests, the
  benchmark; production has none and never reads one): pairwise precision, recall and F1 and cluster precision
  and recall, overall and per pair of partner classes (``gmoda_assets.linkage.evaluation``).
* **The model's own view**: people by number of records, scored pairs by match weight (from the run's figures),
  the share of each partner's records linked to no other record, and the share of people holding two NHS
  numbers.

Floors (truth) and ceilings (model) are configuration (``quality`` in ``linkage.yaml``); each row carries its
bound, and the asset's check fails on a row beyond it. Every figure is a count or a share, never a value.
"""

from __future__ import annotations

from psycopg import Connection, sql

from gmoda_assets.lib import settings
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.linkage.config import linkage_config

TRUTH, MODEL = "truth", "model"
PERSON_RECORDS, PERSON, RUNS = ("linked", "person_records"), ("linked", "person"), ("linked", "model_runs")
# What the truth gives per scope (evaluation.measures) -> the measure's name in the table.
_TRUTH_MEASURES = {("precision",): "pairwise_precision", ("recall",): "pairwise_recall", ("f1",): "pairwise_f1",
                   ("pairs",): "pairs_found", ("true_pairs",): "true_pairs",
                   ("clusters", "precision"): "cluster_precision", ("clusters", "recall"): "cluster_recall",
                   ("clusters", "people"): "people_found", ("clusters", "true_people"): "true_people"}


def _model_view(conn: Connection) -> list[tuple[str, str, float | None]]:
    """(scope, measure, value) of the model's own view of the published linkage."""
    rows = [(scope, "share_unlinked", value) for scope, value in conn.execute("""
        SELECT split_part(feed_id, '.', 1), avg((match_method = 'singleton')::integer)::double precision
        FROM linked.person_records GROUP BY 1 ORDER BY 1""")]
    rows += [("all", "share_with_two_nhs_numbers", conn.execute(
        "SELECT avg((nhs_numbers > 1)::integer)::double precision FROM linked.person").fetchone()[0])]
    rows += [(f"people of {size} records", "people", n) for size, n in conn.execute("""
        SELECT CASE WHEN n >= 10 THEN '10+' ELSE n::text END, count(*) FROM (
            SELECT count(*) AS n FROM linked.person_records GROUP BY person_key) AS p
        GROUP BY 1 ORDER BY min(n)""")]
    # The scored pairs' match weights, as the published run's figures hold them.
    histogram = conn.execute("""
        SELECT r.figures -> 'match_weight_histogram' FROM linked.model_runs AS r
        WHERE r.run_id = (SELECT max(run_id) FROM linked.person_records)""").fetchone()
    rows += [(f"match weight {bin}", "pairs_scored", n) for bin, n in ((histogram or [None])[0] or {}).items()]
    return rows


def _against_truth(conn: Connection, truth_dir) -> list[tuple[str, str, float | None]]:
    """(scope, measure, value) of the published linkage against the simulation's truth in ``truth_dir``."""
    import duckdb

    from gmoda_assets.linkage import evaluation, records

    duck = duckdb.connect()
    try:
        evaluation.true_people(conn, duck, truth_dir)
        records.load(conn, duck, sql.SQL("SELECT feed_id, record_key, person_key FROM linked.person_records"),
                     "published", {"feed_id": "text", "record_key": "text", "person_key": "integer"})
        labelled = (f"SELECT t.true_person, p.person_key AS person, {evaluation.PARTNER_CLASS} AS class "
                    f"FROM published p JOIN {evaluation.TRUTH} t USING (feed_id, record_key)")
        found = evaluation.measures(duck, labelled)
    finally:
        duck.close()
    rows = []
    for scope, figures in found.items():
        for path, measure in _TRUTH_MEASURES.items():
            value = figures
            for step in path:
                value = value[step]
            rows.append((scope, measure, value))
    return rows


def _quality(context, conn: Connection):
    """The rows of linked.linkage_quality and the materialisation's metadata."""
    from dagster import MetadataValue

    bounds = linkage_config().quality
    run_id = conn.execute("SELECT max(run_id) FROM linked.person_records").fetchone()[0]
    truth_dir = settings.truth_dir()
    measured = [(MODEL, *row) for row in _model_view(conn)]
    if truth_dir is not None:
        if not (truth_dir / "record_links.csv.gz").is_file():
            raise FileNotFoundError(f"GMODA_TRUTH_DIR is {truth_dir}, which holds no record_links.csv.gz: unset it "
                                    f"on real data, or point it at a simulation's truth folder")
        against = _against_truth(conn, truth_dir)
        # A floor whose scope has no records to measure is reported unmeasured, so its check fails.
        unmeasured = set(bounds.floors) - {(scope, measure) for scope, measure, _ in against}
        measured += [(TRUTH, *row) for row in (*against, *((s, m, None) for s, m in sorted(unmeasured)))]
    rows = [(run_id, against, scope, measure, None if value is None else float(value),
             bounds.floors.get((scope, measure)) if against == TRUTH else None,
             bounds.ceilings.get((scope, measure)) if against == MODEL else None)
            for against, scope, measure, value in measured]
    views = {}
    for _, against, scope, measure, value, _, _ in rows:
        views.setdefault(against, {}).setdefault(scope, {})[measure] = value
    metadata = {"measured_against": "truth and model" if truth_dir else "model (no truth configured)",
                **{f"{against} view": MetadataValue.json(view) for against, view in views.items()},
                # The bounded figures on their own, so the UI plots them run after run.
                **{f"{against} {scope} {measure}": value for _, against, scope, measure, value, floor, ceiling in rows
                   if (floor is not None or ceiling is not None) and value is not None}}
    return rows, metadata


QUALITY = TableSpec("linked", "linkage_quality", (
    "How good the published linkage (linked.person_records) is. Against a simulation's truth, where one is "
    "configured (GMODA_TRUTH_DIR; never on real data): pairwise precision, recall and F1 (of the pairs of records "
    "put in one person, the share truly one person; of the true pairs, the share found) and cluster precision "
    "and recall (the share of people found that are exactly a true person; of true people, the share found "
    "exactly), overall (all) and per pair of partner classes (council-nhs, council-council, nhs-police, "
    "housing-nhs, ...). Always, the model's own view: the share of each partner's records linked to no other, the "
    "share of people with two NHS numbers, people by number of records and scored pairs by match weight. A "
    "figure beyond its configured floor or ceiling (linkage.yaml, quality) fails the check. Counts and shares "
    "only."), {
    "run_id": Column("integer", "The linkage run (linked.model_runs) whose published output is measured."),
    "measured_against": Column("text", "truth (the simulation's) or model (the linkage's own view).",
                               not_null=True),
    "scope": Column("text", "What the figure covers: all, a pair of partner classes (council-nhs), a partner "
                            "(share_unlinked), a size of person or a match-weight bin.", not_null=True),
    "measure": Column("text", "pairwise_precision, pairwise_recall, pairwise_f1, pairs_found, true_pairs, "
                              "cluster_precision, cluster_recall, people_found, true_people; share_unlinked, "
                              "share_with_two_nhs_numbers, people, pairs_scored.", not_null=True),
    "value": Column("double precision", "The figure; null when there is nothing to measure (no pairs)."),
    "floor": Column("double precision", "The configured floor: a lower value fails the check."),
    "ceiling": Column("double precision", "The configured ceiling: a higher value fails the check."),
}, Computed(_quality, assets=(PERSON_RECORDS, PERSON, RUNS)),
    primary_key=("measured_against", "scope", "measure"),
    metrics={"figures_beyond_bounds": "count(*) FILTER (WHERE value < floor OR value > ceiling)"})

SPECS = [QUALITY]


def print_quality(conn: Connection) -> None:
    """The truth's pairwise precision and recall per partner pair beside their floors (``gmoda run``'s summary)."""
    found = conn.execute("""
        SELECT scope, measure, value, floor FROM linked.linkage_quality
        WHERE measured_against = 'truth' AND measure IN ('pairwise_precision', 'pairwise_recall', 'true_pairs')
        ORDER BY scope = 'all' DESC, scope""").fetchall() if conn.execute(
        "SELECT to_regclass('linked.linkage_quality')").fetchone()[0] else []
    if not found:
        print("Linkage quality: no truth configured (GMODA_TRUTH_DIR), so only the model's own view")
        return
    table = {}
    for scope, measure, value, floor in found:
        table.setdefault(scope, {})[measure] = (value, floor)

    def shown(figure):
        value, floor = figure or (None, None)
        text = "  -  " if value is None else f"{value:.3f}"
        return text + (f" (target >= {floor:g}{'' if value is not None and value >= floor else ', MISSED'})"
                       if floor is not None else "")

    print("Linkage against the simulation's truth (pairwise precision, recall; linkage.yaml quality floors):")
    for scope, figures in table.items():
        true_pairs = figures.get("true_pairs", (0, None))[0] or 0
        print(f"  {scope:<16} precision {shown(figures.get('pairwise_precision')):<32} "
              f"recall {shown(figures.get('pairwise_recall')):<32} true pairs {int(true_pairs):,}")
