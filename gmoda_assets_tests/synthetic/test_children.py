"""synthetic.children built by a real Dagster run from the shared simulated month (linked, with its person
keys): released with every utility and risk check and its figures, readable by an analyst's login; and refused,
the last release kept, when the synthesiser copies the real children."""

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse
from gmoda_assets.synthetic import build
from gmoda_assets.synthetic.assets import CHILDREN, CONFIG, QUALITY_CHECKS, children
from gmoda_assets.synthetic.source import real_children

ANALYST = "test_synthetic_analyst"
RISK = {name for name, blocking, _ in QUALITY_CHECKS if blocking}


@pytest.fixture(scope="module")
def built(staged_month):
    return materialize([children], resources={"warehouse": Warehouse()}, raise_on_error=False)


@pytest.fixture
def analyst(warehouse_url):
    """A login role in the analyst group, removed after."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ANALYST}")
        conn.execute(f"CREATE ROLE {ANALYST} LOGIN IN ROLE gmoda_analyst")
    try:
        yield psycopg.connect(warehouse_url, user=ANALYST, autocommit=True)
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {ANALYST}")


def test_children_released_with_every_check_and_its_figures(built, warehouse_url, analyst):
    assert built.success
    evaluations = {e.check_name: e for e in built.get_asset_check_evaluations()}
    names = {c.name for c in load_suite(CHILDREN.key)} | {name for name, _, _ in QUALITY_CHECKS}
    assert set(evaluations) == names
    assert all(evaluations[name].passed for name in RISK)
    assert evaluations["no_exact_copies"].metadata["exact_copies"].value == 0
    assert 0 <= evaluations["distance_to_closest_record"].metadata["dcr_excess"].value <= 0.7
    assert "| E08000003 | gld |" in evaluations["council_key_rates"].metadata["table"].value
    [event] = built.get_asset_materialization_events()
    metadata = event.materialization.metadata
    with psycopg.connect(warehouse_url) as conn:
        real = real_children(conn, CONFIG.columns)
        released = conn.execute("SELECT council_code, count(*) FROM synthetic.children GROUP BY 1").fetchall()
        figures = conn.execute("SELECT count(*), count(*) FILTER (WHERE NOT passed AND check_name = ANY(%s)) "
                               "FROM synthetic.children_quality", (list(RISK),)).fetchone()
    removed = metadata["copies_removed"].value + metadata["replicated_uniques_removed"].value
    assert sum(n for _, n in released) == len(real) - removed == metadata["dagster/row_count"].value
    assert {c for c, _ in released} == set(real.council_code) and len(released) == 10  # every council area
    assert figures[0] > 100 and figures[1] == 0
    # An analyst's own login reads the release and its figures.
    with analyst as conn:
        assert conn.execute("SELECT count(*) FROM synthetic.children").fetchone()[0] == len(real) - removed
        assert conn.execute("SELECT count(*) FROM synthetic.children_quality").fetchone()[0] == figures[0]


def _near_copies(training, by, variables, seed, min_leaf, sizes):
    """A synthesiser that memorises: the training children with their month of birth moved by one."""
    return training.assign(birth_month=training.birth_month.map(lambda m: None if m is None else m % 12 + 1))


def test_a_synthesis_too_near_the_real_children_is_not_released(built, warehouse_url, analyst, monkeypatch):
    with psycopg.connect(warehouse_url) as conn:
        before = conn.execute("SELECT md5(string_agg(t::text, ',' ORDER BY synthetic_id)) FROM synthetic.children t"
                              ).fetchone()
    monkeypatch.setattr(build, "synthesise", _near_copies)
    refused = materialize([children], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert not refused.success
    failed = {e.check_name for e in refused.get_asset_check_evaluations() if not e.passed}
    assert "distance_to_closest_record" in failed and failed <= RISK | {"propensity_mse", "discriminator_auc",
                                                                       "council_marginals", "council_key_rates",
                                                                       "train_synthetic_test_real"}
    with psycopg.connect(warehouse_url) as conn:
        after = conn.execute("SELECT md5(string_agg(t::text, ',' ORDER BY synthetic_id)) FROM synthetic.children t"
                             ).fetchone()
    assert after == before  # the last release stays live
    with analyst as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM synthetic.children__candidate")


def test_release_files_a_partner_can_share(built, warehouse_url, tmp_path):
    import pandas as pd

    from gmoda_assets.synthetic.release import export, summary_lines

    written = export(warehouse_url, tmp_path)
    with psycopg.connect(warehouse_url) as conn:
        count = conn.execute("SELECT count(*) FROM synthetic.children").fetchone()[0]
        lines = summary_lines(conn)
    assert written["children"] == count
    csv, parquet = pd.read_csv(tmp_path / "children.csv"), pd.read_parquet(tmp_path / "children.parquet")
    assert len(csv) == len(parquet) == count and list(parquet.columns) == list(CHILDREN.columns)
    assert str(parquet.birth_weight_grams.dtype) == "Int64" and str(parquet.gld.dtype) == "boolean"
    dictionary = (tmp_path / "data_dictionary.md").read_text()
    assert all(f"| {name} | {column.type} | {column.description} |" in dictionary
               for name, column in CHILDREN.columns.items())
    assert "female, male" in dictionary  # a category's values are listed
    report = (tmp_path / "report.md").read_text()
    for name, blocking, _ in QUALITY_CHECKS:
        assert f"| {name} | {'yes' if blocking else 'no'} | passed |" in report or not blocking
    # The run summary shows every check with its figures.
    assert len(lines) == 1 + len(QUALITY_CHECKS) and "distance_to_closest_record" in "".join(lines)


def test_a_warehouse_without_assessed_children_gives_none(staged_month, warehouse_url):
    """Before any council has delivered an EYFSP result (a new install, a refresh of one partner's drop) there are
    no real children, not an error."""
    with psycopg.connect(warehouse_url) as conn:
        assert len(real_children(conn, CONFIG.columns)) > 500
        conn.execute("DELETE FROM conformed.fact_early_years_outcomes")
        none = real_children(conn, CONFIG.columns)
        conn.rollback()
    assert none.empty and list(none.columns) == CONFIG.columns


def test_a_figures_check_validates_the_figures_as_its_rows(warehouse_url, capfd):
    """A utility or risk check validates the companion table of figures as its batch: it fails on a figure
    outside its limit and on one not measured, and Great Expectations, which prints a warning for every row query
    that does not read ``{batch}`` each time it reads the check, prints nothing."""
    from gmoda_assets.lib.database import sqlalchemy_url
    from gmoda_assets.lib.quality import Table, validate_in_postgres
    from gmoda_assets.synthetic.assets import quality_check

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE synthetic.test_children_quality (LIKE synthetic.children_quality)")
        conn.execute("INSERT INTO synthetic.test_children_quality (check_name, measure, council_code, value, "
                      "limit_value, passed) VALUES ('propensity_mse', 'pmse_ratio', 'all', 12.5, 10, false), "
                      "('propensity_mse', 'pmse_ratio', 'E08000001', 4.5, 10, true), "
                      "('discriminator_auc', 'auc', 'all', 0.61, 0.75, true)")
        try:
            results = validate_in_postgres(sqlalchemy_url(warehouse_url), Table("synthetic", "test_children_quality"),
                                           [quality_check(*c) for c in QUALITY_CHECKS], list(CHILDREN.key))
        finally:
            conn.execute("DROP TABLE synthetic.test_children_quality")
    assert "{batch}" not in capfd.readouterr().out
    failing = {r.check_name: [d["sample"] for d in r.metadata["results"].value] for r in results if not r.passed}
    assert failing.pop("propensity_mse") == [["measure=pmse_ratio, council_code=all, value=12.5, limit_value=10.0"]]
    assert failing == {name: [["measure=not measured, council_code=all, value=None, limit_value=None"]]
                       for name, *_ in QUALITY_CHECKS if name not in ("propensity_mse", "discriminator_auc")}


# Not a handful of children: the distance to closest record on a holdout of two or three is noise, and its
# blocking check may then rightly hold the release back (that failed once in a whole run). Pure-function cases of
# few children are in test_build.py.
@pytest.mark.parametrize("assessed", [0])
def test_too_few_children_release_with_risk_measured_and_utility_left_unmeasured(built, warehouse_url, monkeypatch,
                                                                                 tmp_path, assessed):
    """A warehouse with a handful of assessed children, or none (a new install), does not fail the refresh: what
    is released is measured for risk (the blocking checks), and utility, which needs more children, warns that it
    was not measured, in the checks, the release files and the run summary. (Last in this module: it changes the
    release the tests above read.)"""
    from gmoda_assets.synthetic import assets
    from gmoda_assets.synthetic.release import export, summary_lines

    monkeypatch.setattr(assets, "real_children", lambda conn, columns: real_children(conn, columns).head(assessed))
    few = materialize([children], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert few.success
    failed = {e.check_name for e in few.get_asset_check_evaluations() if not e.passed}
    assert failed == {name for name, blocking, _ in QUALITY_CHECKS if not blocking}
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM synthetic.children").fetchone()[0] <= assessed
        lines = summary_lines(conn)
    assert export(warehouse_url, tmp_path)["children"] <= assessed and (tmp_path / "report.md").is_file()
    assert len(lines) == 1 + len(QUALITY_CHECKS) and "not measured" in "".join(lines)
