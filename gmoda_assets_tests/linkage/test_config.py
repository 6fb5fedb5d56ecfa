"""The linkage configuration is validated: a mistake names the file and the entry, before any run."""

import copy

import pytest
import yaml

from gmoda_assets.linkage.config import CONFIG_FILE, LinkageConfigError, linkage_config, parse, splink_settings


def _raw() -> dict:
    return yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))


def test_the_package_configuration_makes_splink_settings():
    config = linkage_config()
    assert config.exact["nhs_number_pseudonym"] is None and config.exact["upn_pseudonym"] == ("eyfsp",)
    settings = splink_settings(config).create_settings_dict("duckdb")
    assert len(settings["comparisons"]) == len(config.comparisons) >= 5
    assert len(settings["blocking_rules_to_generate_predictions"]) == len(config.blocking)
    levels = settings["comparisons"][0]["comparison_levels"]
    assert levels[0]["is_null_level"] and levels[-1]["sql_condition"] == "ELSE"
    # Floors name a pair of partners in either order; the evaluation's name is alphabetical.
    assert config.quality.floors[("council-nhs", "pairwise_recall")] == 0.97


@pytest.mark.parametrize("mistake, named", [
    (lambda c: c["blocking"].append(["date_of_birth"]), "blocking[6]: unknown column(s) date_of_birth"),
    (lambda c: c["comparisons"][0]["levels"].append({"label": "x", "when": "forename_l = forename_r"}),
     "comparisons.given_name.levels[2]"),
    (lambda c: c["exact"].update(upn_pseudonym=["births"]), "exact.upn_pseudonym: kind 'births' has no field 'upn'"),
    (lambda c: c.update(match_probability=1.5), "match_probability: expected a probability"),
    (lambda c: c["training"].update(em_blocking=[["nhs"]]), "training.em_blocking[0]"),
    (lambda c: c["households"][0].update(together=["tenancy"]), "households[0].together: tenancy is neither"),
    (lambda c: c["vetoes"].append("l.forename <> r.forename"), "vetoes[1]: the condition must compare"),
    (lambda c: c["comparisons"][1]["levels"][0].update(frequency="surname"), "levels[0].frequency: unknown column"),
    (lambda c: c["quality"]["floors"].update({"nhs-council": {"precision": 0.9}}),
     "quality.floors.nhs-council.precision: unknown measure"),
    (lambda c: c["quality"]["floors"].update({"nhs-gp": {"pairwise_recall": 0.9}}), "quality.floors.nhs-gp: expected"),
    (lambda c: c["quality"]["ceilings"]["all"].update(share_unlinked=2), "quality.ceilings.all.share_unlinked"),
])
def test_a_mistake_names_the_file_and_the_entry(mistake, named):
    raw = copy.deepcopy(_raw())
    mistake(raw)
    with pytest.raises(LinkageConfigError) as refused:
        parse(raw)
    assert str(refused.value).startswith("linkage.yaml: ") and named in str(refused.value)


def test_the_nightly_refresh_links_people_before_the_facts_use_them(defs):
    from dagster import AssetKey

    from gmoda_assets.linkage.people import SPECS

    linked = {AssetKey(["linked", "model_runs"]), *(AssetKey(s.key) for s in SPECS)}
    assert linked <= defs.get_repository_def().get_job("nightly_refresh").asset_layer.selected_asset_keys
    graph = defs.resolve_asset_graph()
    assert AssetKey(["conformed", "dim_person"]) in graph.get(AssetKey(["conformed", "fact_births"])).parent_keys
