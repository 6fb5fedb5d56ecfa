"""School-readiness mart: Good Level of Development (GLD) by council, ward and LSOA, observed for assessed years
and predicted (the school-readiness model's expected count) for years still to come, under the disclosure rules
(``gmoda_assets/lib/disclosure.py``) applied across the whole area hierarchy: an LSOA's ward is the sum of its
LSOAs (best-fit ward of each LSOA) and a council the sum of its wards, so a cell hidden at one level must not be
recoverable from its neighbours at that level nor from the level above."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dagster import AssetExecutionContext

from gmoda_assets.lib.disclosure import rounded, rules, secondary
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec

RULE = rules()
FEATURES = ("model", "features")
SCORES = ("model", "scores")
LEVELS = ("council", "ward", "lsoa")
SUPPRESSED = "null: suppressed"
ROUNDED = f"rounded to the nearest {RULE.rounding_base}"

# Children per year and LSOA: assessed (observed GLD) or still to come (the model's expected count).
_CELLS = """
    SELECT f.assessment_year, f.outcome_status, f.council_code, f.ward17cd, f.lsoa11cd, count(*),
           CASE WHEN f.outcome_status = 'known' THEN count(*) FILTER (WHERE f.gld)::double precision
                ELSE sum(s.probability_gld) END
    FROM model.features AS f LEFT JOIN model.scores AS s USING (person_key)
    WHERE f.lsoa11cd IS NOT NULL AND (f.outcome_status = 'known' OR s.person_key IS NOT NULL)
    GROUP BY 1, 2, 3, 4, 5
"""

Cell = tuple[str, str]  # (level, area code)


def protect(cells: Mapping[Cell, int], groups: Iterable[tuple[Cell, list[Cell]]], hidden: set[Cell]) -> set[Cell]:
    """``hidden`` grown until no additive group (a total and its parts) has exactly one hidden cell, which the
    others would give away; a cell hidden for one group is hidden in every group it belongs to, so this repeats
    until nothing changes."""
    groups = list(groups)
    while True:
        grown = set(hidden)
        for total, parts in groups:
            members = {c: cells[c] for c in (total, *parts)}
            grown |= secondary(members, grown & members.keys())
        if grown == hidden:
            return hidden
        hidden = grown


def publish_year(counts: Mapping[str, tuple[str, str, int, float]]) -> list[tuple]:
    """One year's rows (level, area, the area it adds up into, children, children reaching GLD, percentage),
    protected: ``counts`` is LSOA -> (council, ward, children, reaching GLD)."""
    children: dict[Cell, int] = {}
    reaching: dict[Cell, float] = {}
    councils, wards = {}, {}
    for lsoa, (council, ward, n, m) in counts.items():
        for cell in (("lsoa", lsoa), ("ward", ward), ("council", council)):
            children[cell] = children.get(cell, 0) + n
            reaching[cell] = reaching.get(cell, 0.0) + m
        wards.setdefault(ward, set()).add(lsoa)
        councils.setdefault(council, set()).add(ward)
    groups = [(("ward", w), [("lsoa", x) for x in sorted(ls)]) for w, ls in wards.items()] + \
             [(("council", c), [("ward", w) for w in sorted(ws)]) for c, ws in councils.items()]
    hide_children = protect(children, groups, {c for c, n in children.items() if n < RULE.min_count})
    small = {c for c, n in children.items()
             if round(reaching[c]) < RULE.min_count or n - round(reaching[c]) < RULE.min_count}
    hide_reaching = protect({c: round(v) for c, v in reaching.items()}, groups, hide_children | small)
    parent = {("lsoa", x): w for x, (_, w, _, _) in counts.items()} | \
             {("ward", w): c for c, ws in councils.items() for w in ws}
    return [(level, code, parent.get((level, code)),
             None if (level, code) in hide_children else rounded(children[(level, code)], RULE.rounding_base),
             None if (level, code) in hide_reaching else rounded(round(reaching[(level, code)]), RULE.rounding_base),
             None if (level, code) in hide_reaching else round(100 * reaching[(level, code)] / children[(level, code)],
                                                                RULE.rate_decimals))
            for level, code in sorted(children, key=lambda c: (LEVELS.index(c[0]), c[1]))]


def _gld_by_area(context: AssetExecutionContext, conn) -> tuple[list[tuple], dict]:
    years: dict[tuple[str, str], dict] = {}
    for year, status, council, ward, lsoa, n, m in conn.execute(_CELLS):
        years.setdefault((year, status), {})[lsoa] = (council, ward, n, m)
    rows, hidden = [], 0
    for (year, status), counts in sorted(years.items()):
        for row in publish_year(counts):
            rows.append((year, "observed" if status == "known" else "predicted", *row))
            hidden += row[3] is None
    context.log.info(f"{len(rows)} rows, {hidden} counts of children suppressed")
    return rows, {"counts_suppressed": hidden, "min_count": RULE.min_count, "rounding_base": RULE.rounding_base}


GLD_BY_AREA = TableSpec(
    "mart", "school_readiness_by_area",
    "School readiness for Tableau and R: Good Level of Development (GLD) at the end of Reception by academic year "
    "and area (council, ward and LSOA): observed for the years assessed, predicted by the school-readiness model "
    "(the expected number of children reaching it) for the years to come. Safe to publish: counts below "
    f"{RULE.min_count} (a GLD count also when its complement is) are suppressed, and so is a further cell wherever "
    "one alone could be worked out from its ward's or council's total; counts are "
    f"{ROUNDED}. Rules: gmoda_assets/governance/disclosure.yaml. Purpose: statistics.",
    {
        "assessment_year": Column("text", "Academic year of the assessment at the end of Reception, e.g. 2024/25."),
        "outcome": Column("text", "observed (assessed children's results) or predicted (the model's expected count "
                                  "for children not yet assessed)."),
        "area_level": Column("text", "council, ward or lsoa: a ward is the sum of its LSOAs (each LSOA's best-fit "
                                     "ward), a council of its wards."),
        "area_code": Column("text", "ONS code of the council (E08...), ward (2017, E05...) or LSOA (2011, E01...)."),
        "parent_code": Column("text", "The area it adds up into: an LSOA's ward, a ward's council; null for a "
                                      "council."),
        "children": Column("integer", f"Children (by where they lived at the prediction point), {ROUNDED}; "
                                      f"{SUPPRESSED}."),
        "children_gld": Column("integer", f"Of them, reaching a Good Level of Development (observed) or expected to "
                                          f"(predicted), {ROUNDED}; {SUPPRESSED}."),
        "gld_percent": Column("numeric", "Percentage reaching it, from the unrounded counts; null whenever "
                                         "children_gld is."),
    },
    Computed(_gld_by_area, assets=(FEATURES, SCORES), column_lineage={
        **{c: ((FEATURES, "lsoa11cd"), (FEATURES, "ward17cd"), (FEATURES, "council_code"))
           for c in ("area_code", "parent_code")},
        "children_gld": ((FEATURES, "gld"), (SCORES, "probability_gld")),
    }),
    purpose="statistics",
)

school_readiness_by_area = table_asset(GLD_BY_AREA)
