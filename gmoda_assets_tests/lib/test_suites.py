"""Expectation suites as data: the shipped suites are valid Great Expectations, and a malformed suite file
is rejected with a message naming the file and the problem."""

import pytest
import yaml

from gmoda_assets.lib import suites
from gmoda_assets.lib.suites import SuiteError, load_suite

GOOD_CHECK = {
    "name": "keys_unique",
    "description": "Keys are unique.",
    "blocking": True,
    "expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}, "about": "ids"}],
}


def shipped_suites() -> list[list[str]]:
    return [path.stem.split(".") for path in sorted(suites.SUITES_DIR.glob("*.yaml"))]


@pytest.mark.parametrize("asset_key", shipped_suites(), ids=".".join)
def test_shipped_suites_are_great_expectations(asset_key):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    checks = load_suite(asset_key)
    assert any(c.blocking for c in checks), "a layer boundary needs at least one blocking check"
    for check in checks:
        for e in check.expectations:
            # Resolves the type in GE's registry and validates its kwargs.
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]).to_domain_obj()


def test_load_suite_reads_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    (tmp_path / "conformed.dim_thing.yaml").write_text(yaml.safe_dump([GOOD_CHECK]))
    [check] = load_suite(["conformed", "dim_thing"])
    assert (check.name, check.description, check.blocking) == ("keys_unique", "Keys are unique.", True)
    assert check.expectations == GOOD_CHECK["expectations"]
    assert check.spec(["conformed", "dim_thing"]).blocking


@pytest.mark.parametrize("document, message", [
    ([{**GOOD_CHECK, "severity": "high"}], "0.severity: Extra inputs are not permitted"),
    ([{k: v for k, v in GOOD_CHECK.items() if k != "blocking"}], "0.blocking: Field required"),
    ([{k: v for k, v in GOOD_CHECK.items() if k != "name"}], "0.name: Field required"),
    ([{**GOOD_CHECK, "blocking": "yes"}], "0.blocking: Input should be a valid boolean (got 'yes')"),
    ([{**GOOD_CHECK, "name": "Keys Unique"}], "0.name: String should match pattern '^[a-z][a-z0-9_]*$' (got 'Keys Unique')"),
    ([{**GOOD_CHECK, "expectations": []}], "0.expectations: List should have at least 1 item"),
    ([{**GOOD_CHECK, "expectations": [{"type": "expect_column_values_to_be_unique"}]}], "0.expectations.0.kwargs: Field required"),
    ([{**GOOD_CHECK, "expectations": [{"type": "column_unique", "kwargs": {}}]}], "0.expectations.0.type: String should match pattern"),
    ([{**GOOD_CHECK, "expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {}, "note": "x"}]}],
     "0.expectations.0.note: Extra inputs are not permitted"),
    ([{**GOOD_CHECK, "expectations": [{"type": "unexpected_rows_expectation",
                                       "kwargs": {"unexpected_rows_query": "SELECT * FROM conformed.dim_date"}}]}],
     "0.expectations.0: unexpected_rows_expectation needs an unexpected_rows_query that reads {batch}"),
    ([GOOD_CHECK, GOOD_CHECK], "check names must be unique; repeated: keys_unique"),
    ([], "List should have at least 1 item"),
    ({"checks": [GOOD_CHECK]}, "yaml: Input should be a valid list"),
    (["keys_unique"], "0: Input should be a valid dictionary"),
    ([{**GOOD_CHECK, "description": "At least {disclosure.smallest}."}],
     "{disclosure.smallest} is not one of disclosure.min_count"),
])
def test_malformed_suite_is_rejected_naming_the_file(tmp_path, monkeypatch, document, message):
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    path = tmp_path / "conformed.dim_thing.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SuiteError) as error:
        load_suite(["conformed", "dim_thing"])
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_missing_or_unreadable_suite_file(tmp_path, monkeypatch):
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    with pytest.raises(SuiteError, match="no expectation suite for asset conformed/dim_none"):
        load_suite(["conformed", "dim_none"])
    (tmp_path / "conformed.dim_bad.yaml").write_text("- name: [unclosed\n")
    with pytest.raises(SuiteError, match="conformed.dim_bad.yaml: not valid YAML"):
        load_suite(["conformed", "dim_bad"])


def test_configured_values_are_filled_in():
    from gmoda_assets.lib.disclosure import rules

    checks = {c.name: c for c in load_suite(["mart", "eyfsp_gld_by_council"])}
    assert checks["no_small_cell_published"].description.startswith(f"No published count is below {rules().min_count}:")
    query = checks["counts_rounded"].expectations[0]["kwargs"]["unexpected_rows_query"]
    assert f"children_assessed % {rules().rounding_base} <> 0" in query and "{disclosure" not in query
