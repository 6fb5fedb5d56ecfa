"""The school-readiness assets, in the order they are built: features, training runs, their evaluation, the
model card and the scores."""

from gmoda_assets.school_readiness.evaluation import EVALUATION_SPEC, evaluation
from gmoda_assets.school_readiness.features import FEATURES_SPEC, features
from gmoda_assets.school_readiness.model_card import MODEL_CARD_SPEC, model_card
from gmoda_assets.school_readiness.model_runs import MODEL_RUNS_SPEC, model_runs
from gmoda_assets.school_readiness.scores import SCORES_SPEC, scores

SPECS = [FEATURES_SPEC, MODEL_RUNS_SPEC, EVALUATION_SPEC, MODEL_CARD_SPEC, SCORES_SPEC]
model_assets = [features, model_runs, evaluation, model_card, scores]
