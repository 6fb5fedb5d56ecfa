"""``model.evaluation``: the latest training run's candidates on their validation cohort, overall, per council,
sex, deprivation quintile and ethnic group, and as calibration tables; beside them, where a simulation's truth is
configured (``GMODA_TRUTH_DIR``, which ``gmoda run`` sets; never on real data), the Bayes-optimal figures:
each child's true probability of GLD used as the prediction, the best any model can do.

Its checks fail when the chosen model does not beat the pilot's model and the majority class, or is not
calibrated overall or in a council (``expectations/model.evaluation.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue
from psycopg import sql

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.school_readiness.features import PURPOSE
from gmoda_assets.school_readiness.model_runs import FEATURES_KEY, read_features

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

RUNS_KEY = ("model", "model_runs")
BAYES = "bayes_optimal"
GROUPS = {  # group kind -> the column of model.features it groups by
    "council": "assessed_council_code",
    "sex": "sex",
    "deprivation_quintile": "deprivation_quintile",
    "ethnicity": "ethnicity",
}
FIGURES = ("children", "observed_rate", "mean_predicted", "accuracy", "majority_accuracy", "balanced_accuracy", "auc",
           "brier", "ece")


def latest_run(conn) -> dict | None:
    """The current (latest published) training run, or None while no model has been trained."""
    cursor = conn.execute("SELECT * FROM model.model_runs ORDER BY run_id DESC LIMIT 1")
    row = cursor.fetchone()
    return None if row is None else dict(zip([d.name for d in cursor.description], row))


def true_probabilities(conn, truth: Path) -> pd.Series:
    """Each linked child's true probability of GLD (simulation only), found through their EYFSP records: staged
    record -> its file (the drop's, in ops.drops) and row -> the truth's person of that row."""
    import pandas as pd

    eyfsp = [c for c in feed_contracts() if c.kind == "eyfsp"]
    rows = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT f.person_key, d.file_name, s._row_number FROM conformed.fact_early_years_outcomes AS f "
                "JOIN {staged} AS s USING (record_key) JOIN ops.drops AS d ON d.drop_id = s._drop_id "
                "WHERE f.person_key <> -1").format(staged=sql.Identifier("staging", staging_table(c)))
        for c in eyfsp)
    records = pd.DataFrame(conn.execute(rows).fetchall(), columns=["person_key", "file_name", "row"])
    links = pd.read_csv(truth / "record_links.csv.gz", usecols=["file_name", "row", "person_id"])
    children = pd.read_csv(truth / "children.csv.gz", usecols=["child_id", "p_gld"])
    found = records.merge(links, on=["file_name", "row"]).merge(children, left_on="person_id", right_on="child_id")
    return found.groupby("person_key")["p_gld"].mean()


def _rows(model: str, chosen: bool, frame: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> list[dict]:
    from gmoda_assets.school_readiness import metrics

    rows = [{"model": model, "is_chosen": chosen, "group_kind": "all", "group_value": "all",
             **metrics.summary(y, p)}]
    for kind, column in GROUPS.items():
        rows += [{"model": model, "is_chosen": chosen, "group_kind": kind, "group_value": g, **figures}
                 for g, figures in metrics.by_group(frame[column], y, p).items()]
    table = metrics.calibration_table(y, p)
    rows += [{"model": model, "is_chosen": chosen, "group_kind": "calibration_bin", "group_value": b,
              "children": int(t.children), "mean_predicted": t.predicted, "observed_rate": t.observed}
             for b, t in table.iterrows()]
    return rows


def evaluate(run: dict, features: pd.DataFrame, true_p: pd.Series | None) -> tuple[pd.DataFrame, dict]:
    """The evaluation rows of ``run`` on its validation cohort, and its curves (for the report)."""
    import pandas as pd

    from gmoda_assets.school_readiness import training

    validation = features[(features["outcome_status"] == "known")
                          & (features["assessment_year"] == run["validation_year"])].copy()
    validation["deprivation_quintile"] = ((validation["imd_decile"].astype("Float64") + 1) // 2).astype("Int64") \
        .astype("string")
    fitted = training.loads(run["models"])
    rows, curves = [], {}
    for name, model in fitted.items():
        mine = training.CANDIDATES[name].children(validation)
        outcome = mine["gld"].astype(bool).to_numpy()
        p = training.predict(name, model, mine)
        rows += _rows(name, name == run["chosen_model"], mine, outcome, p)
        curves[name] = (outcome, p)
    if true_p is not None:
        known = validation["person_key"].map(true_p)
        held = known.notna().to_numpy()
        y = validation["gld"].astype(bool).to_numpy()[held]
        rows += _rows(BAYES, False, validation[held], y, known[held].to_numpy())
        curves[BAYES] = (y, known[held].to_numpy())
    table = pd.DataFrame(rows).assign(run_id=run["run_id"])
    return table[list(EVALUATION_SPEC.columns)], curves


def _evaluation(context: AssetExecutionContext, conn) -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from gmoda_assets.school_readiness import report

    run = latest_run(conn)
    if run is None:
        return [], {"model_version": "none: no model trained yet"}
    features = read_features(conn)
    if not ((features["outcome_status"] == "known") & (features["assessment_year"] == run["validation_year"])).any():
        context.log.warning(f"no child of the validation cohort {run['validation_year']} is in model.features")
        return [], {"model_version": run["model_version"], "validation_year": run["validation_year"]}
    truth = settings.truth_dir()
    true_p = true_probabilities(conn, truth) if truth else None
    table, curves = evaluate(run, features, true_p)
    overall = table[table["group_kind"] == "all"].set_index("model")
    chosen = run["chosen_model"]
    figures = {f"{m}_{k}": float(overall.loc[m, k]) for m in overall.index for k in ("accuracy", "auc", "brier", "ece")
               if pd.notna(overall.loc[m, k])}
    if BAYES in overall.index:  # the target: AUC at least 0.95 of the Bayes-optimal (simulated data)
        figures.update({f"{k}_share_of_bayes_optimal": float(overall.loc[chosen, k] / overall.loc[BAYES, k])
                        for k in ("accuracy", "auc")})
    context.log.info(f"{run['model_version']} on {run['validation_year']}: accuracy {overall.loc[chosen, 'accuracy']:.3f}"
                     f" (majority {overall.loc[chosen, 'majority_accuracy']:.3f}), AUC {overall.loc[chosen, 'auc']:.3f}")
    return table, {"model_version": run["model_version"], "validation_year": run["validation_year"],
                   "truth_used": true_p is not None, **figures,
                   "report": MetadataValue.md(report.evaluation_markdown(run, table, curves))}


def model_summary(conn) -> list[str]:
    """Lines for the run summary: the current model's accuracy and AUC on its validation cohort beside the
    majority class's, the pilot's model's (also on Stockport alone) and the Bayes-optimal, and the targets."""
    import pandas as pd

    from gmoda_assets.school_readiness import report

    cursor = conn.execute("""
        SELECT e.*, r.model_version, r.validation_year FROM model.evaluation AS e JOIN model.model_runs AS r
        USING (run_id) WHERE e.run_id = (SELECT max(run_id) FROM model.evaluation)""")
    table = pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])
    if table.empty:
        return []
    overall = table[table["group_kind"] == "all"].sort_values(["is_chosen", "model"], ascending=[False, True])
    lines = [f"School readiness model {table['model_version'].iloc[0]} on the {table['validation_year'].iloc[0]} "
             "cohort (accuracy, AUC):"]
    for row in overall.itertuples():
        shown = f"{row.model} (chosen)" if row.is_chosen else row.model
        auc = row.auc if pd.notna(row.auc) else float("nan")
        lines.append(f"  {shown:<22} {row.accuracy:6.1%}  {auc:.3f}  ({row.children:,} children; majority class "
                     f"{row.majority_accuracy:.1%})")
    chosen = overall.loc[overall["is_chosen"], "model"].iloc[0]
    return lines + ["  " + line for line in report.targets(table, chosen).split("\n")]


EVALUATION_SPEC = TableSpec(
    "model", "evaluation",
    "School readiness: how the latest training run's models do on their validation cohort (the latest assessment "
    "year with known outcomes), overall and per council, sex, deprivation quintile and ethnic group, with "
    "calibration tables; beside them the majority class, the pilot's model and, on simulated data only, the "
    "Bayes-optimal figures from the simulator's true probabilities. Purpose: school_readiness.",
    {
        "run_id": Column("integer", "The training run (model.model_runs)."),
        "model": Column("text", "majority, pilot, logistic, boosted, pilot_stockport (the pilot's model trained and "
                                "validated on Stockport's children alone: its rows are Stockport's), or "
                                "bayes_optimal (the simulator's true probabilities: simulated data only)."),
        "is_chosen": Column("boolean", "The run's chosen model (the one that scores children)."),
        "group_kind": Column("text", "all, council (that assessed the child), sex, deprivation_quintile (IMD 2019, "
                                     "1 most deprived), ethnicity, or calibration_bin (of predicted probability)."),
        "group_value": Column("text", "The group: a council code, female, 1-5, an ethnic group, a bin such as "
                                      "0.6-0.7, or all."),
        "children": Column("integer", "Children of the validation cohort in the group."),
        "observed_rate": Column("double precision", "Share that reached a Good Level of Development."),
        "mean_predicted": Column("double precision", "Mean predicted probability of reaching it."),
        "accuracy": Column("double precision", "Share predicted right (reaching GLD when the probability is at least "
                                               "0.5); null for a calibration bin."),
        "majority_accuracy": Column("double precision", "Accuracy of predicting the group's own majority outcome for "
                                                        "everyone: the bar any model must clear."),
        "balanced_accuracy": Column("double precision", "Mean of the shares predicted right among those who did "
                                                        "and did not reach GLD."),
        "auc": Column("double precision", "ROC AUC; null when the group holds one outcome only."),
        "brier": Column("double precision", "Brier score: mean squared gap between probability and outcome (lower "
                                            "is better)."),
        "ece": Column("double precision", "Expected calibration error over 10 bins of predicted probability."),
    },
    Computed(_evaluation, assets=(RUNS_KEY, FEATURES_KEY),
             column_lineage={"model": ((RUNS_KEY, "models"),), "observed_rate": ((FEATURES_KEY, "gld"),)}),
    purpose=PURPOSE,
)

evaluation = table_asset(EVALUATION_SPEC)
