"""The GLD-by-council mart, built by a real Dagster run from a simulated month of the councils' EYFSP and
funded-education drops, checked against the conformed fact it comes from; and its disclosure rules, on many
simulated tables, against an attacker who solves each council and year's totals for the hidden cells."""

import itertools
import random
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.lib import disclosure
from gmoda_assets.lib.disclosure import Rules, protect_rates, rounded
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.marts import early_years
from gmoda_assets.marts.early_years import GLD_BY_COUNCIL, eyfsp_gld_by_council
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.helpers import catalog_columns

RULE = disclosure.rules()
TABLE = "mart.eyfsp_gld_by_council"
MEASURES = ("children_assessed", "children_gld")
# The true counts behind each published row, from the fact, as the mart defines them.
TRUTH = """
    WITH cells AS (
        SELECT p.council_code, f.academic_year, f.sex, count(*) AS n, count(*) FILTER (WHERE f.gld) AS m
        FROM conformed.fact_early_years_outcomes f JOIN conformed.dim_partner p USING (partner_key)
        WHERE f.gld IS NOT NULL AND f.sex IN ('female', 'male') AND f.academic_year ~ '^[0-9]{4}/[0-9]{2}$'
        GROUP BY 1, 2, 3)
    SELECT council_code, academic_year, sex, n, m FROM cells
    UNION ALL SELECT council_code, academic_year, 'all', sum(n), sum(m) FROM cells GROUP BY 1, 2"""


@pytest.fixture(scope="module")
def built(staged_month):
    """The mart materialised from the shared build of a simulated month (its councils' EYFSP and funded-education
    drops loaded, staged and conformed), once for this module."""
    return materialize([eyfsp_gld_by_council], resources={"warehouse": Warehouse()}, raise_on_error=False)


def _published(url: str) -> dict[tuple, tuple]:
    with psycopg.connect(url) as conn:
        return {r[:3]: r[3:] for r in conn.execute(
            f"SELECT council_code, academic_year, sex, children_assessed, children_gld, gld_percent FROM {TABLE}")}


def _truth(url: str) -> dict[tuple, tuple]:
    with psycopg.connect(url) as conn:
        return {r[:3]: (int(r[3]), int(r[4])) for r in conn.execute(TRUTH)}


def test_mart_published_with_its_checks_passing(built, warehouse_url):
    assert built.success
    evaluations = built.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {c.name for c in load_suite(GLD_BY_COUNCIL.key)}
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    [event] = built.get_asset_materialization_events()
    metadata = event.materialization.metadata
    rows = _published(warehouse_url)
    assert metadata["dagster/row_count"].value == len(rows) and metadata["councils"].value == 10
    assert metadata["counts_suppressed"].value == sum(v is None for r in rows.values() for v in r[:2]) > 0
    with psycopg.connect(warehouse_url) as conn:
        catalog = catalog_columns(conn, TABLE)
        assert catalog == [(n, c.type, c.description) for n, c in GLD_BY_COUNCIL.columns.items()]
        assert conn.execute("SELECT obj_description(%s::regclass)", (TABLE,)).fetchone()[0] == GLD_BY_COUNCIL.description
        assert conn.execute("SELECT to_regclass('mart.eyfsp_gld_by_council__candidate')").fetchone()[0] is None
    metadata = eyfsp_gld_by_council.specs_by_key[eyfsp_gld_by_council.key].metadata
    assert [(c.name, c.type, c.description) for c in metadata["dagster/column_schema"].columns] == catalog
    lineage = metadata["dagster/column_lineage"].deps_by_column
    assert set(lineage) == set(GLD_BY_COUNCIL.columns)
    with psycopg.connect(warehouse_url) as conn:  # every column traces to columns that exist upstream
        for dep in (d for deps in lineage.values() for d in deps):
            assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND "
                                "table_name = %s AND column_name = %s", (*dep.asset_key.path, dep.column_name)
                                ).fetchone()[0] == 1, dep


def test_every_published_cell_reaches_the_threshold_and_is_its_true_count_rounded(built, warehouse_url):
    published, truth = _published(warehouse_url), _truth(warehouse_url)
    assert set(published) == set(truth) | {(c, y, s) for c, y, _ in truth for s in ("female", "male", "all")}
    shown = hidden = 0
    for cell, (n, m, percent) in published.items():
        true_n, true_m = truth.get(cell, (0, 0))
        if n is None:
            hidden += 1
        else:
            shown += 1
            assert true_n >= RULE.min_count and n % RULE.rounding_base == 0 and abs(n - true_n) <= RULE.rounding_base // 2
        if true_n < RULE.min_count:
            assert n is None and m is None and percent is None, cell
        if m is not None:
            assert min(true_m, true_n - true_m) >= RULE.min_count and m == rounded(true_m, RULE.rounding_base)
            assert percent == round(100 * true_m / true_n) and n is not None, cell
        else:
            assert percent is None
    assert shown > 10 and hidden > 10  # small simulated councils: both kinds are exercised


def test_no_suppressed_cell_can_be_worked_out_from_the_published_ones(built, warehouse_url):
    published, truth = _published(warehouse_url), _truth(warehouse_url)
    groups = {(c, y) for c, y, _ in published}
    for group, measure in itertools.product(groups, range(2)):
        cells = {s: published[(*group, s)][measure] for s in ("female", "male", "all")}
        true = {s: truth.get((*group, s), (0, 0))[measure] for s in cells}
        _assert_not_derivable(cells, true)


def _assert_not_derivable(cells: dict, true: dict) -> None:
    """An attacker who knows that all = female + male and sees the published cells (exactly, as if unrounded)
    solves for the hidden ones: each hidden cell must keep at least two possible values. Two solutions are
    enough to show it, so each hidden cell is tried within 2 of its true value."""
    known = {s: true[s] for s, v in cells.items() if v is not None}
    hidden = [s for s, v in cells.items() if v is None]
    windows = [range(max(0, true[s] - 2), true[s] + 3) for s in hidden]
    solutions = [values for values in itertools.product(*windows)
                 if (trial := {**known, **dict(zip(hidden, values))})["all"] == trial["female"] + trial["male"]]
    for i, sex in enumerate(hidden):
        assert len({s[i] for s in solutions}) >= 2, (sex, cells, true)


def test_disclosure_rules_hold_on_simulated_tables():
    """Thousands of council-year groups with small and large, lopsided and balanced cells."""
    draw = random.Random(11)
    rule = Rules(min_count=10, rounding_base=5, rate_decimals=0)
    for _ in range(3000):
        parts = {}
        for sex in ("female", "male"):
            n = draw.choice([draw.randint(0, 12), draw.randint(0, 40), draw.randint(10, 400)])
            m = draw.choice([draw.randint(0, n), n - draw.randint(0, min(n, 12)), draw.randint(0, min(n, 12))])
            parts[sex] = (n, m)
        group = {**parts, "all": (parts["female"][0] + parts["male"][0], parts["female"][1] + parts["male"][1])}
        shown = protect_rates(group, rule)
        for sex, (n, m, percent) in shown.items():
            true_n, true_m = group[sex]
            assert n is None or (true_n >= 10 and n % 5 == 0 and n >= 10)
            assert m is None or (min(true_m, true_n - true_m) >= 10 and n is not None and m % 5 == 0 and n - m >= 10)
            assert (m is None) == (percent is None)
        for measure in range(2):
            cells = {s: shown[s][measure] for s in group}
            _assert_not_derivable(cells, {s: group[s][measure] for s in group})


@pytest.mark.parametrize("text, message", [
    ("min_count: 10\nrounding_base: 5\n", "rate_decimals: Field required"),
    ("min_count: 0\nrounding_base: 5\nrate_decimals: 0\n", "min_count: Input should be greater than or equal to 1"),
    ("min_count: 10\nrounding_base: 2.5\nrate_decimals: 0\n", "rounding_base: Input should be a valid integer"),
    ("min_count: 10\nrounding_base: 5\nrate_decimals: 0\nround_rates: yes\n", "round_rates: Extra inputs"),
])
def test_malformed_disclosure_rules_are_refused_naming_the_file_and_rule(tmp_path, monkeypatch, text, message):
    path = tmp_path / "disclosure.yaml"
    path.write_text(text)
    monkeypatch.setattr(disclosure, "RULES_FILE", path)
    disclosure.rules.cache_clear()
    try:
        with pytest.raises(disclosure.DisclosureError) as refused:
            disclosure.rules()
    finally:
        disclosure.rules.cache_clear()
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)


def test_rounding_and_rates():
    assert [rounded(c, 5) for c in (10, 12, 13, 17, 18, 102)] == [10, 10, 15, 15, 20, 100]
    assert rounded(15, 10) == 20 and rounded(14, 10) == 10
    shown = protect_rates({"female": (30, 20), "male": (40, 25), "all": (70, 45)},
                          Rules(min_count=10, rounding_base=5, rate_decimals=1))
    assert shown == {"female": (30, 20, Decimal("66.7")), "male": (40, 25, Decimal("62.5")), "all": (70, 45, Decimal("64.3"))}
    # A group where only the boys' count is small: the girls' is hidden with it, the total stays.
    shown = protect_rates({"female": (40, 30), "male": (8, 3), "all": (48, 33)}, RULE)
    assert shown == {"female": (None, None, None), "male": (None, None, None), "all": (50, 35, Decimal(69))}


def test_blocking_check_keeps_the_published_table(built, warehouse_url, monkeypatch):
    """A disclosure bug (no suppression, no rounding) is caught on the candidate; analysts keep the last
    published table, cannot read the rejected candidate, and the run fails naming the checks."""
    before = _published(warehouse_url)
    monkeypatch.setattr(early_years, "protect_rates", lambda group, rule: {
        s: (n, m, None if n == 0 else round(100 * m / n)) for s, (n, m) in group.items()})
    result = materialize([eyfsp_gld_by_council], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert not result.success and not result.get_asset_materialization_events()
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert {"no_small_cell_published", "counts_rounded"} <= failed
    description = result.failure_data_for_node("mart__eyfsp_gld_by_council").user_failure_data.description
    assert "mart.eyfsp_gld_by_council was not published" in description and "no_small_cell_published" in description
    assert _published(warehouse_url) == before
    with _analyst(warehouse_url) as analyst:
        assert analyst.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == len(before)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute(f"SELECT count(*) FROM {TABLE}__candidate")


@contextmanager
def _analyst(url: str):
    """A connection as a login in gmoda_analyst."""
    login = "test_marts_analyst"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {login}")
        conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE gmoda_analyst")
    try:
        with psycopg.connect(url, user=login, autocommit=True) as analyst:
            yield analyst
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {login}")


def test_analysts_read_the_mart_and_not_what_it_is_built_from(built, warehouse_url):
    with _analyst(warehouse_url) as analyst:
        assert analyst.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == len(_published(warehouse_url))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("SELECT count(*) FROM conformed.fact_early_years_outcomes")
