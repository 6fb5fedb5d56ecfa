"""Synthetic data comes only from feeds whose agreements permit it (EYFSP, NHS births and health visiting), and
the code location refuses to load a synthetic table that would read anything else, the linked layer included."""

from dataclasses import replace

import pytest
from dagster import AssetKey, Definitions

from gmoda_assets.lib.governance import AgreementError, check_agreements
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Written
from gmoda_assets.synthetic.assets import CHILDREN


def test_synthetic_children_come_only_from_permitted_feeds(defs):
    graph = defs.resolve_asset_graph()
    feeds = {key.path[2] for key in graph.get_ancestor_asset_keys(AssetKey(CHILDREN.asset_key)) if key.path[0] == "raw"}
    assert feeds == {"eyfsp", "births", "hv_reviews"}
    check_agreements(defs)  # loads: every feed upstream is permitted for synthetic_data today


def test_a_synthetic_table_built_on_the_linked_layer_does_not_load(defs):
    linked = replace(CHILDREN, name="children_linked", companions=(),
                     source=Written(lambda context, conn, candidates: {}, assets=(("linked", "person"),)))
    with pytest.raises(AgreementError) as raised:
        check_agreements(Definitions.merge(defs, Definitions(assets=[table_asset(linked, checks=[])])))
    message = str(raised.value)
    assert ("asset synthetic/children_linked (purpose synthetic_data) uses feed gmp.incidents without a live "
            "data-sharing agreement for synthetic_data") in message
    assert "GMODA-DSA-004 does not permit synthetic_data" in message
    assert "uses feed bolton.social_care" in message and "uses feed stockport_homes.tenancies" in message
