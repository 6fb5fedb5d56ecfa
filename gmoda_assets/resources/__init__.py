"""Dagster resources: the warehouse and the landing zone."""

from gmoda_assets.resources.landing_zone import LandedFile, LandingZone, LocalLandingZone
from gmoda_assets.resources.warehouse import WAREHOUSE_POOL, Warehouse

__all__ = ["LandedFile", "LandingZone", "LocalLandingZone", "WAREHOUSE_POOL", "Warehouse"]
