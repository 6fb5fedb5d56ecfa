"""``model.scores``: for each child whose outcome is pending, the current model's calibrated probability of
reaching a Good Level of Development, a risk band and the main factors behind it, named by model version.
Only the transformer (which builds it) and ``gmoda_school_readiness`` (early-help teams, the roles the
school-readiness agreements are for) may read it (``sql/500_model.sql``).

The main factors of a score: for each group of features (month of birth, ASQ-3 at two, ...), how much the
probability would rise if that group were a typical child's (the median, or the most common category, of the
children with known outcomes); the groups that lower the child's probability most are named, with the change
in percentage points."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext

from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.school_readiness.config import settings
from gmoda_assets.school_readiness.evaluation import RUNS_KEY, latest_run
from gmoda_assets.school_readiness.model_card import EVALUATION_KEY
from gmoda_assets.school_readiness.features import PURPOSE
from gmoda_assets.school_readiness.model_runs import FEATURES_KEY, read_features

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FACTORS = {
    "month of birth": ["birth_month", "months_older", "summer_born"],
    "sex": ["sex"],
    "area and deprivation": ["council_code", "imd_decile", "birth_council_code"],
    "birth (weight, gestation, mother's age, ethnicity)": ["birth_weight_grams", "gestation_weeks", "preterm",
                                                           "low_birth_weight", "mother_age", "ethnicity"],
    "health visiting and ASQ-3 at two": ["hv_reviews", "ever_breastfed", "asq_communication", "asq_gross_motor",
                                         "asq_fine_motor", "asq_problem_solving", "asq_personal_social",
                                         "asq_domains_below_cutoff"],
    "funded early education": ["funded_terms", "two_year_funded"],
    "children's social care": ["social_care_episodes", "early_help_before_point", "statutory_care_before_point",
                               "social_care_open_at_point"],
}
SHOWN = 3  # factors named per child


def typical(known: pd.DataFrame) -> dict:
    """A typical child: the median of each numeric feature and the most common value of every other."""
    import pandas as pd

    values = {}
    for column in (c for cs in FACTORS.values() for c in cs):
        series = known[column].dropna()
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        values[column] = series.median() if numeric else series.mode().iloc[0] if len(series) else None
    return values


def main_factors(name: str, model, children: pd.DataFrame, reference: dict) -> list[str]:
    """For each child, the factor groups that lower their probability most against a typical child's values."""
    import numpy as np

    from gmoda_assets.school_readiness import training

    base = training.predict(name, model, children)
    factors, lifts = [], []
    for factor, columns in FACTORS.items():
        if not set(columns) & set(training.CANDIDATES[name].columns):
            continue
        factors.append(factor)
        lifts.append(training.predict(name, model, children.assign(**{c: reference[c] for c in columns})) - base)
    if not factors:
        return [""] * len(children)
    lift = np.column_stack(lifts)
    top = np.argsort(-lift, axis=1, kind="stable")[:, :SHOWN]  # per child, the factors costing most first
    return ["; ".join(f"{factors[f]} (-{row[f] * 100:.0f} points)" for f in order if row[f] > 0.005)
            for row, order in zip(lift, top)]


def band(probability: np.ndarray) -> np.ndarray:
    import numpy as np

    bands = settings().risk_bands
    return np.where(probability < bands.high_below, "high", np.where(probability < bands.medium_below, "medium",
                                                                        "low"))


def score(run: dict, features: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    from gmoda_assets.school_readiness import training

    name = run["chosen_model"]
    model = training.loads(run["production_model"])
    pending = features[features["outcome_status"] == "pending"].reset_index(drop=True)
    if pending.empty:
        return pd.DataFrame(columns=list(SCORES_SPEC.columns))
    p = training.predict(name, model, pending)
    return pd.DataFrame({
        "person_key": pending["person_key"], "model_version": run["model_version"],
        "assessment_year": pending["assessment_year"], "prediction_date": pending["prediction_date"],
        "council_code": pending["council_code"], "probability_gld": p, "risk_band": band(p),
        "main_factors": main_factors(name, model, pending, typical(features[features["outcome_status"] == "known"])),
        "scored_at": datetime.now(timezone.utc),
    })


def _scores(context: AssetExecutionContext, conn) -> tuple[pd.DataFrame, dict]:
    run = latest_run(conn)
    if run is None:
        return [], {"model_version": "none: no model trained yet"}
    scores = score(run, read_features(conn))
    bands = scores["risk_band"].value_counts()
    context.log.info(f"{len(scores)} children scored by {run['model_version']}")
    return scores, {"model_version": run["model_version"],
                    **{f"children_{b}_risk": int(bands.get(b, 0)) for b in ("high", "medium", "low")}}


SCORES_SPEC = TableSpec(
    "model", "scores",
    "School readiness risk scores: one row per child not yet assessed at the end of Reception, with the current "
    "model's calibrated probability of reaching a Good Level of Development, a risk band and the main factors "
    "behind it, named by the model version that produced it. Readable only by the transformer and "
    "gmoda_school_readiness (early-help teams, under the school-readiness agreements). Purpose: school_readiness.",
    {
        "person_key": Column("integer", "The child (conformed.dim_person)."),
        "model_version": Column("text", "The model that scored the child (model.model_runs.model_version)."),
        "assessment_year": Column("text", "Academic year the child is due to be assessed at the end of Reception."),
        "prediction_date": Column("date", "The prediction point: the features are from records dated before it."),
        "council_code": Column("text", "Council (ONS code) where the child lived at the prediction point."),
        "probability_gld": Column("double precision", "Calibrated probability of reaching a Good Level of "
                                                      "Development."),
        "risk_band": Column("text", "high, medium or low risk of not reaching it (bands in school_readiness.yaml)."),
        "main_factors": Column("text", "Up to three groups of features that lower this child's probability most "
                                       "against a typical child's, with the points each costs; empty when none "
                                       "costs half a point."),
        "scored_at": Column("timestamp with time zone", "When the score was made."),
    },
    Computed(_scores, assets=(RUNS_KEY, EVALUATION_KEY, FEATURES_KEY),  # after the evaluation's blocking checks
             column_lineage={"probability_gld": ((RUNS_KEY, "production_model"),),
                             "model_version": ((RUNS_KEY, "model_version"),),
                             **{c: ((FEATURES_KEY, c),) for c in ("person_key", "assessment_year", "prediction_date",
                                                                  "council_code")}}),
    purpose=PURPOSE,
)

scores = table_asset(SCORES_SPEC)
