"""The synthetic layer's assets: ``synthetic.children`` (with its companion ``synthetic.children_quality``), a
product for the purpose ``synthetic_data``.

Its checks are the suite ``expectations/synthetic.children.yaml`` (the table's own values) and one check per
utility and risk figure (``QUALITY_CHECKS``), each reading its rows of the companion; the risk checks block, so a
candidate that could disclose a real child is never published. Each check shows its figures in its metadata.
"""

from __future__ import annotations

from dagster import AssetExecutionContext, MetadataValue
from psycopg import Connection, sql

from gmoda_assets.lib.publish import copy_rows
from gmoda_assets.lib.quality import CheckDef, expectation
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import CHECK_FIGURES, Column, TableSpec, Written
from gmoda_assets.synthetic.config import synthetic_config
from gmoda_assets.synthetic.source import LINEAGE, real_children, source_assets

KEY = ("synthetic", "children")
CONFIG = synthetic_config()

_CHILD = "A synthetic child's"
CHILDREN_COLUMNS = {
    "synthetic_id": Column("integer", "Number of the synthetic child, 1..n in each release; no real child has it."),
    "council_code": Column("text", "ONS code of the council area the synthetic child belongs to (the council that "
                                   "assessed the real children it was made from), E08000001 Bolton ... E08000010 Wigan."),
    "ward17cd": Column("text", f"{_CHILD} home electoral ward (2017 ONS code) on its EYFSP record; one of the real "
                               "wards of its council's children."),
    "imd_decile": Column("smallint", "Index of Multiple Deprivation 2019 decile of the home LSOA: 1 most deprived, 10 "
                                     "least."),
    "academic_year": Column("text", "Academic year of the assessment at the end of Reception, e.g. 2024/25."),
    "birth_month": Column("smallint", "Month of birth, 1-12."),
    "sex": Column("text", "Sex as the school recorded it: female, male or unknown."),
    "ethnicity": Column("text", "Ethnicity as the school recorded it (codes as in contracts/kinds.yaml)."),
    "first_language": Column("text", "First language: english, other or unknown."),
    "fsm_eligible": Column("boolean", "Eligible for free school meals (EYFSP record)."),
    "mother_age": Column("smallint", "Mother's age in years at the birth (NHS birth record); null with no birth "
                                     "record linked."),
    "birth_weight_grams": Column("integer", "Birth weight in grams, to the nearest 10 g (NHS birth record); null "
                                            "with no birth record linked."),
    "gestation_weeks": Column("smallint", "Gestation at birth in completed weeks (under 37: premature); null as "
                                          "birth_weight_grams."),
    "hv_reviews": Column("smallint", "Health-visiting reviews recorded before the prediction point (the earlier of "
                                     "the 4th birthday and 31 August before Reception, as for the school-readiness "
                                     "model)."),
    "ever_breastfed": Column("boolean", "Breastfed (exclusively or partly) at any health-visiting review before the "
                                        "prediction point; null when feeding was never recorded."),
    **{f"asq_{domain}": Column("smallint", f"ASQ-3 {label} score (0-60, in steps of 5) at the latest completed two-"
                                           "year health-visiting review before the prediction point; null when none.")
       for domain, label in (("communication", "communication"), ("gross_motor", "gross motor"),
                             ("fine_motor", "fine motor"), ("problem_solving", "problem solving"),
                             ("personal_social", "personal-social"))},
    "two_year_funded": Column("boolean", "Took up a funded two-year-old place (disadvantaged two-year-olds) before "
                                         "the prediction point."),
    "funded_terms": Column("smallint", "Terms of funded early education started before the prediction point."),
    "sen_provision": Column("text", "Special educational needs provision: none, sen_support or ehc_plan."),
    "gld": Column("boolean", "Reached a Good Level of Development at the end of Reception."),
}

QUALITY_COLUMNS = {
    "check_name": Column("text", "The check of synthetic.children the figure belongs to."),
    "measure": Column("text", "What is measured: the figure, the variable, the key rate or the sensitive attribute."),
    "council_code": Column("text", "The council the figure is for, or all (Greater Manchester)."),
    "real": Column("double precision", "The real children's figure beside the synthetic one, where there is one "
                                       "(a key rate, the guessing baseline, the real-trained AUC); null when it "
                                       "rests on fewer children than disclosure.yaml's threshold."),
    "synthetic": Column("double precision", "The synthetic children's figure (a key rate, TCAP, a distance, the "
                                            "synthetic-trained AUC)."),
    "value": Column("double precision", "The figure compared with the limit."),
    "limit_value": Column("double precision", "The limit (gmoda_assets/synthetic/synthetic.yaml): a maximum, or for "
                                              "train_synthetic_test_real a minimum."),
    "passed": Column("boolean", "Whether the figure keeps its limit."),
}

# Each utility and risk figure's check: name, whether it blocks the release, and what it guarantees.
QUALITY_CHECKS = (
    ("no_exact_copies", True, "No synthetic child equals a real child in every column: copies are removed before "
                              "anything else is measured, and the release, measured again, holds none."),
    ("distance_to_closest_record", True,
     "Synthetic children are no nearer the real children they were made from than real children the synthesis "
     "never saw (the holdout) are: how far they go from that (0) towards being as near as copies (1) is within "
     "the limit."),
    ("replicated_uniques", True,
     "No synthetic child is unique on the quasi-identifiers (council, ward, academic year, month of birth, sex) "
     "where a real child is unique on them too, which would make it look like that child: their share of the "
     "release is within the limit (none by default; they are removed, as synthpop's sdc() does)."),
    ("attribute_disclosure", True,
     "Someone knowing a real child's quasi-identifiers learns little more of the child's special educational "
     "needs, free-school-meal eligibility or ethnicity from the synthetic children than by guessing from the real "
     "distribution: for each, how far TCAP (synthetic) goes from that baseline (real) towards certainty is within "
     "the limit."),
    ("propensity_mse", False, "A classification tree can hardly tell synthetic children from real ones: the "
                              "standardised pMSE (1 is ideal) is within the limit."),
    ("discriminator_auc", False, "A gradient-boosted classifier can hardly tell synthetic children from real ones: "
                                 "its cross-validated AUC (0.5: not at all) is within the limit."),
    ("council_marginals", False,
     "In every council, each variable's synthetic distribution is close to the real one: its total variation "
     "distance (synthetic) over what sampling alone gives for those numbers of children (value) is within the "
     "limit."),
    ("council_key_rates", False,
     "In every council, the key rates (Good Level of Development, funded two-year-old place, low birth weight, "
     "most deprived fifth) of the synthetic children are within the allowed difference of the real ones, shown "
     "side by side."),
    ("train_synthetic_test_real", False,
     "A model of Good Level of Development trained on the synthetic children does nearly as well on real children "
     "it never saw as the same model trained on real ones: the AUC ratio (synthetic over real) is at least the "
     "limit."),
)


def quality_check(name: str, blocking: bool, description: str) -> CheckDef:
    """A check that fails on its figures outside their limits in the companion ``children_quality``, which it
    validates, and when it has none (a figure not measured is not a pass)."""
    literal = sql.Literal(name).as_string()
    query = (f"SELECT measure, council_code, value, limit_value FROM {{batch}} "
             f"WHERE check_name = {literal} AND NOT passed "
             f"UNION ALL SELECT 'not measured', 'all', NULL, NULL "
             f"WHERE NOT EXISTS (SELECT FROM {{batch}} WHERE check_name = {literal})")
    return CheckDef(name, description, [{**expectation("unexpected_rows_expectation", unexpected_rows_query=query),
                                         "about": f"{name}: figures outside their limits"}], blocking=blocking,
                    companion=QUALITY.name)


def _synthesise(context: AssetExecutionContext, conn: Connection, candidates) -> dict:
    from gmoda_assets.synthetic.build import synthesise_children  # pandas and scikit-learn: only when it runs

    real = real_children(conn, CONFIG.columns)
    made = synthesise_children(real, CONFIG)
    copy_rows(conn, CHILDREN, candidates["children"], made.children)
    copy_rows(conn, QUALITY, candidates["children_quality"], made.quality)
    failing = made.quality[~made.quality.passed]
    context.log.info(f"{len(made.children)} synthetic children from {len(real)} real ones; figures outside their "
                     f"limits: {', '.join(sorted(set(failing.check_name))) or 'none'}")
    if rates := made.figures.get("council_key_rates"):  # not measured when too few children were released
        rates["table"] = MetadataValue.md(rates["table"])
    return {**made.summary, CHECK_FIGURES: made.figures}


QUALITY = TableSpec(
    "synthetic", "children_quality",
    "The utility and disclosure-risk figures of the current synthetic.children release: one row per check, "
    "measure and council (or all), with the real figure beside the synthetic one where there is one, the limit "
    "and whether it is kept. Written and published with synthetic.children.",
    QUALITY_COLUMNS, None)

CHILDREN = TableSpec(
    "synthetic", "children",
    "Synthetic children, safe to share: one row per synthetic child, as many per council area as it has real "
    "linked children assessed at the end of Reception, made by sequential CART (synthpop's method) with one model "
    "per council so that each area keeps its rates and relationships: home ward and deprivation, academic year, "
    "month of birth, sex, ethnicity, first language, free school meals, the school-readiness features from birth "
    "(mother's age, birth weight, gestation), health visiting (reviews, breastfeeding, ASQ-3 at two) and funded "
    "early education (the two-year-old place, terms) as of the model's prediction point, SEN provision and Good "
    "Level of Development. Read by person key from the conformed facts of the feeds whose agreements permit "
    "synthetic data only (EYFSP, funded early education, NHS births and health visiting): no social care, police "
    "or housing record. No row copies a real child, none is a replicated unique, and a release whose "
    "disclosure-risk checks fail is never published; utility and risk figures are in synthetic.children_quality "
    "and on each check. Configuration: gmoda_assets/synthetic/synthetic.yaml. Purpose: synthetic_data.",
    CHILDREN_COLUMNS,
    Written(_synthesise, assets=source_assets(), column_lineage=LINEAGE),
    purpose="synthetic_data",
    companions=(QUALITY,),
)

children = table_asset(CHILDREN, [*load_suite(list(KEY)), *(quality_check(*c) for c in QUALITY_CHECKS)])
SPECS = [CHILDREN]
synthetic_assets = [children]
