"""Conformed dimensions: date, geography (LSOA, with a postcode-sector bridge) and partner.

The tables are defined in ``sql/200_conformed_dimensions.sql``; these assets fill them from reference data
shipped in the package. Facts hold the dimensions' surrogate keys under foreign keys, so a rebuild never
renumbers: dim_date's key is the date (yyyymmdd), and dim_geography and dim_partner are upserted on their
natural key, so an existing member keeps its key, a new one gets the next key (new members are inserted in
natural-key order, so a fresh warehouse numbers them the same way), and a member that leaves the reference is
kept with ``is_current`` false. Each dimension has an unknown member, key -1. The checks are data:
``gmoda_assets/expectations/conformed.<table>.yaml``.
"""

import io
from collections.abc import Iterable, Sequence
from datetime import date

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, TableColumn, TableSchema, asset
from psycopg import Connection, sql

from gmoda_assets.lib.contracts import feed_contracts, partners
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse

SCHEMA = "conformed"
DATE_KEY = [SCHEMA, "dim_date"]
GEOGRAPHY_KEY = [SCHEMA, "dim_geography"]
POSTCODE_SECTOR_KEY = [SCHEMA, "dim_postcode_sector"]
PARTNER_KEY = [SCHEMA, "dim_partner"]
UNKNOWN = -1
FIRST_DAY, LAST_DAY = date(2010, 1, 1), date(2030, 12, 31)

# Column: (PostgreSQL type, description), as in the table's DDL and its column comments (a test compares them).
DATE_COLUMNS = {
    "date_key": ("integer", "Surrogate key: the date as the integer yyyymmdd (20240901); -1 for an unknown or invalid date."),
    "date": ("date", "The calendar date; null for the unknown date."),
    "day": ("smallint", "Day of the month, 1-31."),
    "month": ("smallint", "Month number, 1 (January) to 12 (December)."),
    "month_name": ("text", "Month name in English, e.g. September."),
    "year": ("smallint", "Calendar year."),
    "iso_year": ("smallint", "ISO 8601 week-numbering year (differs from year in the first and last days of some years)."),
    "iso_week": ("smallint", "ISO 8601 week number, 1-53; weeks start on Monday."),
    "weekday_number": ("smallint", "ISO day of the week: 1 = Monday ... 7 = Sunday."),
    "weekday_name": ("text", "Day of the week in English, e.g. Monday."),
    "is_weekend": ("boolean", "True on Saturdays and Sundays."),
    "academic_year": ("text", "English school year, 1 September to 31 August, e.g. 2024/25."),
    "school_term": ("text", "School term by month: autumn (Sep-Dec), spring (Jan-Mar), summer (Apr-Aug). A simple month "
                            "rule: Easter and half terms are ignored and August counts as summer."),
    "birth_term": ("text", "Term of birth as the DfE reports EYFSP results: autumn-born (Sep-Dec), spring-born (Jan-Apr), "
                           "summer-born (May-Aug)."),
    "financial_year": ("text", "UK public-sector financial year, 1 April to 31 March, e.g. 2024/25."),
}
GEOGRAPHY_COLUMNS = {
    "geography_key": ("integer", "Surrogate key, stable across rebuilds; -1 for an unknown, missing or out-of-area location."),
    "lsoa11cd": ("text", "Lower-layer Super Output Area code (2011), e.g. E01004766; 'unknown' for the unknown area."),
    "lsoa11nm": ("text", "LSOA name, e.g. Bolton 005A."),
    "ward17cd": ("text", "Electoral ward (2017) the LSOA best fits, ONS code."),
    "ward17nm": ("text", "Electoral ward (2017) name."),
    "lad19cd": ("text", "Council area (local authority district, 2019) ONS code, E08000001 Bolton ... E08000010 Wigan."),
    "lad19nm": ("text", "Council area name."),
    "imd19_rank": ("integer", "Index of Multiple Deprivation 2019 rank among the 32,844 LSOAs of England (1 = most deprived)."),
    "imd19_decile": ("smallint", "IMD 2019 decile in England: 1 = most deprived 10%, 10 = least deprived."),
    "income19_decile": ("smallint", "IMD 2019 income domain decile (1 = most deprived)."),
    "education19_decile": ("smallint", "IMD 2019 education, skills and training domain decile (1 = most deprived)."),
    "health19_decile": ("smallint", "IMD 2019 health deprivation and disability domain decile (1 = most deprived)."),
    "crime19_decile": ("smallint", "IMD 2019 crime domain decile (1 = most deprived)."),
    "living_env19_decile": ("smallint", "IMD 2019 living environment domain decile (1 = most deprived)."),
    "population_mid2015": ("integer", "Resident population, mid-2015 estimate (the IMD 2019 denominator)."),
    "children_0_15_mid2015": ("integer", "Children aged 0-15, mid-2015 estimate."),
    "is_current": ("boolean", "False once the area has left the reference data; the row stays because facts may point at it."),
}
POSTCODE_SECTOR_COLUMNS = {
    "postcode_sector": ("text", "Postcode sector: district, space and the first digit of the inward code, e.g. M14 5."),
    "geography_key": ("integer", "The LSOA in dim_geography (foreign key)."),
    "lsoa11cd": ("text", "The LSOA code (2011), as in dim_geography, for readability."),
    "postcode_district": ("text", "Postcode district (outward code), e.g. M14."),
    "postcodes": ("integer", "Unit postcodes of the sector that lie in the LSOA."),
    "share_of_sector": ("numeric", "postcodes / all postcodes of the sector; the shares of a sector add up to 1."),
}
PARTNER_COLUMNS = {
    "partner_key": ("integer", "Surrogate key, stable across rebuilds; -1 for an unknown partner."),
    "partner_id": ("text", "Partner id as in partners.yaml and the landing-zone folder, e.g. stockport; 'unknown' for the "
                           "unknown partner."),
    "partner_name": ("text", "Organisation name, e.g. Stockport Council."),
    "kind": ("text", "Kind of organisation: council, health, police or housing."),
    "council_code": ("text", "ONS code of the council area (E08000001 ... E08000010) when the partner is a council; null "
                             "otherwise."),
    "feeds": ("text", "Feeds the partner delivers under a contract, comma-separated, e.g. eyfsp, funded_early_education, "
                      "social_care."),
    "feed_count": ("integer", "Number of contracted feeds."),
    "is_current": ("boolean", "False once the partner has left partners.yaml; the row stays because facts may point at it."),
}

# dim_date's attributes, computed in PostgreSQL from the day d.
_DATE_EXPRESSIONS = {
    "date_key": "to_char(d, 'YYYYMMDD')::integer",
    "date": "d",
    "day": "extract(day FROM d)",
    "month": "extract(month FROM d)",
    "month_name": "to_char(d, 'FMMonth')",
    "year": "extract(year FROM d)",
    "iso_year": "extract(isoyear FROM d)",
    "iso_week": "extract(week FROM d)",
    "weekday_number": "extract(isodow FROM d)",
    "weekday_name": "to_char(d, 'FMDay')",
    "is_weekend": "extract(isodow FROM d) >= 6",
    "academic_year": "school_year || '/' || to_char((school_year + 1) % 100, 'FM00')",
    "school_term": "CASE WHEN extract(month FROM d) >= 9 THEN 'autumn' WHEN extract(month FROM d) <= 3 THEN 'spring' ELSE 'summer' END",
    "birth_term": "CASE WHEN extract(month FROM d) >= 9 THEN 'autumn' WHEN extract(month FROM d) <= 4 THEN 'spring' ELSE 'summer' END",
    "financial_year": "fiscal_year || '/' || to_char((fiscal_year + 1) % 100, 'FM00')",
}
_UNKNOWN_DATE = {"date_key": UNKNOWN, "month_name": "Unknown", "weekday_name": "Unknown", "academic_year": "unknown",
                 "school_term": "unknown", "birth_term": "unknown", "financial_year": "unknown"}
_UNKNOWN_GEOGRAPHY = {"lsoa11cd": "unknown", "lsoa11nm": "Unknown", "ward17nm": "Unknown", "lad19nm": "Unknown",
                      "is_current": True}
_UNKNOWN_PARTNER = {"partner_id": "unknown", "partner_name": "Unknown", "kind": "unknown", "feeds": "",
                    "feed_count": 0, "is_current": True}


def _metadata(key: list[str], columns: dict[str, tuple[str, str]]) -> dict:
    return {
        "dagster/table_name": ".".join(key),
        "dagster/column_schema": TableSchema(columns=[TableColumn(n, t, description=d) for n, (t, d) in columns.items()]),
    }


def _table(key: list[str]) -> sql.Identifier:
    return sql.Identifier(*key)


def _columns(names: Iterable[str], prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, n) if prefix else sql.Identifier(n) for n in names)


def _validated(warehouse: Warehouse, key: list[str], metadata: dict) -> MaterializeResult:
    """The asset's suite run against the whole table, and its materialisation."""
    results = validate_in_postgres(warehouse.sqlalchemy_url, f"SELECT * FROM {'.'.join(key)}", load_suite(key), key)
    return MaterializeResult(metadata=metadata, check_results=results)


def _upsert_members(conn: Connection, key: list[str], surrogate: str, natural: str, rows: Sequence[dict],
                    unknown: dict) -> dict[str, int]:
    """Bring a dimension in line with ``rows`` (its members, without surrogate keys) by natural key: update
    changed members in place, add new ones in natural-key order, retire (``is_current`` false) members no
    longer listed, and keep the unknown member at key -1. Keys already given never change."""
    table, columns = _table(key), list(rows[0])
    # Concurrent rebuilds of the same dimension would race for new keys.
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE members ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                 .format(_columns(columns), table))
    with conn.cursor().copy(sql.SQL("COPY members ({}) FROM STDIN").format(_columns(columns))) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
    unknown_columns = [surrogate, *unknown]
    conn.execute(sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT ({k}) DO UPDATE SET ({cols}) = ROW({excluded})")
                 .format(t=table, cols=_columns(unknown_columns), k=sql.Identifier(surrogate),
                         vals=sql.SQL(", ").join(map(sql.Literal, [UNKNOWN, *unknown.values()])),
                         excluded=_columns(unknown_columns, "excluded")))
    updated = conn.execute(sql.SQL("""
        UPDATE {t} AS t SET ({cols}) = ROW({new}) FROM members AS m
        WHERE t.{nk} = m.{nk} AND ({old}) IS DISTINCT FROM ({new})
    """).format(t=table, cols=_columns(columns), new=_columns(columns, "m"), old=_columns(columns, "t"),
                nk=sql.Identifier(natural))).rowcount
    added = conn.execute(sql.SQL("""
        INSERT INTO {t} ({cols}) SELECT {cols} FROM members AS m
        WHERE NOT EXISTS (SELECT FROM {t} AS t WHERE t.{nk} = m.{nk}) ORDER BY m.{nk}
    """).format(t=table, cols=_columns(columns), nk=sql.Identifier(natural))).rowcount
    retired = conn.execute(sql.SQL("""
        UPDATE {t} AS t SET is_current = false
        WHERE t.{sk} <> {unknown} AND t.is_current AND NOT EXISTS (SELECT FROM members AS m WHERE m.{nk} = t.{nk})
    """).format(t=table, sk=sql.Identifier(surrogate), unknown=sql.Literal(UNKNOWN), nk=sql.Identifier(natural))).rowcount
    return {"members_added": added, "members_updated": updated, "members_retired": retired}


def _row_count(conn: Connection, key: list[str]) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_table(key))).fetchone()[0]


@asset(
    key=DATE_KEY,
    group_name=SCHEMA,
    kinds={"postgres"},
    check_specs=[c.spec(DATE_KEY) for c in load_suite(DATE_KEY)],
    metadata=_metadata(DATE_KEY, DATE_COLUMNS),
)
def dim_date(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The date dimension: one row per day from 2010-01-01 to 2030-12-31, keyed yyyymmdd (date_key 20240901),
    with day, month, ISO week, weekday, weekend flag, English school year (September-August, '2024/25'),
    school term and DfE term of birth, and financial year (April-March). date_key -1 is the unknown date, for
    facts whose date is missing or invalid. Terms follow a simple month rule (autumn Sep-Dec, spring Jan-Mar,
    summer Apr-Aug; term of birth as the DfE reports it: spring Jan-Apr, summer May-Aug)."""
    names = list(DATE_COLUMNS)
    days = sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.SQL(_DATE_EXPRESSIONS[n]), sql.Identifier(n)) for n in names)
    unknown = sql.SQL(", ").join(sql.Literal(_UNKNOWN_DATE.get(n)) for n in names)
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        # The key is the date itself, so the upsert can never renumber a day.
        conn.execute(sql.SQL("""
            INSERT INTO conformed.dim_date ({cols})
            SELECT {days} FROM generate_series({first}::date, {last}::date, interval '1 day') AS g (day),
                LATERAL (SELECT g.day::date AS d) AS x,
                LATERAL (SELECT extract(year FROM d)::integer - (extract(month FROM d) < 9)::integer AS school_year,
                                extract(year FROM d)::integer - (extract(month FROM d) < 4)::integer AS fiscal_year) AS y
            UNION ALL SELECT {unknown}
            ON CONFLICT (date_key) DO UPDATE SET ({cols}) = ROW({excluded})
            WHERE ({current}) IS DISTINCT FROM ({excluded})
        """).format(cols=_columns(names), days=days, first=sql.Literal(FIRST_DAY), last=sql.Literal(LAST_DAY),
                    unknown=unknown, excluded=_columns(names, "excluded"), current=_columns(names, "dim_date")))
        rows = _row_count(conn, DATE_KEY)
    return _validated(warehouse, DATE_KEY, {"dagster/row_count": rows, "first_day": str(FIRST_DAY), "last_day": str(LAST_DAY)})


@asset(
    key=GEOGRAPHY_KEY,
    group_name=SCHEMA,
    kinds={"postgres"},
    check_specs=[c.spec(GEOGRAPHY_KEY) for c in load_suite(GEOGRAPHY_KEY)],
    metadata=_metadata(GEOGRAPHY_KEY, GEOGRAPHY_COLUMNS),
)
def dim_geography(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The geography dimension: one row per Greater Manchester LSOA (2011), the 1,673 of the 10 councils, with
    its best-fit ward (2017), council area, Index of Multiple Deprivation 2019 rank, decile and domain deciles,
    and mid-2015 population. Facts point at an LSOA by geography_key; -1 is the unknown area (missing,
    invalid or outside Greater Manchester). Postcode sectors reach it through dim_postcode_sector. Built from
    `reference/gm_lsoa_2011.csv`; keys are kept across rebuilds."""
    from gmoda_assets.lib.geography import lsoas

    columns = [c for c in GEOGRAPHY_COLUMNS if c != "geography_key"]
    frame = lsoas().assign(is_current=True).sort_values("lsoa11cd")[columns]
    rows = frame.astype(object).to_dict("records")  # Python scalars, as COPY needs
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        changes = _upsert_members(conn, GEOGRAPHY_KEY, "geography_key", "lsoa11cd", rows, _UNKNOWN_GEOGRAPHY)
        total = _row_count(conn, GEOGRAPHY_KEY)
    context.log.info(f"dim_geography: {changes}")
    return _validated(warehouse, GEOGRAPHY_KEY, {"dagster/row_count": total, "lsoas": len(rows), **changes})


@asset(
    key=POSTCODE_SECTOR_KEY,
    group_name=SCHEMA,
    deps=[AssetKey(GEOGRAPHY_KEY)],
    kinds={"postgres"},
    check_specs=[c.spec(POSTCODE_SECTOR_KEY) for c in load_suite(POSTCODE_SECTOR_KEY)],
    metadata=_metadata(POSTCODE_SECTOR_KEY, POSTCODE_SECTOR_COLUMNS),
)
def dim_postcode_sector(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Postcode sector to LSOA: one row per sector ('M14 5') and LSOA it overlaps, with the number of the
    sector's postcodes in that LSOA and their share. Join to dim_geography on geography_key for ward and
    council, so a record that only keeps a postcode sector still reaches its areas; weight by share_of_sector
    to spread a sector's counts over LSOAs. Built from the platform's postcode directory
    (`gmoda_assets.lib.geography`). Nothing references this bridge, so it is rebuilt whole."""
    from gmoda_assets.lib.geography import postcode_directory

    pairs = (postcode_directory().groupby(["postcode_sector", "postcode_district", "lsoa11cd"])
             .size().rename("postcodes").reset_index())
    pairs["share_of_sector"] = (pairs.postcodes / pairs.groupby("postcode_sector").postcodes.transform("sum")).round(6)
    columns = ["postcode_sector", "lsoa11cd", "postcode_district", "postcodes", "share_of_sector"]
    buffer = io.StringIO()
    pairs[columns].to_csv(buffer, index=False, header=False)
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE TEMP TABLE sectors ON COMMIT DROP AS SELECT {} FROM conformed.dim_postcode_sector "
                             "WITH NO DATA").format(_columns(columns)))
        with conn.cursor().copy(sql.SQL("COPY sectors ({}) FROM STDIN (FORMAT csv)").format(_columns(columns))) as copy:
            copy.write(buffer.getvalue())
        conn.execute("DELETE FROM conformed.dim_postcode_sector")
        # An LSOA missing from dim_geography leaves geography_key null, which the NOT NULL constraint rejects.
        conn.execute(sql.SQL("""
            INSERT INTO conformed.dim_postcode_sector ({cols}, geography_key)
            SELECT {s_cols}, g.geography_key FROM sectors AS s
            LEFT JOIN conformed.dim_geography AS g ON g.lsoa11cd = s.lsoa11cd
            ORDER BY s.postcode_sector, s.lsoa11cd
        """).format(cols=_columns(columns), s_cols=_columns(columns, "s")))
        total, sectors = conn.execute(
            "SELECT count(*), count(DISTINCT postcode_sector) FROM conformed.dim_postcode_sector").fetchone()
    return _validated(warehouse, POSTCODE_SECTOR_KEY, {"dagster/row_count": total, "postcode_sectors": sectors})


@asset(
    key=PARTNER_KEY,
    group_name=SCHEMA,
    kinds={"postgres"},
    check_specs=[c.spec(PARTNER_KEY) for c in load_suite(PARTNER_KEY)],
    metadata=_metadata(PARTNER_KEY, PARTNER_COLUMNS),
)
def dim_partner(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The partner dimension: one row per organisation that delivers data to GM ODA (the 10 councils, the NHS,
    Greater Manchester Police, Stockport Homes) with its kind, its ONS council code when it is a council, and
    the feeds it delivers under a contract. Facts point at a partner by partner_key; -1 is the unknown partner.
    Built from `contracts/partners.yaml` and the feed contracts; keys are kept across rebuilds, and a partner
    that leaves the list stays with is_current false."""
    feeds: dict[str, list[str]] = {}
    for contract in feed_contracts():
        feeds.setdefault(contract.partner, []).append(contract.feed)
    rows = [
        {"partner_id": p["id"], "partner_name": p["name"], "kind": p["kind"], "council_code": p.get("code"),
         "feeds": ", ".join(sorted(feeds.get(p["id"], []))), "feed_count": len(feeds.get(p["id"], [])), "is_current": True}
        for p in partners().values()
    ]
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        changes = _upsert_members(conn, PARTNER_KEY, "partner_key", "partner_id", rows, _UNKNOWN_PARTNER)
        total = _row_count(conn, PARTNER_KEY)
    context.log.info(f"dim_partner: {changes}")
    return _validated(warehouse, PARTNER_KEY, {"dagster/row_count": total, "partners": len(rows), **changes})


dimension_assets = [dim_date, dim_geography, dim_postcode_sector, dim_partner]
