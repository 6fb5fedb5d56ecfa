"""Conformed dimensions: date, geography (LSOA, with a postcode-sector bridge) and partner, one spec each.

The tables are created by ``sql/200_conformed_dimensions.sql`` and filled from reference data shipped in the
package. Facts hold the dimensions' surrogate keys under foreign keys, so a build never renumbers (see
``StableKeys``): dim_date's key is the date itself (yyyymmdd); dim_geography and dim_partner keep each
member's key by natural key. The checks are data: ``gmoda_assets/expectations/conformed.<table>.yaml``.
"""

from datetime import date

from psycopg import sql

from gmoda_assets.lib.contracts import feed_contracts, partners
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Lookup, Query, Rows, StableKeys, TableSpec

SCHEMA = "conformed"
FIRST_DAY, LAST_DAY = date(2010, 1, 1), date(2030, 12, 31)
IS_CURRENT = "False once the {} has left {}; the row stays because facts may point at it."


def _current(member: str, source: str) -> Column:
    """A member listed by the source is current; the build retires one that is no longer listed."""
    return Column("boolean", IS_CURRENT.format(member, source), "true")


# dim_date's source: each day ``d`` with the first calendar year of its school year and financial year.
_DAYS = sql.SQL("""
    SELECT g.day::date AS d,
           extract(year FROM g.day)::integer - (extract(month FROM g.day) < 9)::integer AS school_year,
           extract(year FROM g.day)::integer - (extract(month FROM g.day) < 4)::integer AS fiscal_year
    FROM generate_series({}::date, {}::date, interval '1 day') AS g (day)
""").format(sql.Literal(FIRST_DAY), sql.Literal(LAST_DAY))

DATE = TableSpec(SCHEMA, "dim_date", (
    "The date dimension: one row per day from 2010-01-01 to 2030-12-31, keyed yyyymmdd (date_key 20240901), with "
    "day, month, ISO week, weekday, weekend flag, English school year (September-August, '2024/25'), school term "
    "and DfE term of birth, and financial year (April-March). date_key -1 is the unknown date, for facts whose "
    "date is missing or invalid. Terms follow a simple month rule (autumn Sep-Dec, spring Jan-Mar, summer "
    "Apr-Aug; term of birth as the DfE reports it: spring Jan-Apr, summer May-Aug)."), {
    "date_key": Column("integer", "Surrogate key: the date as the integer yyyymmdd (20240901); -1 for an unknown or "
                                  "invalid date.", "to_char(s.d, 'YYYYMMDD')::integer"),
    "date": Column("date", "The calendar date; null for the unknown date.", "s.d"),
    "day": Column("smallint", "Day of the month, 1-31.", "extract(day FROM s.d)"),
    "month": Column("smallint", "Month number, 1 (January) to 12 (December).", "extract(month FROM s.d)"),
    "month_name": Column("text", "Month name in English, e.g. September.", "to_char(s.d, 'FMMonth')"),
    "year": Column("smallint", "Calendar year.", "extract(year FROM s.d)"),
    "iso_year": Column("smallint", "ISO 8601 week-numbering year (differs from year in the first and last days of "
                                   "some years).", "extract(isoyear FROM s.d)"),
    "iso_week": Column("smallint", "ISO 8601 week number, 1-53; weeks start on Monday.", "extract(week FROM s.d)"),
    "weekday_number": Column("smallint", "ISO day of the week: 1 = Monday ... 7 = Sunday.",
                             "extract(isodow FROM s.d)"),
    "weekday_name": Column("text", "Day of the week in English, e.g. Monday.", "to_char(s.d, 'FMDay')"),
    "is_weekend": Column("boolean", "True on Saturdays and Sundays.", "extract(isodow FROM s.d) >= 6"),
    "academic_year": Column("text", "English school year, 1 September to 31 August, e.g. 2024/25.",
                            "s.school_year || '/' || to_char((s.school_year + 1) % 100, 'FM00')"),
    "school_term": Column("text", "School term by month: autumn (Sep-Dec), spring (Jan-Mar), summer (Apr-Aug). A "
                                  "simple month rule: Easter and half terms are ignored and August counts as summer.",
                          "CASE WHEN extract(month FROM s.d) >= 9 THEN 'autumn' WHEN extract(month FROM s.d) <= 3 "
                          "THEN 'spring' ELSE 'summer' END"),
    "birth_term": Column("text", "Term of birth as the DfE reports EYFSP results: autumn-born (Sep-Dec), spring-born "
                                 "(Jan-Apr), summer-born (May-Aug).",
                         "CASE WHEN extract(month FROM s.d) >= 9 THEN 'autumn' WHEN extract(month FROM s.d) <= 4 "
                         "THEN 'spring' ELSE 'summer' END"),
    "financial_year": Column("text", "UK public-sector financial year, 1 April to 31 March, e.g. 2024/25.",
                             "s.fiscal_year || '/' || to_char((s.fiscal_year + 1) % 100, 'FM00')"),
}, Query(_DAYS), StableKeys("date_key", "date_key", {
    "month_name": "Unknown", "weekday_name": "Unknown", "academic_year": "unknown", "school_term": "unknown",
    "birth_term": "unknown", "financial_year": "unknown"}),
    metrics={"first_day": "min(date)::text", "last_day": "max(date)::text"})


def _lsoas():
    from gmoda_assets.lib.geography import lsoas

    return lsoas()


GEOGRAPHY = TableSpec(SCHEMA, "dim_geography", (
    "The geography dimension: one row per Greater Manchester LSOA (2011), the 1,673 of the 10 councils, with its "
    "best-fit ward (2017), council area, Index of Multiple Deprivation 2019 rank, decile and domain deciles, and "
    "mid-2015 population. Facts point at an LSOA by geography_key; -1 is the unknown area (missing, invalid or "
    "outside Greater Manchester). Postcode sectors reach it through dim_postcode_sector. Built from "
    "`reference/gm_lsoa_2011.csv`; keys are kept across rebuilds."), {
    "geography_key": Column("integer", "Surrogate key, stable across rebuilds; -1 for an unknown, missing or "
                                       "out-of-area location."),
    "lsoa11cd": Column("text", "Lower-layer Super Output Area code (2011), e.g. E01004766; 'unknown' for the unknown "
                               "area."),
    "lsoa11nm": Column("text", "LSOA name, e.g. Bolton 005A."),
    "ward17cd": Column("text", "Electoral ward (2017) the LSOA best fits, ONS code."),
    "ward17nm": Column("text", "Electoral ward (2017) name."),
    "lad19cd": Column("text", "Council area (local authority district, 2019) ONS code, E08000001 Bolton ... "
                              "E08000010 Wigan."),
    "lad19nm": Column("text", "Council area name."),
    "imd19_rank": Column("integer", "Index of Multiple Deprivation 2019 rank among the 32,844 LSOAs of England (1 = "
                                    "most deprived)."),
    "imd19_decile": Column("smallint", "IMD 2019 decile in England: 1 = most deprived 10%, 10 = least deprived."),
    "income19_decile": Column("smallint", "IMD 2019 income domain decile (1 = most deprived)."),
    "education19_decile": Column("smallint", "IMD 2019 education, skills and training domain decile (1 = most "
                                             "deprived)."),
    "health19_decile": Column("smallint", "IMD 2019 health deprivation and disability domain decile (1 = most "
                                          "deprived)."),
    "crime19_decile": Column("smallint", "IMD 2019 crime domain decile (1 = most deprived)."),
    "living_env19_decile": Column("smallint", "IMD 2019 living environment domain decile (1 = most deprived)."),
    "population_mid2015": Column("integer", "Resident population, mid-2015 estimate (the IMD 2019 denominator)."),
    "children_0_15_mid2015": Column("integer", "Children aged 0-15, mid-2015 estimate."),
    "is_current": _current("area", "the reference data"),
}, Rows(_lsoas), StableKeys("geography_key", "lsoa11cd", {
    "lsoa11cd": "unknown", "lsoa11nm": "Unknown", "ward17nm": "Unknown", "lad19nm": "Unknown", "is_current": True}),
    metrics={"lsoas": "count(*) FILTER (WHERE is_current AND geography_key <> -1)"})


def _postcode_sectors():
    """Each postcode sector and LSOA it overlaps, with the number of the sector's postcodes there and their share."""
    from gmoda_assets.lib.geography import postcode_directory

    pairs = (postcode_directory().groupby(["postcode_sector", "postcode_district", "lsoa11cd"])
             .size().rename("postcodes").reset_index())
    pairs["share_of_sector"] = (pairs.postcodes / pairs.groupby("postcode_sector").postcodes.transform("sum")).round(6)
    return pairs


POSTCODE_SECTOR = TableSpec(SCHEMA, "dim_postcode_sector", (
    "Postcode sector to LSOA: one row per sector ('M14 5') and LSOA it overlaps, with the number of the sector's "
    "postcodes in that LSOA and their share. Join to dim_geography on geography_key for ward and council, so a "
    "record that only keeps a postcode sector still reaches its areas; weight by share_of_sector to spread a "
    "sector's counts over LSOAs. Built from the platform's postcode directory (`gmoda_assets.lib.geography`). "
    "Nothing references this bridge, so it is rebuilt whole."), {
    "postcode_sector": Column("text", "Postcode sector: district, space and the first digit of the inward code, "
                                      "e.g. M14 5."),
    # An LSOA missing from dim_geography leaves geography_key null, which the NOT NULL constraint refuses.
    "geography_key": Column("integer", "The LSOA in dim_geography (foreign key).", sources=("lsoa11cd",),
                            lookup=Lookup("conformed.dim_geography", "lsoa11cd", "s.lsoa11cd", "geography_key",
                                          unknown=None)),
    "lsoa11cd": Column("text", "The LSOA code (2011), as in dim_geography, for readability."),
    "postcode_district": Column("text", "Postcode district (outward code), e.g. M14."),
    "postcodes": Column("integer", "Unit postcodes of the sector that lie in the LSOA."),
    "share_of_sector": Column("numeric", "postcodes / all postcodes of the sector; the shares of a sector add up "
                                         "to 1."),
}, Rows(_postcode_sectors), metrics={"postcode_sectors": "count(DISTINCT postcode_sector)"})


def _partners():
    """Each partner in partners.yaml, with the feeds it delivers under a contract."""
    import pandas as pd

    feeds: dict[str, list[str]] = {}
    for contract in feed_contracts():
        feeds.setdefault(contract.partner, []).append(contract.feed)
    return pd.DataFrame([
        {"partner_id": p["id"], "partner_name": p["name"], "kind": p["kind"], "council_code": p.get("code"),
         "feeds": ", ".join(sorted(feeds.get(p["id"], []))), "feed_count": len(feeds.get(p["id"], []))}
        for p in partners().values()])


PARTNER = TableSpec(SCHEMA, "dim_partner", (
    "The partner dimension: one row per organisation that delivers data to GM ODA (the 10 councils, the NHS, "
    "Greater Manchester Police, Stockport Homes) with its kind, its ONS council code when it is a council, and the "
    "feeds it delivers under a contract. Facts point at a partner by partner_key; -1 is the unknown partner. Built "
    "from `contracts/partners.yaml` and the feed contracts; keys are kept across rebuilds, and a partner that "
    "leaves the list stays with is_current false."), {
    "partner_key": Column("integer", "Surrogate key, stable across rebuilds; -1 for an unknown partner."),
    "partner_id": Column("text", "Partner id as in partners.yaml and the landing-zone folder, e.g. stockport; "
                                 "'unknown' for the unknown partner."),
    "partner_name": Column("text", "Organisation name, e.g. Stockport Council."),
    "kind": Column("text", "Kind of organisation: council, health, police or housing."),
    "council_code": Column("text", "ONS code of the council area (E08000001 ... E08000010) when the partner is a "
                                   "council; null otherwise."),
    "feeds": Column("text", "Feeds the partner delivers under a contract, comma-separated, e.g. eyfsp, "
                            "funded_early_education, social_care."),
    "feed_count": Column("integer", "Number of contracted feeds."),
    "is_current": _current("partner", "partners.yaml"),
}, Rows(_partners, checked_against=((SCHEMA, "dim_geography"),)), StableKeys("partner_key", "partner_id", {
    "partner_id": "unknown", "partner_name": "Unknown", "kind": "unknown", "feeds": "", "feed_count": 0,
    "is_current": True}),
    metrics={"partners": "count(*) FILTER (WHERE is_current AND partner_key <> -1)"})

SPECS = [DATE, GEOGRAPHY, POSTCODE_SECTOR, PARTNER]
dimension_assets = [table_asset(s) for s in SPECS]
