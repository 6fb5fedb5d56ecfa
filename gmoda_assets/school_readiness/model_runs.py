"""``model.model_runs``: every published training run, each with its models stored in the warehouse (not in a
local file), its metrics on the validation cohort, the features, the cohorts it learnt from and the code version.
Scores name the run (``model_version``) that produced them. A run whose chosen model scores worse on the same
validation cohort (the same children) than the current one is not published (blocking check
``no_worse_than_the_current_model``): the current model stays, and so do its scores."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue

from gmoda_assets.lib.digest import sha256_of
from gmoda_assets.lib.frames import query_frame
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.school_readiness.features import FEATURES, PURPOSE

if TYPE_CHECKING:
    import pandas as pd

FEATURES_KEY = ("model", "features")
_PACKAGE = Path(__file__).resolve().parent


def read_features(conn) -> pd.DataFrame:
    return query_frame(conn, "SELECT * FROM model.features ORDER BY person_key")


def code_version() -> str:
    """The package's version and a digest of this package's source and settings: a change to either is a new
    code version."""
    paths = sorted(_PACKAGE.glob("*.py")) + sorted(_PACKAGE.glob("*.yaml"))
    digest = sha256_of(path.name.encode() + path.read_bytes() for path in paths)
    return f"gmoda-assets {version('gmoda-assets')}+{digest.hexdigest()[:12]}"


def data_digest(features: pd.DataFrame) -> str:
    """A digest of what the models learn from: every known child's features and outcome."""
    import pandas as pd

    known = features[features["outcome_status"] == "known"].sort_values("person_key")
    return sha256_of([pd.util.hash_pandas_object(known, index=False).to_numpy().tobytes()]).hexdigest()[:16]


def train(features: pd.DataFrame) -> dict:
    """Every candidate fitted on the training cohorts and scored on the validation cohort; the chosen one (lowest
    Brier score) refitted on every known cohort for scoring."""
    from gmoda_assets.school_readiness import metrics, training

    split = training.temporal_split(features)
    fitted, scored = {}, {}
    for name, candidate in training.CANDIDATES.items():
        fitted[name] = training.fit(name, split.train)
        validation = candidate.children(split.validation)
        scored[name] = metrics.summary(validation["gld"].astype(bool).to_numpy(),
                                       training.predict(name, fitted[name], validation))
    chosen = min(training.CHOOSABLE, key=lambda n: scored[n]["brier"])
    # Which children validated: a later run is held to this one's figures only on the same children.
    cohort = sha256_of([" ".join(sorted(map(str, split.validation["person_key"]))).encode()]).hexdigest()[:16]
    for figures in scored.values():
        figures["validation_cohort"] = cohort
    known = features[features["outcome_status"] == "known"]
    return {"split": split, "fitted": fitted, "metrics": scored, "chosen": chosen,
            "production": training.fit(chosen, known)}


def _runs(context: AssetExecutionContext, conn) -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from gmoda_assets.school_readiness import report, training

    previous = conn.execute("SELECT * FROM model.model_runs ORDER BY run_id")
    runs = pd.DataFrame(previous.fetchall(), columns=[d.name for d in previous.description])
    runs["metrics"] = runs["metrics"].map(json.dumps)  # as read: back to the JSON text COPY takes
    features = read_features(conn)
    digest, code = data_digest(features), code_version()
    if len(runs) and (runs.iloc[-1]["data_digest"], runs.iloc[-1]["code_version"]) == (digest, code):
        # Same data, same code: the same models. The current run stays, and no run is logged twice.
        context.log.info(f"training data and code unchanged since run {runs.iloc[-1]['run_id']}: kept")
        return runs, {"model_version": runs.iloc[-1]["model_version"], "retrained": False}
    years = features.loc[features["outcome_status"] == "known", "assessment_year"].nunique()
    if years < 2:  # a new install: nothing to learn from yet (model/features warns, enough_history_to_train)
        context.log.warning(f"known outcomes in {years} assessment year(s): two are needed to train and validate; "
                            "no model trained")
        return runs, {"retrained": False, "assessment_years_known": int(years)}
    trained = train(features)
    split, chosen = trained["split"], trained["chosen"]
    run_id = int(runs["run_id"].max()) + 1 if len(runs) else 1
    row = {
        "run_id": run_id, "dagster_run": context.run.run_id, "trained_at": datetime.now(timezone.utc),
        "code_version": code, "data_digest": digest, "model_version": f"school-readiness-{run_id}-{chosen}",
        "chosen_model": chosen, "train_years": ", ".join(split.train_years), "validation_year": split.validation_year,
        "features": ", ".join(training.CANDIDATES[chosen].columns),
        "children_train": len(split.train), "children_validation": len(split.validation),
        "metrics": json.dumps(trained["metrics"]),
        "models": training.dumps(trained["fitted"]), "production_model": training.dumps(trained["production"]),
    }
    table = pd.concat([runs, pd.DataFrame([row])], ignore_index=True)
    figures = pd.DataFrame(trained["metrics"]).T[["accuracy", "majority_accuracy", "balanced_accuracy", "auc", "brier",
                                                   "ece"]]
    context.log.info(f"run {run_id}: chose {chosen}, validated on {split.validation_year} "
                     f"({len(split.validation)} children)")
    return table, {"model_version": row["model_version"], "retrained": True, "chosen_model": chosen,
                   "validation_year": split.validation_year, "train_years": row["train_years"],
                   "children_train": len(split.train), "children_validation": len(split.validation),
                   **{f"{chosen}_{k}": float(v) for k, v in trained["metrics"][chosen].items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)},
                   "validation_metrics": MetadataValue.md(report.markdown_table(figures.astype(float)))}


MODEL_RUNS_SPEC = TableSpec(
    "model", "model_runs",
    "School readiness: every published training run of the Good Level of Development model, with its models "
    "(stored here, not in a file), metrics on the validation cohort (the latest assessment year with known "
    "outcomes, never trained on), features, training cohorts and code version. Scores name their run by "
    "model_version. A refresh whose data and code are unchanged keeps the current run. A run whose chosen model is worse than the current one on the same validation cohort is not "
    "published. Purpose: school_readiness.",
    {
        "run_id": Column("integer", "Number of the training run, 1, 2, ... in order."),
        "dagster_run": Column("text", "Id of the Dagster run that trained it."),
        "trained_at": Column("timestamp with time zone", "When it was trained."),
        "code_version": Column("text", "Package version and a digest of the school-readiness code and settings."),
        "data_digest": Column("text", "Digest of the training data (every known child's features and outcome): a "
                                      "refresh with the same data and code keeps the current run rather than "
                                      "logging the same model again."),
        "model_version": Column("text", "The model's name in scores: school-readiness-<run>-<chosen model>."),
        "chosen_model": Column("text", "The candidate chosen (lowest Brier score on the validation cohort): pilot, "
                                       "logistic or boosted."),
        "train_years": Column("text", "Assessment years the candidates were trained on."),
        "validation_year": Column("text", "Assessment year they were validated on (the latest known)."),
        "features": Column("text", "The chosen model's features (columns of model.features)."),
        "children_train": Column("integer", "Children in the training cohorts."),
        "children_validation": Column("integer", "Children in the validation cohort."),
        "metrics": Column("jsonb", "Each candidate's figures on the validation cohort: accuracy, majority-class "
                                   "accuracy, balanced accuracy, ROC AUC, Brier score, expected calibration error, "
                                   "and a digest of the cohort's person keys."),
        "models": Column("bytea", "Every candidate as fitted on the training cohorts (pickled scikit-learn)."),
        "production_model": Column("bytea", "The chosen candidate refitted on every known cohort: what scores "
                                            "children (pickled scikit-learn)."),
    },
    Computed(_runs, assets=(FEATURES_KEY,),
             column_lineage={"metrics": ((FEATURES_KEY, "gld"),),
                             **{c: tuple((FEATURES_KEY, f) for f in FEATURES) for c in ("models", "production_model")}}),
    purpose=PURPOSE,
)

model_runs = table_asset(MODEL_RUNS_SPEC)
