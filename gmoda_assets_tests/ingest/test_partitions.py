"""Drops registered under the one shared ``drops`` definition of an older instance move to their feeds'."""

from dagster import AssetKey

from gmoda_assets.ingest.drops import SHARED_DROPS, feed_partitions, move_shared_drops
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets.lib.instance import get_instance
from gmoda_assets_tests.helpers import copy_drops, registered_drops


def test_drops_of_the_shared_definition_move_to_their_feeds(platform, instance, defs, simulated_month):
    copy_drops(simulated_month, settings.landing_dir(), ["nhs"])
    assert ingest_landing_zone(instance, defs, platform).tally.failures == []
    by_feed = {name: keys for name, keys in registered_drops(instance).items() if keys}
    assert set(by_feed) == {feed_partitions["nhs.births"].name, feed_partitions["nhs.hv_reviews"].name}

    # As an instance made before each feed had its own definition holds them, with a key of a feed since retired.
    retired = "nhs.retired_feed/old.csv@0123456789ab"
    for name, keys in by_feed.items():
        for key in keys:
            instance.delete_dynamic_partition(name, key)
    instance.add_dynamic_partitions(SHARED_DROPS, [*(k for keys in by_feed.values() for k in keys), retired])

    get_instance()  # what every command that opens the instance does first
    after = {name: keys for name, keys in registered_drops(instance).items() if keys}
    assert after == {**by_feed, SHARED_DROPS: [retired]}
    # The raw asset's partitions are its drops again, each shown materialised by its run.
    births = AssetKey(["raw", "nhs", "births"])
    assert set(after[feed_partitions["nhs.births"].name]) <= instance.get_materialized_partitions(births)
    assert move_shared_drops(instance) == []  # once only
