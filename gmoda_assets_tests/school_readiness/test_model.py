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
from gmoda_assets.school_readiness import metrics, training
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


@pytest.fixture(scope="package")
def modelled(linked_month):
    """Features, a training run, its evaluation, model card and scores, built by one Dagster run."""
    result = materialize(model_assets, resources={"warehouse": Warehouse()})
    return {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}, \
        {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def _rows(url: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


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
    card = _rows(warehouse_url, "SELECT markdown FROM model.model_card ORDER BY run_id DESC LIMIT 1")[0][0]
    assert "90-95% accuracy aim" in card and "the best any model can do" in card  # the truth was at hand


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
