"""The council side of the conformed layer: the setting dimension and the facts of the councils' early-years
outcomes (EYFSP), funded early education and children's social care.

The tables are defined in ``sql/220_conformed_council.sql``. Each council delivers its feeds in its own
system's format, but staging has already mapped every feed onto its kind's canonical columns, so a fact is
the UNION ALL of the 10 councils' staging tables, built inside PostgreSQL by one INSERT ... SELECT that looks
up the conformed dimensions' surrogate keys; a missing or unknown date, LSOA, setting or partner gets the
dimension's unknown member, -1, so every row keeps its place under the foreign keys. Facts are keyed by the
staging record_key (a pseudonym that already names the council's feed, so it is unique across councils) and
nothing references them, so each is replaced whole in one transaction. dim_setting is referenced by the facts,
so it is upserted on the URN and keeps its keys. The checks are data:
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

from gmoda_assets.conform.dimensions import DATE_KEY, GEOGRAPHY_KEY, PARTNER_KEY, SCHEMA, UNKNOWN, _upsert_members
from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import FeedContract, feed_contracts
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse

SETTING_KEY = [SCHEMA, "dim_setting"]
# Where a URN is reported both as a school (EYFSP) and as an early-years provider (funded early education),
# the school wins: a school's nursery class claims funded hours under the school's own URN.
SETTING_SOURCES = {"eyfsp": ("school_urn", "school"), "funded_early_education": ("setting_urn", "early_years")}
SETTING_COLUMNS = {
    "setting_key": ("integer", "Surrogate key, stable across rebuilds; -1 for an unknown or missing setting."),
    "setting_urn": ("text", "Unique reference number (URN) of the school or early-years provider as the councils "
                            "deliver it; 'unknown' for the unknown setting."),
    "setting_type": ("text", "school when any council assessed a child there for the EYFSP (school_urn), otherwise "
                             "early_years (a funded early education provider, setting_urn); a URN seen as both is a "
                             "school. 'unknown' for the unknown setting."),
    "partner_key": ("integer", "The council (in dim_partner) that reported the setting in the most records across its "
                              "EYFSP and funded early education feeds; ties go to the first council id. -1 for the "
                              "unknown setting."),
    "is_current": ("boolean", "False once no council's current staging data mentions the setting; the row stays "
                              "because facts may point at it."),
}
_UNKNOWN_SETTING = {"setting_urn": "unknown", "setting_type": "unknown", "partner_key": UNKNOWN, "is_current": True}


@dataclass(frozen=True)
class Column:
    type: str  # as PostgreSQL's format_type() names it, so a test can compare it with the catalog
    description: str  # also the column's COMMENT in the DDL
    expression: str  # over the staging row ``s``, geography ``g``, partner ``p``, setting ``st``, dates ``d_<column>``
    sources: tuple[str, ...] = ()  # staging columns it is derived from


@dataclass(frozen=True)
class CouncilFact:
    table: str
    kind: str  # the feed kind every council delivers (kinds.yaml)
    columns: dict[str, Column]
    dates: dict[str, str]  # date key column: the staging expression of its date, looked up in dim_date
    setting_urn: str | None = None  # the staging column looked up in dim_setting

    @property
    def key(self) -> list[str]:
        return [SCHEMA, self.table]

    @property
    def contracts(self) -> list[FeedContract]:
        return [c for c in feed_contracts() if c.kind == self.kind]


def _copied(type_: str, description: str, source: str) -> Column:
    return Column(type_, description, f"s.{source}", (source,))


def _date_key(column: str, description: str, *sources: str) -> Column:
    return Column("integer", description, f"coalesce(d_{column}.date_key, -1)", sources)


def _setting(description: str, source: str) -> Column:
    return Column("integer", description, "coalesce(st.setting_key, -1)", (source,))


def _yes(description: str, source: str) -> Column:
    return Column("boolean", description, f"(s.{source} = 'yes')", (source,))


RECORD_KEY = _copied("text", "The staging record's key (staging record_key), unique across councils: one row per "
                             "staged record.", "record_key")
GEOGRAPHY = Column("integer", "LSOA of the child's home in dim_geography, from the delivered postcode; -1 when it is "
                              "missing or outside Greater Manchester.", "coalesce(g.geography_key, -1)", ("lsoa11cd",))
PARTNER = Column("integer", "The council that delivered the record, in dim_partner.", "coalesce(p.partner_key, -1)")
CHILD_NHS = _copied("text", "Keyed pseudonym of the child's NHS number, the same in every partner's data; null when "
                            "not delivered.", "nhs_number_pseudonym")
SEX = _copied("text", "Sex of the child: male, female or unknown.", "sex")
BIRTH_YEAR = _copied("smallint", "Year of birth (date of birth is not kept).", "birth_year")
BIRTH_MONTH = _copied("smallint", "Month of birth, 1-12 (date of birth is not kept).", "birth_month")
# The first year of an academic year '2024/25', when it is well formed (staging keeps it as delivered text).
ACADEMIC_START = "CASE WHEN s.academic_year ~ '^[0-9]{4}/[0-9]{2}$' THEN left(s.academic_year, 4)::integer END"

EYFSP = CouncilFact("fact_early_years_outcomes", "eyfsp", {
    "record_key": RECORD_KEY,
    "upn_pseudonym": _copied("text", "Keyed pseudonym of the unique pupil number, the same in every council.",
                             "upn_pseudonym"),
    "nhs_number_pseudonym": CHILD_NHS,
    "academic_year": _copied("text", "Academic year of the assessment at the end of Reception, e.g. 2024/25.",
                             "academic_year"),
    "gld": _yes("Reached a Good Level of Development; null when not recorded.", "gld"),
    "fsm_eligible": _yes("Eligible for free school meals; null when not recorded.", "fsm_eligible"),
    "sen_provision": _copied("text", "Special educational needs provision: none, sen_support or ehc_plan.",
                             "sen_provision"),
    "first_language": _copied("text", "First language: english, other or unknown.", "first_language"),
    "ethnicity": _copied("text", "Ethnicity as the school recorded it (codes as in kinds.yaml).", "ethnicity"),
    "sex": SEX,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
    "birth_term": Column("text", "Term of birth as the DfE reports EYFSP results: autumn-born (Sep-Dec), spring-born "
                                 "(Jan-Apr), summer-born (May-Aug) or unknown.",
                         "CASE WHEN s.birth_month >= 9 THEN 'autumn' WHEN s.birth_month >= 5 THEN 'summer' "
                         "WHEN s.birth_month >= 1 THEN 'spring' ELSE 'unknown' END", ("birth_month",)),
    "age_months_at_year_end": Column(
        "integer", "Age in completed months on 31 August at the end of the assessment year (60-71 for a child in "
                   "the right year group), whatever the day of birth; null when the year or birth is unknown.",
        f"({ACADEMIC_START} + 1 - s.birth_year) * 12 + 8 - s.birth_month",
        ("academic_year", "birth_year", "birth_month")),
    "setting_key": _setting("The school where the child was assessed, in dim_setting; -1 when no URN was "
                           "delivered.", "school_urn"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
}, {}, setting_urn="school_urn")

FUNDED = CouncilFact("fact_funded_early_education", "funded_early_education", {
    "record_key": RECORD_KEY,
    "child_ref_pseudonym": _copied("text", "Keyed pseudonym of the council's child reference (within the council's "
                                           "feed): one child's terms share it.", "child_ref_pseudonym"),
    "term": _copied("text", "Term of the claim: autumn, spring or summer.", "term"),
    "term_year": _copied("integer", "Calendar year in which the term starts.", "term_year"),
    "funding_stream": _copied("text", "Entitlement claimed: two_year_disadvantaged, universal_15 (3-4 year olds) or "
                                      "extended_30 (working parents).", "funding_stream"),
    "hours_per_week": _copied("numeric", "Funded hours per week claimed.", "hours_per_week"),
    "start_date_key": _date_key("start_date_key", "Start of the funded place in dim_date; -1 when unknown.",
                                "start_date"),
    "age_months_at_start": Column(
        "integer", "Child's age at the start date in calendar months from the month of birth (staging keeps no "
                   "day of birth, so it may be one more than completed months); null when either is unknown.",
        "(extract(year FROM s.start_date)::integer - s.birth_year) * 12 "
        "+ extract(month FROM s.start_date)::integer - s.birth_month",
        ("start_date", "birth_year", "birth_month")),
    "setting_key": _setting("The early-years provider (or school) in dim_setting; -1 when no URN was "
                           "delivered.", "setting_urn"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
}, {"start_date_key": "s.start_date"}, setting_urn="setting_urn")

SOCIAL_CARE = CouncilFact("fact_social_care_episodes", "social_care", {
    "record_key": RECORD_KEY,
    "person_id_pseudonym": _copied("text", "Keyed pseudonym of the council's person id (within the council's feed): "
                                           "one child's episodes share it.", "person_id_pseudonym"),
    "episode_id_pseudonym": _copied("text", "Keyed pseudonym of the council's episode id (within the council's feed).",
                                    "episode_id_pseudonym"),
    "nhs_number_pseudonym": CHILD_NHS,
    "episode_type": _copied("text", "Episode type: early_help, child_in_need, child_protection or looked_after.",
                            "episode_type"),
    "start_date_key": _date_key("start_date_key", "Start of the episode in dim_date; -1 when unknown.", "start_date"),
    "end_date_key": _date_key("end_date_key", "End of the episode in dim_date; -1 both when the episode is open "
                                              "(is_open) and when the end date is unknown.", "end_date"),
    "is_open": Column("boolean", "True when the council delivered no end date: the episode was open at the extract.",
                      "s.end_date IS NULL", ("end_date",)),
    "duration_days": Column(
        "integer", "Days from start to end; for an open episode, to the day the extract was loaded (so far). Null "
                   "when the start is unknown.",
        "coalesce(s.end_date, s._delivered_at::date) - s.start_date", ("start_date", "end_date", "_delivered_at")),
    "primary_need": _copied("text", "Category of need N1 (abuse or neglect) ... N9 (not a child in need); null when "
                                    "not recorded (usual for early help).", "primary_need"),
    "sex": SEX,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
}, {"start_date_key": "s.start_date", "end_date_key": "s.end_date"})

FACTS = [EYFSP, FUNDED, SOCIAL_CARE]


def _staging_key(contract: FeedContract) -> AssetKey:
    return AssetKey(["staging", contract.partner, contract.feed])


def _union(contracts: list[FeedContract], columns: list[str]) -> sql.Composable:
    """The councils' staging rows of one kind, one after another, each tagged with its council's partner id."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, {} AS partner_id FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Literal(c.partner),
            sql.Identifier("staging", staging_table(c)))
        for c in contracts)


def _metadata(key: list[str], schema: TableSchema, lineage: dict[str, list[TableColumnDep]]) -> dict:
    return {
        "dagster/table_name": ".".join(key),
        "dagster/column_schema": schema,
        "dagster/column_lineage": TableColumnLineage(deps_by_column=lineage),
    }


def _setting_contracts() -> list[FeedContract]:
    return [c for c in feed_contracts() if c.kind in SETTING_SOURCES]


def _settings_seen() -> sql.Composable:
    """(setting_urn, setting_type, partner_key) of every URN in the councils' staging data."""
    seen = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {urn} AS setting_urn, {type} AS setting_type, {partner} AS partner_id FROM {table} "
                "WHERE {urn} IS NOT NULL").format(
            urn=sql.Identifier(SETTING_SOURCES[c.kind][0]), type=sql.Literal(SETTING_SOURCES[c.kind][1]),
            partner=sql.Literal(c.partner), table=sql.Identifier("staging", staging_table(c)))
        for c in _setting_contracts())
    return sql.SQL("""
        WITH seen AS ({seen}),
        typed AS (SELECT setting_urn, CASE WHEN bool_or(setting_type = 'school') THEN 'school' ELSE 'early_years' END
                  AS setting_type FROM seen GROUP BY setting_urn),
        reporter AS (SELECT DISTINCT ON (setting_urn) setting_urn, partner_id FROM seen
                     GROUP BY setting_urn, partner_id ORDER BY setting_urn, count(*) DESC, partner_id)
        SELECT t.setting_urn, t.setting_type, coalesce(p.partner_key, -1) AS partner_key, true AS is_current
        FROM typed AS t JOIN reporter AS r USING (setting_urn)
        LEFT JOIN conformed.dim_partner AS p USING (partner_id)
        ORDER BY t.setting_urn
    """).format(seen=seen)


@asset(
    key=SETTING_KEY,
    group_name=SCHEMA,
    deps=[*(_staging_key(c) for c in _setting_contracts()), AssetKey(PARTNER_KEY)],
    kinds={"postgres"},
    check_specs=[c.spec(SETTING_KEY) for c in load_suite(SETTING_KEY)],
    metadata=_metadata(
        SETTING_KEY,
        TableSchema(columns=[TableColumn(n, t, description=d) for n, (t, d) in SETTING_COLUMNS.items()]),
        {"setting_urn": [TableColumnDep(asset_key=_staging_key(c), column_name=SETTING_SOURCES[c.kind][0])
                         for c in _setting_contracts()]}),
)
def dim_setting(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The setting dimension: one row per school or early-years provider the councils' data mentions, by URN:
    schools where children were assessed for the EYFSP (school_urn) and providers of funded early education
    (setting_urn). A URN seen as both is a school (a school's nursery class claims funded hours under the
    school's URN). Each setting belongs to the council that reported it in the most records. Facts point at a
    setting by setting_key; -1 is the unknown setting. Keys are kept across rebuilds (upsert on the URN), and
    a setting no longer in any council's data stays with is_current false."""
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        cursor = conn.execute(_settings_seen())
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        if rows:
            changes = _upsert_members(conn, SETTING_KEY, "setting_key", "setting_urn", rows, _UNKNOWN_SETTING)
        else:
            # No council data yet: only the unknown member, which the facts' -1 needs.
            conn.execute(sql.SQL("INSERT INTO conformed.dim_setting (setting_key, {}) VALUES ({}, {}) "
                                 "ON CONFLICT DO NOTHING").format(
                sql.SQL(", ").join(map(sql.Identifier, _UNKNOWN_SETTING)), sql.Literal(UNKNOWN),
                sql.SQL(", ").join(map(sql.Literal, _UNKNOWN_SETTING.values()))))
            changes = {}
        total, schools = conn.execute("SELECT count(*), count(*) FILTER (WHERE setting_type = 'school' AND "
                                      "is_current) FROM conformed.dim_setting").fetchone()
    context.log.info(f"dim_setting: {changes}")
    results = validate_in_postgres(warehouse.sqlalchemy_url, "SELECT * FROM conformed.dim_setting",
                                   load_suite(SETTING_KEY), SETTING_KEY)
    return MaterializeResult(metadata={"dagster/row_count": total, "settings": len(rows), "schools": schools,
                                       **changes}, check_results=results)


def _insert(fact: CouncilFact) -> sql.Composed:
    """The fact's rows from the councils' staging tables, with the dimensions' keys looked up by LEFT JOIN
    (unknown -> -1)."""
    needed = sorted({s for c in fact.columns.values() for s in c.sources}
                    | {"lsoa11cd"} | ({fact.setting_urn} if fact.setting_urn else set()))
    dates = sql.SQL(" ").join(
        sql.SQL("LEFT JOIN conformed.dim_date AS {} ON {}.date = {}").format(
            sql.Identifier(f"d_{c}"), sql.Identifier(f"d_{c}"), sql.SQL(expression))
        for c, expression in fact.dates.items())
    setting = (sql.SQL("LEFT JOIN conformed.dim_setting AS st ON st.setting_urn = s.{}").format(
        sql.Identifier(fact.setting_urn)) if fact.setting_urn else sql.SQL(""))
    return sql.SQL("""
        INSERT INTO {fact} ({columns})
        SELECT {expressions} FROM ({union}) AS s
        LEFT JOIN conformed.dim_geography AS g ON g.lsoa11cd = s.lsoa11cd
        LEFT JOIN conformed.dim_partner AS p ON p.partner_id = s.partner_id
        {setting} {dates}
        ORDER BY s.record_key
    """).format(
        fact=sql.Identifier(*fact.key), columns=sql.SQL(", ").join(map(sql.Identifier, fact.columns)),
        expressions=sql.SQL(", ").join(sql.SQL(c.expression) for c in fact.columns.values()),
        union=_union(fact.contracts, needed), setting=setting, dates=dates)


def _asset_args(fact: CouncilFact) -> dict:
    lineage = {
        name: [TableColumnDep(asset_key=_staging_key(contract), column_name=s)
               for contract in fact.contracts for s in column.sources]
        for name, column in fact.columns.items() if column.sources
    }
    dimensions = [DATE_KEY, GEOGRAPHY_KEY, PARTNER_KEY, *([SETTING_KEY] if fact.setting_urn else [])]
    schema = TableSchema(columns=[TableColumn(n, c.type, description=c.description) for n, c in fact.columns.items()])
    return {
        "key": fact.key,
        "group_name": SCHEMA,
        "deps": [*(_staging_key(c) for c in fact.contracts), *map(AssetKey, dimensions)],
        "kinds": {"postgres"},
        "check_specs": [c.spec(fact.key) for c in load_suite(fact.key)],
        "metadata": _metadata(fact.key, schema, lineage),
    }


def _rebuild(fact: CouncilFact, warehouse: Warehouse) -> MaterializeResult:
    """Replace the fact's rows in one transaction, then run its suite against the whole table."""
    table = sql.Identifier(*fact.key)
    unknown = ["geography_key", *(["setting_key"] if fact.setting_urn else []), *fact.dates]
    counts = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {} = -1)").format(sql.Identifier(c)) for c in unknown)
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
        conn.execute(_insert(fact))
        rows, *unknowns = conn.execute(sql.SQL("SELECT count(*), {} FROM {}").format(counts, table)).fetchone()
        councils = conn.execute(sql.SQL("SELECT count(DISTINCT partner_key) FROM {}").format(table)).fetchone()[0]
    results = validate_in_postgres(warehouse.sqlalchemy_url, f"SELECT * FROM {'.'.join(fact.key)}",
                                   load_suite(fact.key), fact.key)
    return MaterializeResult(
        # Rows whose area, setting or date is unknown (-1); an open episode's end date counts too.
        metadata={"dagster/row_count": rows, "councils": councils,
                  **{f"rows_unknown_{c.removesuffix('_key')}": n for c, n in zip(unknown, unknowns)}},
        check_results=results)


@asset(**_asset_args(EYFSP))
def fact_early_years_outcomes(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Early-years outcomes: one row per child assessed in the Early Years Foundation Stage Profile at the end
    of Reception, from all 10 councils, with the child's UPN and NHS-number pseudonyms (to link to births and
    health visiting), academic year, Good Level of Development, free school meals, SEN provision, first
    language, ethnicity, sex, year, month and term of birth, age in months on 31 August of the assessment
    year, the school (dim_setting), the home LSOA and the council. Built whole from the councils'
    `staging.<council>__eyfsp` each run; unknown school or area -> -1. A non-blocking check compares each
    council's children assessed with the NHS births to its residents in the matching birth cohort."""
    return _rebuild(EYFSP, warehouse)


@asset(**_asset_args(FUNDED))
def fact_funded_early_education(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Funded early education: one row per child per term per funding stream claimed (two-year-old
    disadvantaged, universal 15 hours, extended 30 hours), from all 10 councils, with the council's child
    reference pseudonym, term and year, hours per week, start date, age at start in months, the provider
    (dim_setting), the home LSOA and the council. Built whole from the councils'
    `staging.<council>__funded_early_education` each run; unknown date, provider or area -> -1."""
    return _rebuild(FUNDED, warehouse)


@asset(**_asset_args(SOCIAL_CARE))
def fact_social_care_episodes(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Children's social care episodes: one row per episode (early help, child in need, child protection,
    looked after) from all 10 councils, with person, episode and NHS-number pseudonyms, start and end dates
    (end -1 while the episode is open, and when the end date is unknown), an open flag, duration in days (to
    the extract's load date while open), primary need, sex, year and month of birth, the home LSOA and the
    council. Built whole from the councils' `staging.<council>__social_care` each run; unknown date or area
    -> -1."""
    return _rebuild(SOCIAL_CARE, warehouse)


council_assets = [dim_setting, fact_early_years_outcomes, fact_funded_early_education, fact_social_care_episodes]
