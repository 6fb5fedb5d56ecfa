"""Early-years outcome marts: Good Level of Development (GLD) at the end of Reception, by council, academic
year and sex, from the conformed EYFSP fact, with small cells suppressed and counts rounded
(``gmoda_assets/lib/disclosure.py``)."""

from collections import defaultdict

from dagster import AssetExecutionContext

from gmoda_assets.lib.disclosure import protect_rates, rules
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec

SEXES = ("female", "male")
ALL = "all"
RULE = rules()
SUPPRESSED = "null: suppressed"
ROUNDED = f"rounded to the nearest {RULE.rounding_base}"
FACT = ("conformed", "fact_early_years_outcomes")
PARTNER = ("conformed", "dim_partner")

# Children with a recorded outcome and sex, per council, year and sex; a well-formed year only (staging keeps
# the year as delivered).
_COUNTS = """
    SELECT p.council_code, p.partner_name, f.academic_year, f.sex, count(*), count(*) FILTER (WHERE f.gld)
    FROM conformed.fact_early_years_outcomes AS f JOIN conformed.dim_partner AS p USING (partner_key)
    WHERE p.council_code IS NOT NULL AND f.gld IS NOT NULL AND f.sex = ANY(%s)
      AND f.academic_year ~ '^[0-9]{4}/[0-9]{2}$'
    GROUP BY 1, 2, 3, 4
"""


def _gld_by_council(context: AssetExecutionContext, conn) -> tuple[list[tuple], dict]:
    """The published rows: each council and year's cells counted, then protected as one additive group."""
    groups: dict[tuple[str, str, str], dict[str, tuple[int, int]]] = defaultdict(
        lambda: {sex: (0, 0) for sex in SEXES})  # a sex with no child is a cell of 0, suppressed like any small one
    for code, name, year, sex, children, gld in conn.execute(_COUNTS, (list(SEXES),)):
        groups[code, name, year][sex] = (children, gld)
    rows, hidden = [], 0
    for (code, name, year), cells in sorted(groups.items()):
        cells[ALL] = (sum(n for n, _ in cells.values()), sum(m for _, m in cells.values()))
        for sex, published in protect_rates(cells, RULE).items():
            rows.append((code, name, year, sex, *published))
            hidden += sum(v is None for v in published[:2])
    context.log.info(f"{len(rows)} rows, {hidden} counts suppressed")
    return rows, {"councils": len({g[0] for g in groups}), "counts_suppressed": hidden,
                  "min_count": RULE.min_count, "rounding_base": RULE.rounding_base}


GLD_BY_COUNCIL = TableSpec(
    "mart", "eyfsp_gld_by_council",
    "Good Level of Development (GLD) at the end of Reception, for Tableau and R: one row per council, academic "
    "year and sex (female, male and all), with the children assessed, the children reaching a GLD and the "
    "percentage, from conformed.fact_early_years_outcomes. Safe to publish: counts below "
    f"{RULE.min_count} (a GLD count also when its complement is below it) are suppressed (null), and so is a "
    "second cell of the same council and year wherever one alone would let the first be worked out from the "
    f"total; counts are {ROUNDED}. The rules are configuration: gmoda_assets/governance/disclosure.yaml. "
    "Purpose: statistics, under data-sharing agreement GMODA-DSA-001.",
    {
        "council_code": Column("text", "ONS code of the council that assessed the children, E08000001 Bolton ... "
                                       "E08000010 Wigan."),
        "council_name": Column("text", "Name of the council, e.g. Stockport Council."),
        "academic_year": Column("text", "Academic year of the assessment at the end of Reception, e.g. 2024/25."),
        "sex": Column("text", "female, male, or all (female and male together; children whose sex is recorded as "
                              "neither are in no row, so a row of all is the sum of its female and male rows)."),
        "children_assessed": Column("integer", f"Children with a recorded GLD outcome, {ROUNDED}; {SUPPRESSED} "
                                               f"(fewer than {RULE.min_count}, or hidden so that such a cell cannot be "
                                               "worked out from the other rows of its council and year)."),
        "children_gld": Column("integer", "Of them, children who reached a Good Level of Development, "
                                          f"{ROUNDED}; {SUPPRESSED} (fewer than {RULE.min_count} did or did not, its "
                                          "count of children is suppressed, or hidden to protect such a cell)."),
        "gld_percent": Column("numeric", "Percentage reaching a Good Level of Development, from the unrounded "
                                         f"counts, to {RULE.rate_decimals} decimal places; null whenever children_gld "
                                         "is."),
    },
    Computed(_gld_by_council, assets=(FACT, PARTNER), column_lineage={
        "council_code": ((PARTNER, "council_code"),),
        "council_name": ((PARTNER, "partner_name"),),
        **{c: ((FACT, c),) for c in ("academic_year", "sex")},
        **{c: ((FACT, "gld"), (FACT, "sex")) for c in ("children_assessed", "children_gld", "gld_percent")},
    }),
    purpose="statistics",
)

eyfsp_gld_by_council = table_asset(GLD_BY_COUNCIL)
SPECS = [GLD_BY_COUNCIL]
mart_assets = [eyfsp_gld_by_council]
