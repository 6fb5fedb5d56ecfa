"""The postcode lookup staging uses to turn a delivered postcode into its LSOA, ward and council.

Declared by a spec and built by write, check, publish (``gmoda_assets.lib.publish``); its checks are
``expectations/staging.postcode_lookup.yaml``.
"""

from gmoda_assets.conform.staging import POSTCODE_LOOKUP_KEY
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec

COLUMNS = {
    "postcode_key": "Postcode in capitals without spaces: how delivered postcodes are matched.",
    "postcode_sector": "Postcode sector, e.g. 'M14 5'.",
    "lsoa11cd": "LSOA (2011) the postcode lies in.",
    "ward17cd": "Electoral ward (2017) of the LSOA.",
    "lad19cd": "Council area (local authority district) of the LSOA.",
}


def _postcodes(context, conn):
    """The postcode directory shipped in the package, one row per postcode."""
    from gmoda_assets.lib.geography import postcode_directory

    frame = postcode_directory()
    return frame.assign(postcode_key=frame.postcode.str.replace(" ", "", regex=False))[list(COLUMNS)], {}


SPEC = TableSpec(*POSTCODE_LOOKUP_KEY, (
    "Postcode -> postcode sector, LSOA (2011), ward (2017) and council for Greater Manchester, from the postcode "
    "directory shipped in the package (`gmoda_assets.lib.geography`). Staging reads it to replace each delivered "
    "postcode by its areas; linkage features keep only the sector."),
    {name: Column("text", text, not_null=True) for name, text in COLUMNS.items()}, Computed(_postcodes),
    primary_key=("postcode_key",))
postcode_lookup = table_asset(SPEC)
