"""Synthetic data comes only from feeds whose agreements permit it (EYFSP, funded early education, NHS births and
health visiting), read by person key; the code location refuses to load a synthetic table that would read
anything else: social care's facts, or the linked layer's own tables (whose linkage reads every feed)."""

from dataclasses import replace

import pytest
from dagster import AssetKey, Definitions

from gmoda_assets.lib.governance import AgreementError, _used_upstream, check_agreements
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Written
from gmoda_assets.synthetic.assets import CHILDREN

PERSON = AssetKey(["conformed", "dim_person"])


def _reading(*assets: tuple[str, ...]):
    """A synthetic table like synthetic.children that reads ``assets`` besides."""
    spec = replace(CHILDREN, name="children_more", companions=(),
                   source=Written(lambda context, conn, candidates: {}, assets=(*CHILDREN.source.assets, *assets)))
    return table_asset(spec, checks=[])


def test_synthetic_children_come_only_from_permitted_feeds(defs):
    graph = defs.resolve_asset_graph()
    facts = {key.path[1] for key in graph.get(AssetKey(CHILDREN.asset_key)).parent_keys}
    assert {"fact_early_years_outcomes", "fact_births", "fact_health_visiting_reviews",
            "fact_funded_early_education"} <= facts
    # The feeds it uses (all upstream but what lies only behind the person keys): the four permitted kinds.
    used = _used_upstream(graph, AssetKey(CHILDREN.asset_key))
    assert {key.path[2] for key in used if key.path[0] == "raw"} == {"eyfsp", "funded_early_education", "births",
                                                                   "hv_reviews"}
    assert PERSON in graph.get_ancestor_asset_keys(AssetKey(CHILDREN.asset_key))  # linked -> synthetic
    check_agreements(defs)  # loads: every feed it uses is permitted for synthetic_data today


def test_a_synthetic_table_reading_social_care_does_not_load(defs):
    with pytest.raises(AgreementError) as raised:
        check_agreements(Definitions.merge(defs, Definitions(assets=[
            _reading(("conformed", "fact_social_care_episodes"))])))
    message = str(raised.value)
    assert ("asset synthetic/children_more (purpose synthetic_data) uses feed bolton.social_care without a live "
            "data-sharing agreement for synthetic_data") in message
    assert "GMODA-DSA-003 does not permit synthetic_data" in message
    assert "gmp.incidents" not in message  # the person keys behind the facts count for nothing


@pytest.mark.parametrize("linked", [("linked", "person"), ("linked", "household")])
def test_a_synthetic_table_built_on_the_linked_layer_does_not_load(defs, linked):
    with pytest.raises(AgreementError) as raised:
        check_agreements(Definitions.merge(defs, Definitions(assets=[_reading(linked)])))
    message = str(raised.value)
    assert ("asset synthetic/children_more (purpose synthetic_data) uses feed gmp.incidents without a live "
            "data-sharing agreement for synthetic_data") in message
    assert "GMODA-DSA-004 does not permit synthetic_data" in message
    assert "uses feed bolton.social_care" in message and "uses feed stockport_homes.tenancies" in message
