"""The `gmoda_assets` Dagster code location."""

from dagster import Definitions

from gmoda_assets.alerts.sensors import alert_sensors
from gmoda_assets.conform import dimensions, facts_council, facts_health_police_housing
from gmoda_assets.conform.linkage_features import SPEC as LINKAGE_FEATURES
from gmoda_assets.conform.linkage_features import linkage_features
from gmoda_assets.conform.postcode_lookup import SPEC as POSTCODE_LOOKUP
from gmoda_assets.conform.postcode_lookup import postcode_lookup
from gmoda_assets.conform.staging import STAGING_SPECS, staging_assets
from gmoda_assets.ingest.assets import raw_assets
from gmoda_assets.ingest.feed_deliveries import feed_deliveries
from gmoda_assets.ingest.jobs import ingest_jobs, quarantine_unrecognised_file
from gmoda_assets.ingest.sensors import drop_sensors
from gmoda_assets.lib.governance import check_code_location
from gmoda_assets.linkage import households, people, quality, review
from gmoda_assets.linkage.assets import RUNS_SPEC as LINKAGE_RUNS
from gmoda_assets.linkage.assets import linked_assets
from gmoda_assets.marts import early_years
from gmoda_assets.marts import school_readiness as school_readiness_mart
from gmoda_assets.resources import LocalLandingZone, Warehouse
from gmoda_assets.signposting import alerts, family
from gmoda_assets.school_readiness import assets as school_readiness
from gmoda_assets.schedules import nightly_refresh_job, nightly_refresh_schedule
from gmoda_assets.synthetic import assets as synthetic

# Every table past raw declared by a spec (gmoda_assets.lib.tables): one asset each.
TABLE_SPECS = [POSTCODE_LOOKUP, *STAGING_SPECS, LINKAGE_FEATURES, *dimensions.SPECS, *facts_council.SPECS,
               *facts_health_police_housing.SPECS, LINKAGE_RUNS, *people.SPECS, *households.SPECS, *quality.SPECS,
               *review.SPECS, *early_years.SPECS, *family.SPECS, *alerts.SPECS, *synthetic.SPECS,
               *school_readiness.SPECS, school_readiness_mart.GLD_BY_AREA]

defs = Definitions(
    assets=[*raw_assets, feed_deliveries, postcode_lookup, *staging_assets, linkage_features,
            *dimensions.dimension_assets, *facts_council.council_assets, *facts_health_police_housing.fact_assets_hpp,
            *linked_assets, *early_years.mart_assets, *family.signposting_assets,
            *alerts.alert_assets, *synthetic.synthetic_assets, *school_readiness.model_assets,
            school_readiness_mart.school_readiness_by_area],
    jobs=[*ingest_jobs.values(), quarantine_unrecognised_file, nightly_refresh_job],
    sensors=[*drop_sensors, *alert_sensors],
    schedules=[nightly_refresh_schedule],
    resources={"warehouse": Warehouse(), "landing_zone": LocalLandingZone.from_settings()},
)

# The code location does not load while a product would use a feed without a live agreement for its purpose;
# the error names the asset, the feed, the purpose and the agreement.
check_code_location(defs)
