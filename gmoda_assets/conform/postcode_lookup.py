"""The postcode lookup staging uses to turn a delivered postcode into its LSOA, ward and council."""

import io

from dagster import AssetExecutionContext, MaterializeResult, TableColumn, TableSchema, asset
from psycopg import sql

from gmoda_assets.conform.staging import POSTCODE_LOOKUP_KEY
from gmoda_assets.lib.quality import CheckDef, expectation, validate_in_postgres
from gmoda_assets.resources import Warehouse

COLUMNS = {
    "postcode_key": "Postcode in capitals without spaces: how delivered postcodes are matched.",
    "postcode_sector": "Postcode sector, e.g. 'M14 5'.",
    "lsoa11cd": "LSOA (2011) the postcode lies in.",
    "ward17cd": "Electoral ward (2017) of the LSOA.",
    "lad19cd": "Council area (local authority district) of the LSOA.",
}
CHECKS = [
    CheckDef(
        "one_row_per_postcode",
        "Every postcode appears once and maps to an LSOA, ward and council of Greater Manchester.",
        [expectation("expect_column_values_to_be_unique", column="postcode_key"),
         *[expectation("expect_column_values_to_not_be_null", column=c) for c in ("lsoa11cd", "ward17cd", "lad19cd")],
         expectation("expect_column_distinct_values_to_be_in_set", column="lad19cd",
                     value_set=[f"E0800000{i}" for i in range(1, 10)] + ["E08000010"])],
        blocking=True,
    ),
]


@asset(
    key=POSTCODE_LOOKUP_KEY,
    group_name="staging",
    kinds={"postgres"},
    check_specs=[c.spec(POSTCODE_LOOKUP_KEY) for c in CHECKS],
    metadata={
        "dagster/table_name": "staging.postcode_lookup",
        "dagster/column_schema": TableSchema(columns=[TableColumn(n, "text", description=d) for n, d in COLUMNS.items()]),
    },
)
def postcode_lookup(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Postcode -> postcode sector, LSOA (2011), ward (2017) and council for Greater Manchester, from the
    postcode directory shipped in the package (`gmoda_assets.lib.geography`). Staging reads it to replace each
    delivered postcode by its areas; linkage features keep only the sector."""
    from gmoda_assets.lib.geography import postcode_directory

    frame = postcode_directory()
    frame = frame.assign(postcode_key=frame.postcode.str.replace(" ", "", regex=False))[list(COLUMNS)]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        conn.execute("DROP TABLE IF EXISTS staging.postcode_lookup")
        conn.execute("CREATE TABLE staging.postcode_lookup (" + ", ".join(f"{c} text NOT NULL" for c in COLUMNS)
                     + ", PRIMARY KEY (postcode_key))")
        with conn.cursor().copy("COPY staging.postcode_lookup FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        conn.execute("COMMENT ON TABLE staging.postcode_lookup IS 'Greater Manchester postcodes and the areas they lie in (reference data).'")
        for name, text in COLUMNS.items():
            conn.execute(sql.SQL("COMMENT ON COLUMN staging.postcode_lookup.{} IS {}").format(sql.Identifier(name), sql.Literal(text)))
    results = validate_in_postgres(warehouse.sqlalchemy_url, "SELECT * FROM staging.postcode_lookup", CHECKS, POSTCODE_LOOKUP_KEY)
    return MaterializeResult(metadata={"dagster/row_count": len(frame)}, check_results=results)
