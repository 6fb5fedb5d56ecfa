"""The real children the synthetic ones are made from: one row per child assessed at the end of Reception, from
the feeds whose agreements permit synthetic data only (EYFSP, NHS births and health visiting; agreements
GMODA-DSA-001 and -002).

The linked layer's person keys cannot be used here: the linkage that makes them reads every feed, social care,
police and housing included, which the agreements do not permit for synthetic data, and the code location
refuses to load a product that depends on it. So children are joined within the permitted feeds by the one
identifier they share, the pseudonym of the NHS number: a council's EYFSP record gets the child's birth record
(birth weight, gestation) and two-year health-visiting review (ASQ-3 scores) where the council delivers NHS
numbers, and has them missing where it does not (the synthesis keeps that pattern council by council). Funded
early education shares no identifier with either, so a funded two-year-old place cannot be joined at all.

Ward and deprivation are those of the child's home LSOA (``conformed.dim_geography``, built from reference data
alone); the council is the one that assessed the child. A child assessed twice (a repeated Reception year)
counts once, at the latest assessment.
"""

from __future__ import annotations

from psycopg import Connection, sql

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import FeedContract, feed_contracts

GEOGRAPHY = ("conformed", "dim_geography")
PARTNER = ("conformed", "dim_partner")


def _feeds(kind: str) -> list[FeedContract]:
    return [c for c in feed_contracts() if c.kind == kind]


def source_assets() -> tuple[tuple[str, ...], ...]:
    """The assets the real children are read from."""
    return (*(("staging", c.partner, c.feed) for c in (*_feeds("eyfsp"), *_feeds("births"), *_feeds("hv_reviews"))),
            GEOGRAPHY, PARTNER)


def _union(contracts: list[FeedContract], columns: list[str]) -> sql.Composable:
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, {} AS partner_id FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Literal(c.partner),
            sql.Identifier("staging", staging_table(c)))
        for c in contracts)


ASQ = ["asq_communication", "asq_gross_motor", "asq_fine_motor", "asq_problem_solving", "asq_personal_social"]
EYFSP_COLUMNS = ["record_key", "upn_pseudonym", "nhs_number_pseudonym", "birth_month", "sex", "lsoa11cd", "ward17cd",
                 "academic_year", "gld", "fsm_eligible", "sen_provision", "first_language", "ethnicity"]


def source_query() -> sql.Composed:
    """One row per child assessed, with the columns ``synthetic.yaml`` synthesises."""
    return sql.SQL("""
        WITH assessed AS (
            SELECT DISTINCT ON (coalesce(e.upn_pseudonym, e.record_key)) p.council_code, e.*
            FROM ({eyfsp}) AS e JOIN conformed.dim_partner AS p USING (partner_id)
            ORDER BY coalesce(e.upn_pseudonym, e.record_key), e.academic_year DESC, e.record_key
        ), births AS (
            SELECT DISTINCT ON (nhs_number_pseudonym) nhs_number_pseudonym, birth_weight_grams, gestation_weeks
            FROM ({births}) AS b WHERE nhs_number_pseudonym IS NOT NULL
            ORDER BY nhs_number_pseudonym, record_key
        ), two_year AS (
            SELECT DISTINCT ON (nhs_number_pseudonym) nhs_number_pseudonym, {asq}
            FROM ({reviews}) AS r WHERE nhs_number_pseudonym IS NOT NULL AND review_type = 'two_year'
            ORDER BY nhs_number_pseudonym, review_date DESC NULLS LAST, record_key
        )
        SELECT a.council_code, a.ward17cd, g.imd19_decile AS imd_decile, a.academic_year, a.birth_month, a.sex,
               a.ethnicity, a.first_language, b.birth_weight_grams, b.gestation_weeks, {asq_t},
               (a.fsm_eligible = 'yes') AS fsm_eligible, a.sen_provision, (a.gld = 'yes') AS gld
        FROM assessed AS a
        LEFT JOIN conformed.dim_geography AS g ON g.lsoa11cd = a.lsoa11cd
        LEFT JOIN births AS b ON b.nhs_number_pseudonym = a.nhs_number_pseudonym
        LEFT JOIN two_year AS t ON t.nhs_number_pseudonym = a.nhs_number_pseudonym
        WHERE a.council_code IS NOT NULL
        ORDER BY a.council_code, a.record_key
    """).format(
        eyfsp=_union(_feeds("eyfsp"), EYFSP_COLUMNS),
        births=_union(_feeds("births"), ["record_key", "nhs_number_pseudonym", "birth_weight_grams", "gestation_weeks"]),
        reviews=_union(_feeds("hv_reviews"), ["record_key", "nhs_number_pseudonym", "review_type", "review_date", *ASQ]),
        asq=sql.SQL(", ").join(map(sql.Identifier, ASQ)),
        asq_t=sql.SQL(", ").join(sql.Identifier("t", c) for c in ASQ))


def query_frame(conn: Connection, query: sql.Composable | str):
    """The rows of ``query`` as a pandas DataFrame of Python values (missing: None)."""
    import pandas as pd

    cursor = conn.execute(query)
    return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description], dtype=object)


def real_children(conn: Connection):
    """The real children (held only in the synthesis's memory, never stored)."""
    return query_frame(conn, source_query())
