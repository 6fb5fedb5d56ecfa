"""``model.model_card``: the model card of every evaluated training run, generated as Markdown from its
evaluation (``gmoda_assets.school_readiness.report.model_card``), and shown on the asset's page."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue

from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.school_readiness.evaluation import RUNS_KEY, latest_run
from gmoda_assets.school_readiness.features import PURPOSE
from gmoda_assets.school_readiness.model_runs import FEATURES_KEY, read_features

if TYPE_CHECKING:
    import pandas as pd

EVALUATION_KEY = ("model", "evaluation")


def _cards(context: AssetExecutionContext, conn) -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from gmoda_assets.school_readiness import report

    run = latest_run(conn)
    if run is None:
        return [], {"model_version": "none: no model trained yet"}
    cursor = conn.execute("SELECT * FROM model.evaluation WHERE run_id = %s", (run["run_id"],))
    evaluation = pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])
    earlier = conn.execute("SELECT run_id, model_version, generated_at, markdown FROM model.model_card "
                           "WHERE run_id <> %s", (run["run_id"],)).fetchall()
    if evaluation.empty:  # nothing evaluated (no validation cohort left): the cards written so far stay
        kept = conn.execute("SELECT run_id, model_version, generated_at, markdown FROM model.model_card").fetchall()
        return kept, {"model_version": run["model_version"], "model_card": "none: the run has no evaluation"}
    card = report.model_card(run, evaluation, read_features(conn))
    cards = pd.DataFrame([*earlier, (run["run_id"], run["model_version"], datetime.now(timezone.utc), card)],
                         columns=list(MODEL_CARD_SPEC.columns))
    return cards, {"model_version": run["model_version"], "model_card": MetadataValue.md(card)}


MODEL_CARD_SPEC = TableSpec(
    "model", "model_card",
    "School readiness model cards, one per evaluated training run, generated as Markdown from its evaluation: "
    "data, period, features, metrics beside the majority class, the pilot's model and (on simulated data) the "
    "Bayes-optimal, fairness gaps, limits, and the 90-95% accuracy aim against what the data allows. Purpose: "
    "school_readiness.",
    {
        "run_id": Column("integer", "The training run (model.model_runs)."),
        "model_version": Column("text", "Its model version."),
        "generated_at": Column("timestamp with time zone", "When the card was written."),
        "markdown": Column("text", "The model card, in Markdown."),
    },
    Computed(_cards, assets=(RUNS_KEY, EVALUATION_KEY, FEATURES_KEY),
             column_lineage={"markdown": ((EVALUATION_KEY, "accuracy"), (EVALUATION_KEY, "auc"))}),
    purpose=PURPOSE,
)

model_card = table_asset(MODEL_CARD_SPEC)
