"""Training, evaluation, versioning and scores of the school-readiness model: the arithmetic on small known cases,
the temporal split, and the whole chain on a linked simulated month by real Dagster runs, read back through
real logins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest
from dagster import materialize
from psycopg import errors

from gmoda_assets.resources import Warehouse
from gmoda_assets.school_readiness import metrics, report, training
from gmoda_assets.school_readiness.assets import model_assets
from gmoda_assets.school_readiness.model_runs import model_runs


def test_evaluation_arithmetic_on_a_small_known_case():
    y = np.array([True, True, False, False])
    p = np.array([0.9, 0.4, 0.6, 0.1])
    figures = metrics.summary(y, p)
    assert figures["accuracy"] == 0.5  # predicted reach, not, reach, not: right, wrong, wrong, right
    assert figures["majority_accuracy"] == 0.5 and figures["balanced_accuracy"] == 0.5
    assert figures["auc"] == 0.75  # of the 4 (reached, not reached) pairs, 0.4 < 0.6 is the one ordered wrong
    assert figures["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert figures["ece"] == pytest.approx((0.1 + 0.6 + 0.6 + 0.1) / 4)  # each child alone in its bin
    assert metrics.auc(y, np.full(4, 0.5)) == 0.5  # ties count half
    assert metrics.summary(np.array([True, True, True, False]), np.array([0.75] * 4))["ece"] == 0.0
    table = metrics.calibration_table(np.array([True, False, True]), np.array([0.62, 0.68, 0.05]))
    assert table.loc["0.6-0.7"].tolist() == [2, pytest.approx(0.65), 0.5]


def test_auc_agrees_with_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    p = rng.random(500).round(2)  # with ties
    y = rng.random(500) < p
    assert metrics.auc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_temporal_split_validates_on_the_latest_known_year():
    frame = pd.DataFrame({"assessment_year": ["2021/22", "2023/24", "2022/23", "2023/24", "2024/25"],
                          "outcome_status": ["known", "known", "known", "known", "pending"],
                          "gld": [True, False, True, True, None]})
    split = training.temporal_split(frame)
    assert split.validation_year == "2023/24" and split.train_years == ["2021/22", "2022/23"]
    assert split.train["assessment_year"].max() < split.validation["assessment_year"].min()
    assert len(split.validation) == 2  # the pending child is in neither
    with pytest.raises(ValueError, match="two assessment years"):
        training.temporal_split(frame[frame["assessment_year"] == "2023/24"])


def test_logistic_inputs_are_the_categories_one_hot_encoded():
    """The logistic regressions number categories before one-hot encoding them (for speed): the columns are those a
    one-hot encoder of the strings gives, rare categories (under 20 children) pooled alike, and a category unseen
    in training is all zeros."""
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame({c: rng.choice(["missing", "b", "a", "rare"], n, p=[0.3, 0.3, 0.37, 0.03])
                          for c in training.PILOT})
    later = frame.head(50).copy()
    later.loc[:9, "sex"] = "never seen"
    candidate = training.CANDIDATES["pilot"]
    encode = candidate.make(candidate)[0].fit(training.design(frame, candidate))
    plain = OneHotEncoder(handle_unknown="ignore", min_frequency=20, sparse_output=False).fit(frame)
    for rows in (frame, later):
        encoded = encode.transform(training.design(rows, candidate))
        assert np.array_equal(encoded.toarray() if hasattr(encoded, "toarray") else encoded, plain.transform(rows))
    assert "sex_infrequent_sklearn" in plain.get_feature_names_out()  # the rare category was pooled
    sex = [i for i, name in enumerate(plain.get_feature_names_out()) if name.startswith("sex_")]
    assert not plain.transform(later)[:10, sex].any()


def test_models_fit_and_predict_on_one_thread(monkeypatch):
    """Candidates fit and predict with scikit-learn's OpenMP loops and the BLAS on one thread each (their waiting
    threads spin, many times slower on a shared machine: gmoda_assets/lib/threads.py); the limit ends with them."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    threads = []

    class Recording(LogisticRegression):
        def fit(self, x, y):
            threads.append({p["num_threads"] for p in threadpool_info()})
            return super().fit(x, y)

        def decision_function(self, x):
            threads.append({p["num_threads"] for p in threadpool_info()})
            return super().decision_function(x)

    pilot = training.CANDIDATES["pilot"]
    monkeypatch.setitem(training.CANDIDATES, "pilot", training.Candidate(
        pilot.description, pilot.columns, pilot.categorical, lambda c: training._logistic(c, 1.0).set_params(
            logisticregression=Recording())))
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({c: rng.choice(["x", "y"], 300) for c in training.PILOT}).assign(gld=rng.random(300) < 0.6)
    before = [p["num_threads"] for p in threadpool_info()]
    training.predict("pilot", training.fit("pilot", frame), frame)
    assert len(threads) >= 6 and all(t == {1} for t in threads)  # three folds fitted, calibrated and predicting
    assert [p["num_threads"] for p in threadpool_info()] == before


@pytest.fixture(scope="package")
def modelled(linked_month):
    """Features, a training run, its evaluation, model card and scores, built by one Dagster run."""
    result = materialize(model_assets, resources={"warehouse": Warehouse()})
    return {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}, \
        {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def _rows(url: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


# The evaluation as published, with one figure doctored (as the check's query reads it).
_EVALUATION = ("run_id, model, is_chosen, group_kind, group_value, {children} AS children, observed_rate, "
               "mean_predicted, accuracy, majority_accuracy, balanced_accuracy, {auc} AS auc, {brier} AS brier, "
               "{ece} AS ece FROM model.evaluation")
_PILOT = "(SELECT {} FROM model.evaluation WHERE model = 'pilot' AND group_kind = 'all')"
_A_COUNCIL = ("is_chosen AND group_kind = 'council' AND group_value = "
              "(SELECT min(group_value) FROM model.evaluation WHERE group_kind = 'council')")


@pytest.mark.parametrize("doctored,failing", [
    ({}, set()),
    ({"brier": f"CASE WHEN is_chosen AND group_kind = 'all' THEN {_PILOT.format('brier')} ELSE brier END"},
     {"chosen_beats_pilot_and_baseline"}),
    ({"auc": f"CASE WHEN is_chosen AND group_kind = 'all' THEN {_PILOT.format('auc')} ELSE auc END"},
     {"chosen_beats_pilot_and_baseline"}),
    ({"children": f"CASE WHEN {_A_COUNCIL} THEN 1000 ELSE children END",
      "ece": f"CASE WHEN {_A_COUNCIL} THEN 0.031 ELSE ece END"}, {"calibrated"}),
    ({"children": f"CASE WHEN {_A_COUNCIL} THEN 1000 ELSE children END",
      "ece": f"CASE WHEN {_A_COUNCIL} THEN 0.03 ELSE ece END"}, set()),  # at the bound
    ({"children": f"CASE WHEN {_A_COUNCIL} THEN 999 ELSE children END",
      "ece": f"CASE WHEN {_A_COUNCIL} THEN 0.2 ELSE ece END"}, set()),  # too few to judge
    ({"children": "CASE WHEN is_chosen AND group_kind = 'all' THEN 2000 ELSE children END",
      "ece": "CASE WHEN is_chosen AND group_kind = 'all' THEN 0.021 ELSE ece END"}, {"calibrated"}),
], ids=["as published", "brier as the pilot's", "auc as the pilot's", "a council past 0.03",
        "a council at 0.03", "a council too small to judge", "overall past 0.02"])
def test_evaluation_checks_fail_when_the_model_is_no_better_or_not_calibrated(modelled, doctored, failing):
    """The evaluation's blocking checks, run as its build runs them, on the published evaluation with one figure
    changed: each fails exactly when the chosen model does not beat the pilot's, or its calibration error passes
    its bound overall (judged from 2,000 children) or in a council (from 1,000)."""
    from gmoda_assets.lib.quality import validate_in_postgres
    from gmoda_assets.lib.suites import load_suite

    figures = {"children": "children", "auc": "auc", "brier": "brier", "ece": "ece", **doctored}
    query = "SELECT " + _EVALUATION.format(**figures)
    results = validate_in_postgres(Warehouse().sqlalchemy_url, query, load_suite(["model", "evaluation"]),
                                   ["model", "evaluation"])
    assert {r.check_name for r in results if not r.passed} == failing


def test_evaluation_page_shows_its_plots_and_the_bayes_optimal_share(modelled, warehouse_url):
    """The ROC and calibration curves and the per-council bars are images on the evaluation's page (Markdown
    metadata), each drawn from the run's models; the chosen model's share of the Bayes-optimal is a figure."""
    import base64
    import re

    metadata = modelled[0]["evaluation"]
    chosen = modelled[0]["model_runs"]["chosen_model"].value
    page = metadata["report"].value
    images = dict(re.findall(r"!\[([^\]]+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", page))
    assert set(images) == {"ROC", "Calibration", "Accuracy by council: model (colour) and majority class (grey)"}
    svgs = {title: base64.b64decode(data).decode() for title, data in images.items()}
    for title in ("ROC", "Calibration"):
        # the pilot (on GM and on Stockport), logistic, boosted and the Bayes-optimal: not the majority class
        assert svgs[title].count("<polyline") == 5
        assert f">{chosen}</text>" in svgs[title] and ">bayes_optimal</text>" in svgs[title]
    councils = _rows(warehouse_url, "SELECT count(*) FROM model.evaluation WHERE is_chosen AND group_kind = 'council'")
    bars = svgs["Accuracy by council: model (colour) and majority class (grey)"]
    assert bars.count("<rect") == 2 * councils[0][0] > 0  # the model's and the majority class's, per council
    assert 0 < metadata["auc_share_of_bayes_optimal"].value < 1
    assert metadata["auc_share_of_bayes_optimal"].value == pytest.approx(
        metadata[f"{chosen}_auc"].value / metadata["bayes_optimal_auc"].value)


def test_chosen_model_beats_the_pilot_and_the_majority_class(modelled, warehouse_url):
    metadata, checks = modelled
    assert checks["chosen_beats_pilot_and_baseline"] and checks["calibrated"] and checks["one_score_per_pending_child"]
    overall = dict(_rows(warehouse_url, "SELECT model, brier FROM model.evaluation WHERE group_kind = 'all'"))
    chosen = metadata["model_runs"]["chosen_model"].value
    assert overall[chosen] < overall["pilot"] < overall["majority"]
    assert overall["bayes_optimal"] < overall[chosen]  # the truth's probabilities do better than any model
    stockport = _rows(warehouse_url, "SELECT DISTINCT group_value FROM model.evaluation "
                                     "WHERE model = 'pilot_stockport' AND group_kind = 'council'")
    assert stockport == [(training.STOCKPORT,)]
    # The pilot's own setting beside Stockport's own majority class: the same children as Stockport's rows.
    [(children, majority)] = _rows(warehouse_url, "SELECT children, majority_accuracy FROM model.evaluation "
                                                  "WHERE model = 'pilot_stockport' AND group_kind = 'all'")
    assert _rows(warehouse_url, "SELECT children, majority_accuracy FROM model.evaluation WHERE model = 'majority' "
                                "AND group_kind = 'council' AND group_value = %s", training.STOCKPORT) == [
        (children, pytest.approx(majority))]


def _evaluation(url: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cursor = conn.execute("SELECT * FROM model.evaluation WHERE run_id = (SELECT max(run_id) FROM model.evaluation)")
        return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])


def test_model_card_and_summary_set_the_model_beside_the_bars_targets_and_gaps(modelled, warehouse_url):
    """The card (and the run summary) put the chosen model beside the majority class, the pilot's model (and its
    Stockport-only setting beside Stockport's majority class) and the Bayes-optimal; state each target with its
    figure; and give the fairness gaps across councils, sexes, deprivation quintiles and ethnic groups."""
    from gmoda_assets.school_readiness.evaluation import model_summary

    chosen = modelled[0]["model_runs"]["chosen_model"].value
    evaluation = _evaluation(warehouse_url)
    card = _rows(warehouse_url, "SELECT markdown FROM model.model_card ORDER BY run_id DESC LIMIT 1")[0][0]
    assert "90-95% accuracy aim" in card and "the best any model can do" in card  # the truth was at hand
    stockport = evaluation[(evaluation["model"] == "pilot_stockport") & (evaluation["group_kind"] == "all")].iloc[0]
    assert (f"scores {stockport.accuracy:.1%} against {stockport.majority_accuracy:.1%} for Stockport's majority "
            f"class ({stockport.children:,} children)") in card
    gaps = report.fairness_gaps(evaluation, chosen)
    assert list(gaps.index) == ["council", "sex", "deprivation_quintile", "ethnicity"]
    councils = evaluation[(evaluation["model"] == chosen) & (evaluation["group_kind"] == "council")]
    assert gaps.loc["council", "accuracy_gap"] == pytest.approx(councils["accuracy"].max() - councils["accuracy"].min())
    assert report.markdown_table(gaps) in card
    targets = report.targets(evaluation, chosen)
    assert f"## Targets on simulated data\n{targets}" in card
    assert targets.count("\n- ") == 2 and "0.95 of the Bayes-optimal" in targets and "the true probabilities" in targets
    with psycopg.connect(warehouse_url) as conn:
        summary = "\n".join(model_summary(conn))
    for model in ("majority", "pilot", "pilot_stockport", "bayes_optimal", f"{chosen} (chosen)"):
        assert f"\n  {model} " in summary, model
    assert targets.replace("\n", "\n  ") in summary


def test_fairness_gaps_on_a_small_known_case():
    rows = [("m", "council", "A", 100, 0.6, 0.70, 0.60, 0.50), ("m", "council", "B", 300, 0.8, 0.75, 0.70, 0.72),
            ("m", "sex", "female", 200, 0.7, 0.72, 0.65, 0.66), ("m", "sex", "male", 200, 0.7, 0.72, 0.64, 0.60),
            ("m", "all", "all", 400, 0.7, 0.72, 0.65, 0.63), ("other", "council", "A", 100, 0.1, 0.5, 0.1, 0.9)]
    table = pd.DataFrame(rows, columns=["model", "group_kind", "group_value", "children", "accuracy", "auc",
                                        "mean_predicted", "observed_rate"])
    gaps = report.fairness_gaps(table, "m")
    assert list(gaps.index) == ["council", "sex"]
    council = gaps.loc["council"]
    assert (council["groups"], council["smallest_group"]) == (2, 100)
    assert council["accuracy_gap"] == pytest.approx(0.2) and council["auc_gap"] == pytest.approx(0.05)
    assert council["worst_calibrated_group"] == "A" and council["its_predicted_minus_observed"] == pytest.approx(0.1)
    assert gaps.loc["sex", "worst_calibrated_group"] == "male" and gaps.loc["sex", "accuracy_gap"] == 0


def test_main_factors_name_what_lowers_a_childs_probability():
    """Trained where only the ASQ-3 communication score matters, the model names the ASQ-3 group for a child who
    scored low, with the points it costs, and nothing for a typical child; risk bands follow the settings."""
    from gmoda_assets.school_readiness.features import FEATURES
    from gmoda_assets.school_readiness.scores import band, main_factors, typical

    rng = np.random.default_rng(7)
    n = 2000
    frame = pd.DataFrame({c: rng.integers(0, 2, n).astype(float) for c in FEATURES})
    for c in training.CATEGORICAL:
        frame[c] = rng.choice(["x", "y"], n)
    frame["asq_communication"] = rng.uniform(0, 60, n)
    frame["gld"] = rng.random(n) < 1 / (1 + np.exp(-(frame["asq_communication"] - 30) / 5))
    model = training.fit("logistic", frame)
    reference = typical(frame)
    children = pd.DataFrame([reference, {**reference, "asq_communication": 5.0}])
    named = main_factors("logistic", model, children, reference)
    assert named[0] == ""
    lift = training.predict("logistic", model, children.iloc[[0]])[0] - training.predict("logistic", model,
                                                                                        children.iloc[[1]])[0]
    assert named[1].startswith(f"health visiting and ASQ-3 at two (-{lift * 100:.0f} points)") and lift > 0.3
    assert band(np.array([0.1, 0.49, 0.5, 0.69, 0.7, 0.95])).tolist() == ["high", "high", "medium", "medium", "low",
                                                                         "low"]


def test_scores_name_their_model_and_only_the_school_readiness_role_reads_them(modelled, warehouse_url):
    version = modelled[0]["model_runs"]["model_version"].value
    pending = _rows(warehouse_url, "SELECT count(*) FROM model.features WHERE outcome_status = 'pending'")[0][0]
    assert _rows(warehouse_url, "SELECT count(*), min(model_version), max(model_version) FROM model.scores") == [
        (pending, version, version)]
    logins = {"gmoda_school_readiness": "test_sr_reader", "gmoda_analyst": "test_sr_analyst"}
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        for group, login in logins.items():
            admin.execute(f"DROP ROLE IF EXISTS {login}")
            admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE {group}")
    try:
        with psycopg.connect(warehouse_url, user=logins["gmoda_school_readiness"]) as reader:
            assert reader.execute("SELECT count(*) FROM model.scores").fetchone()[0] == pending
            for table in ("model.features", "model.model_runs", "conformed.fact_births"):
                with pytest.raises(errors.InsufficientPrivilege):
                    reader.execute(f"SELECT 1 FROM {table} LIMIT 1")
                reader.rollback()
        with psycopg.connect(warehouse_url, user=logins["gmoda_analyst"]) as analyst:
            with pytest.raises(errors.InsufficientPrivilege):
                analyst.execute("SELECT 1 FROM model.scores LIMIT 1")
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as admin:
            for login in logins.values():
                admin.execute(f"DROP ROLE {login}")


def test_a_worse_model_does_not_replace_the_current_one(modelled, warehouse_url):
    """The same data and code keep the current run; new data retrains, and a model that scores worse on the same
    validation cohort is refused, the current one staying. Here the data is marked changed, and the current run's
    recorded Brier score made far better than any retraining can reach; figures of other children are not
    held against a new run."""
    before = _rows(warehouse_url, "SELECT run_id, model_version FROM model.model_runs ORDER BY run_id")
    again = materialize([model_runs], resources={"warehouse": Warehouse()})
    assert again.success and _rows(warehouse_url, "SELECT run_id, model_version FROM model.model_runs "
                                                  "ORDER BY run_id") == before  # unchanged: not logged twice
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("UPDATE model.model_runs SET data_digest = 'changed' WHERE run_id = %s", (before[-1][0],))
    retrained = materialize([model_runs], resources={"warehouse": Warehouse()})  # as good: published
    after = _rows(warehouse_url, "SELECT run_id, model_version FROM model.model_runs ORDER BY run_id")
    assert retrained.success and len(after) == len(before) + 1
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("""UPDATE model.model_runs SET metrics = jsonb_set(metrics, ARRAY[chosen_model, 'brier'], '0.01'),
                               data_digest = 'changed'
                        WHERE run_id = (SELECT max(run_id) FROM model.model_runs)""")
    worse = materialize([model_runs], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert not worse.success
    failed = {c.check_name for c in worse.get_asset_check_evaluations() if not c.passed}
    assert failed == {"no_worse_than_the_current_model"}
    assert _rows(warehouse_url, "SELECT run_id, model_version FROM model.model_runs ORDER BY run_id") == after
    with psycopg.connect(warehouse_url) as conn:  # figures of other children: sampling, not the model
        conn.execute("""UPDATE model.model_runs SET metrics = jsonb_set(metrics, ARRAY[chosen_model, 'validation_cohort'],
                                                                     '"other children"')
                        WHERE run_id = (SELECT max(run_id) FROM model.model_runs)""")
    other = materialize([model_runs], resources={"warehouse": Warehouse()})
    assert other.success and len(_rows(warehouse_url, "SELECT run_id FROM model.model_runs")) == len(after) + 1


def test_area_mart_publishes_no_small_or_recoverable_cell(modelled, warehouse_url):
    from gmoda_assets.marts.school_readiness import school_readiness_by_area
    from gmoda_assets_tests.marts.test_school_readiness import recoverable

    result = materialize([school_readiness_by_area], resources={"warehouse": Warehouse()})
    assert all(c.passed for c in result.get_asset_check_evaluations())
    rows = _rows(warehouse_url, "SELECT assessment_year, outcome, area_level, area_code, parent_code, children, "
                                "children_gld, gld_percent FROM mart.school_readiness_by_area")
    assert {r[1] for r in rows} == {"observed", "predicted"}
    for year, outcome in {(r[0], r[1]) for r in rows}:
        published = [r[2:] for r in rows if (r[0], r[1]) == (year, outcome)]
        assert recoverable(published, 3) == [] and recoverable(published, 4) == [], (year, outcome)


def test_groups_leave_out_children_whose_group_is_not_recorded():
    groups = pd.Series(["1", pd.NA, "2", "1"], dtype="string")
    figures = metrics.by_group(groups, np.array([True, False, True, False]), np.array([0.8, 0.1, 0.7, 0.3]))
    assert {g: f["children"] for g, f in figures.items()} == {"1": 2, "2": 1}
    assert figures["1"]["accuracy"] == 1.0
