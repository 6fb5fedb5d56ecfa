"""Conformed facts of the NHS, police and housing feeds: births, health-visiting reviews, police incidents and
social-housing tenancies.

The tables are defined in ``sql/210_conformed_facts_health_police_housing.sql``. Each asset rebuilds its fact
whole from the feed's staging table with one INSERT ... SELECT inside PostgreSQL that looks up the
conformed dimensions' surrogate keys; a missing or unknown date, LSOA or partner gets the dimension's unknown
member, -1, so every row keeps its place under the foreign keys. Nothing references a fact, so its own key is
simply renumbered 1..n in record-key order at each rebuild. The checks are data:
``gmoda_assets/expectations/conformed.<table>.yaml``.
"""

from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    asset,
)
from psycopg import sql

from gmoda_assets.conform.dimensions import DATE_KEY, GEOGRAPHY_KEY, PARTNER_KEY, SCHEMA
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse


@dataclass(frozen=True)
class Column:
    type: str  # as PostgreSQL's format_type() names it, so a test can compare it with the catalog
    description: str  # also the column's COMMENT in the DDL
    expression: str  # over the staging row ``s``, the geography ``g``, the partner ``p`` and dates ``d_<column>``
    sources: tuple[str, ...] = ()  # staging columns it is derived from


@dataclass(frozen=True)
class Fact:
    table: str
    partner: str
    feed: str
    columns: dict[str, Column]  # the first is the fact's own key, filled by its identity
    dates: dict[str, str]  # date key column: the staging expression of its date, looked up in dim_date

    @property
    def key(self) -> list[str]:
        return [SCHEMA, self.table]

    @property
    def staging_key(self) -> list[str]:
        return ["staging", self.partner, self.feed]


def _key(description: str) -> Column:
    return Column("integer", description, "")


def _copied(type_: str, description: str, source: str) -> Column:
    return Column(type_, description, f"s.{source}", (source,))


def _date_key(column: str, description: str, *sources: str) -> Column:
    return Column("integer", description, f"coalesce(d_{column}.date_key, -1)", sources)


RECORD_KEY = _copied("text", "The staging record's key (staging record_key): one row per staged record.", "record_key")
GEOGRAPHY = Column("integer", "LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing "
                              "or outside Greater Manchester.", "coalesce(g.geography_key, -1)", ("lsoa11cd",))
PARTNER = Column("integer", "Partner that delivered the record, in dim_partner.", "coalesce(p.partner_key, -1)")
CHILD_NHS = _copied("text", "Keyed pseudonym of the child's NHS number, the same in every partner's data; null when "
                            "not delivered.", "nhs_number_pseudonym")
# Staging keeps only the year and month of birth, so a birth is dated to the first day of its month.
BIRTH_MONTH = "make_date(s.birth_year, s.birth_month, 1)"
ASQ_DOMAINS = ("asq_communication", "asq_gross_motor", "asq_fine_motor", "asq_problem_solving", "asq_personal_social")

BIRTHS = Fact("fact_births", "nhs", "births", {
    "birth_key": _key("Surrogate key of the birth, renumbered 1..n in record_key order at each nightly rebuild: "
                      "nothing may store it."),
    "record_key": RECORD_KEY,
    "nhs_number_pseudonym": CHILD_NHS,
    "mother_nhs_number_pseudonym": _copied("text", "Keyed pseudonym of the mother's NHS number; null when not "
                                                   "delivered.", "mother_nhs_number_pseudonym"),
    "birth_month_date_key": _date_key("birth_month_date_key", "First day of the month of birth in dim_date (yyyymm01): "
                                      "staging keeps only year and month of birth, never the day; -1 when unknown.",
                                      "birth_year", "birth_month"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "sex": _copied("text", "Sex of the baby: male, female or unknown.", "sex"),
    "birth_weight_grams": _copied("integer", "Weight at birth in grams.", "birth_weight_grams"),
    "gestation_weeks": _copied("integer", "Completed weeks of gestation at birth.", "gestation_weeks"),
    "gestation_band": Column("text", "Gestation band: <32 (very preterm), 32-36 (moderate to late preterm), 37+ (term) "
                                     "or unknown.",
                             "CASE WHEN s.gestation_weeks < 32 THEN '<32' WHEN s.gestation_weeks < 37 THEN '32-36' "
                             "WHEN s.gestation_weeks >= 37 THEN '37+' ELSE 'unknown' END", ("gestation_weeks",)),
    "is_low_birth_weight": Column("boolean", "Born under 2,500 g (the WHO definition of low birth weight); null when "
                                             "the weight is unknown.",
                                  "s.birth_weight_grams < 2500", ("birth_weight_grams",)),
    "ethnicity": _copied("text", "Ethnicity of the baby as recorded by the NHS (codes as in kinds.yaml).", "ethnicity"),
    "mother_age": _copied("integer", "Mother's age in years at the birth.", "mother_age"),
}, {"birth_month_date_key": BIRTH_MONTH})

HV_REVIEWS = Fact("fact_health_visiting_reviews", "nhs", "hv_reviews", {
    "review_key": _key("Surrogate key of the review, renumbered 1..n in record_key order at each nightly rebuild: "
                       "nothing may store it."),
    "record_key": RECORD_KEY,
    "nhs_number_pseudonym": CHILD_NHS,
    "review_type": _copied("text", "Mandated health-visiting review: new_birth, six_eight_week, one_year or two_year.",
                           "review_type"),
    "review_date_key": _date_key("review_date_key", "Date of the review in dim_date; -1 when unknown.", "review_date"),
    "age_at_review_months": Column(
        "integer", "Child's age at the review in calendar months from the month of birth to the month of the review "
                   "(staging keeps no day of birth, so it may be one more than completed months); null when either "
                   "is unknown.",
        "(extract(year FROM s.review_date)::integer - s.birth_year) * 12 "
        "+ extract(month FROM s.review_date)::integer - s.birth_month",
        ("review_date", "birth_year", "birth_month")),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "breastfeeding": _copied("text", "Infant feeding status at the review: exclusive, partial, none or not_recorded.",
                             "breastfeeding"),
    **{d: _copied("integer", f"ASQ-3 {d[4:].replace('_', ' ')} score, 0-60 (two-year review only); null when not done.",
                  d) for d in ASQ_DOMAINS},
    "asq_complete": Column("boolean", "True when all five ASQ-3 domain scores are present, as the two-year review's "
                                      "school-readiness measures need.",
                           " AND ".join(f"s.{d} IS NOT NULL" for d in ASQ_DOMAINS), ASQ_DOMAINS),
}, {"review_date_key": "s.review_date"})

POLICE_INCIDENTS = Fact("fact_police_incidents", "gmp", "incidents", {
    "incident_person_key": _key("Surrogate key of the person's involvement in the incident, renumbered 1..n in "
                                "record_key order at each nightly rebuild: nothing may store it."),
    "record_key": RECORD_KEY,
    "incident_ref_pseudonym": _copied("text", "Keyed pseudonym of the police incident reference (within this feed): "
                                              "the rows of one incident share it.", "incident_ref_pseudonym"),
    "incident_date_key": _date_key("incident_date_key", "Date of the incident in dim_date (the time of day is not "
                                   "kept); -1 when unknown.", "incident_datetime"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "incident_category": _copied("text", "Incident category: domestic_abuse, child_concern, missing_person, "
                                         "antisocial_behaviour or other.", "incident_category"),
    "person_role": _copied("text", "The person's role in the incident: child_present, victim, suspect, witness or "
                                   "reporting_person.", "person_role"),
    "birth_year": _copied("smallint", "The person's year of birth (date of birth is not kept); null when not recorded.",
                          "birth_year"),
}, {"incident_date_key": "s.incident_datetime"})

TENANCIES = Fact("fact_tenancies", "stockport_homes", "tenancies", {
    "tenancy_member_key": _key("Surrogate key of the household member's tenancy row, renumbered 1..n in record_key "
                               "order at each nightly rebuild: nothing may store it."),
    "record_key": RECORD_KEY,
    "tenancy_ref_pseudonym": _copied("text", "Keyed pseudonym of the tenancy reference (within this feed): the members "
                                             "of one tenancy share it.", "tenancy_ref_pseudonym"),
    "person_ref_pseudonym": _copied("text", "Keyed pseudonym of the landlord's person reference (within this feed).",
                                    "person_ref_pseudonym"),
    "uprn_pseudonym": _copied("text", "Keyed pseudonym of the property's UPRN, the same in every partner's data.",
                              "uprn_pseudonym"),
    "tenancy_start_date_key": _date_key("tenancy_start_date_key", "Start of the tenancy in dim_date; -1 when unknown.",
                                        "tenancy_start_date"),
    "tenancy_end_date_key": _date_key("tenancy_end_date_key", "End of the tenancy in dim_date; -1 when it has not ended "
                                      "(is_open) or the date is unknown.", "tenancy_end_date"),
    "is_open": Column("boolean", "True when the landlord delivered no end date: the tenancy is still running.",
                      "s.tenancy_end_date IS NULL", ("tenancy_end_date",)),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "relationship": _copied("text", "The member's relationship to the tenancy: lead_tenant, joint_tenant, partner, "
                                    "child or other.", "relationship"),
    "birth_year": _copied("smallint", "The member's year of birth (date of birth is not kept).", "birth_year"),
    "bedrooms": _copied("integer", "Bedrooms in the property.", "bedrooms"),
    "is_overcrowded": Column("boolean", "The landlord assesses the household as overcrowded (delivered yes/no); null "
                                        "when not recorded.", "s.overcrowded = 'yes'", ("overcrowded",)),
    "rent_arrears_weeks": _copied("numeric", "Rent arrears expressed in weeks of rent.", "rent_arrears_weeks"),
}, {"tenancy_start_date_key": "s.tenancy_start_date", "tenancy_end_date_key": "s.tenancy_end_date"})


def _insert(fact: Fact) -> sql.Composed:
    """The fact's rows from its staging table, with the dimensions' keys looked up by LEFT JOIN (unknown -> -1)."""
    own, *columns = fact.columns
    dates = sql.SQL(" ").join(
        sql.SQL("LEFT JOIN conformed.dim_date AS {} ON {}.date = {}").format(
            sql.Identifier(f"d_{c}"), sql.Identifier(f"d_{c}"), sql.SQL(expression))
        for c, expression in fact.dates.items())
    return sql.SQL("""
        INSERT INTO {fact} ({columns})
        SELECT {expressions} FROM {staging} AS s
        LEFT JOIN conformed.dim_geography AS g ON g.lsoa11cd = s.lsoa11cd
        LEFT JOIN conformed.dim_partner AS p ON p.partner_id = {partner}
        {dates}
        ORDER BY s.record_key
    """).format(
        fact=sql.Identifier(*fact.key), columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        expressions=sql.SQL(", ").join(sql.SQL(fact.columns[c].expression) for c in columns),
        staging=sql.Identifier("staging", f"{fact.partner}__{fact.feed}"), partner=sql.Literal(fact.partner), dates=dates)


def _asset_args(fact: Fact) -> dict:
    lineage = TableColumnLineage(deps_by_column={
        name: [TableColumnDep(asset_key=AssetKey(fact.staging_key), column_name=s) for s in column.sources]
        for name, column in fact.columns.items() if column.sources
    })
    return {
        "key": fact.key,
        "group_name": SCHEMA,
        "deps": [AssetKey(fact.staging_key), AssetKey(DATE_KEY), AssetKey(GEOGRAPHY_KEY), AssetKey(PARTNER_KEY)],
        "kinds": {"postgres"},
        "check_specs": [c.spec(fact.key) for c in load_suite(fact.key)],
        "metadata": {
            "dagster/table_name": ".".join(fact.key),
            "dagster/column_schema": TableSchema(columns=[TableColumn(n, c.type, description=c.description)
                                                          for n, c in fact.columns.items()]),
            "dagster/column_lineage": lineage,
        },
    }


def _rebuild(fact: Fact, warehouse: Warehouse) -> MaterializeResult:
    """Replace the fact's rows in one transaction, then run its suite against the whole table."""
    table = sql.Identifier(*fact.key)
    counts = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {} = -1)").format(sql.Identifier(c))
                                for c in ["geography_key", *fact.dates])
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        # TRUNCATE, unlike DELETE, restarts the identity, so a rebuild numbers the same rows the same way.
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(table))
        conn.execute(_insert(fact))
        rows, *unknown = conn.execute(sql.SQL("SELECT count(*), {} FROM {}").format(counts, table)).fetchone()
    results = validate_in_postgres(warehouse.sqlalchemy_url, f"SELECT * FROM {'.'.join(fact.key)}", load_suite(fact.key),
                                   fact.key)
    return MaterializeResult(
        # Rows whose area or date is unknown (-1); an open tenancy's end date counts too.
        metadata={"dagster/row_count": rows, **{f"rows_unknown_{c.removesuffix('_key')}": n
                                                 for c, n in zip(["geography_key", *fact.dates], unknown)}},
        check_results=results)


@asset(**_asset_args(BIRTHS))
def fact_births(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Births: one row per live birth to a Greater Manchester resident from the NHS child health records, with
    the child's and mother's NHS-number pseudonyms (to link to later services), month of birth (first day of
    the month: the day of birth is not kept), LSOA of residence at birth, sex, birth weight with a low-birth-
    weight flag (< 2,500 g), gestation in weeks and band (<32, 32-36, 37+), ethnicity and mother's age. Built
    whole from `staging.nhs__births` each run; unknown month or area -> -1."""
    return _rebuild(BIRTHS, warehouse)


@asset(**_asset_args(HV_REVIEWS))
def fact_health_visiting_reviews(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Health-visiting reviews: one row per mandated review contact (new birth, 6-8 week, one year, two year)
    from the NHS, with the child's NHS-number pseudonym, review date, age at review in months, infant feeding,
    the five ASQ-3 domain scores (0-60; two-year review) and whether all five are present, and the LSOA of
    residence. Built whole from `staging.nhs__hv_reviews` each run; unknown date or area -> -1."""
    return _rebuild(HV_REVIEWS, warehouse)


@asset(**_asset_args(POLICE_INCIDENTS))
def fact_police_incidents(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Police incidents involving households with children: one row per person per incident from Greater
    Manchester Police, with the incident reference pseudonym (shared by the incident's rows), date, category
    (domestic abuse, child concern, ...), the person's role and year of birth, and the LSOA of the address.
    Names and addresses never reach this layer. Built whole from `staging.gmp__incidents` each run; unknown
    date or area -> -1."""
    return _rebuild(POLICE_INCIDENTS, warehouse)


@asset(**_asset_args(TENANCIES))
def fact_tenancies(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Social-housing tenancies (Stockport Homes): one row per household member of a tenancy, with tenancy,
    person and property (UPRN) pseudonyms, start and end dates (end -1 while the tenancy is open), the
    member's relationship and year of birth, bedrooms, overcrowding and rent arrears in weeks, and the LSOA of
    the property. Built whole from `staging.stockport_homes__tenancies` each run; unknown date or area -> -1."""
    return _rebuild(TENANCIES, warehouse)


FACTS = [BIRTHS, HV_REVIEWS, POLICE_INCIDENTS, TENANCIES]
fact_assets_hpp = [fact_births, fact_health_visiting_reviews, fact_police_incidents, fact_tenancies]
