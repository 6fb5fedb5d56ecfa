"""Households: people living together, from what the partners' records say about it.

Records that share every column of one of the configuration's ``households`` sets put their people in one
household: the members of one tenancy, the people at the address of one police incident, the children of one
mother (her NHS number on their birth records). A household is a connected group of such people, keyed by its
lowest person key, which stays its key as long as that person stays in it; a person no record places with
anyone is a household of one.
"""

from __future__ import annotations

from psycopg import sql

from gmoda_assets.lib.tables import Query, TableSpec, copied
from gmoda_assets.linkage.config import LinkageConfig
from gmoda_assets.linkage.engine import RECORDS, components
from gmoda_assets.linkage.keys import KEYED

HOUSEHOLDS = "households"  # DuckDB table: person_key, household_key, evidence


def households(duck, config: LinkageConfig) -> dict:
    """``HOUSEHOLDS``: each person of ``KEYED`` with their household; returns the households' figures."""
    stars = " UNION ALL ".join(
        f"""SELECT person_key AS person_key_l, min(person_key) OVER (PARTITION BY {', '.join(rule.together)})
                   AS person_key_r, '{rule.name}' AS evidence
            FROM {RECORDS} JOIN {KEYED} USING (feed_id, record_key)
            WHERE {' AND '.join(f'{c} IS NOT NULL' for c in rule.together)}"""
        for rule in config.households)
    duck.execute(f"CREATE OR REPLACE TABLE household_edges AS SELECT * FROM ({stars}) "
                 f"WHERE person_key_l <> person_key_r")
    duck.execute(f"CREATE OR REPLACE TABLE people AS SELECT DISTINCT person_key FROM {KEYED}")
    components(duck, "people", "person_key", "household_edges", "household_groups")
    duck.execute(f"""CREATE OR REPLACE TABLE {HOUSEHOLDS} AS
        WITH evidence AS (
            SELECT person_key, string_agg(DISTINCT evidence, ', ' ORDER BY evidence) AS evidence FROM (
                SELECT person_key_l AS person_key, evidence FROM household_edges
                UNION ALL SELECT person_key_r, evidence FROM household_edges) GROUP BY person_key)
        SELECT g.person_key, min(g.person_key) OVER (PARTITION BY g.cluster_id) AS household_key, e.evidence
        FROM household_groups g LEFT JOIN evidence e USING (person_key)""")
    sizes = dict(duck.execute(f"SELECT least(n, 6), count(*) FROM (SELECT count(*) AS n FROM {HOUSEHOLDS} "
                              f"GROUP BY household_key) GROUP BY 1 ORDER BY 1").fetchall())
    return {"households": sum(sizes.values()),
            "households_by_people": {("6+" if k == 6 else str(k)): v for k, v in sizes.items()}}


HOUSEHOLD_OUTPUT = ("linked", "model_runs")  # the asset that writes linked.household_output
MEMBERS_KEY = ("linked", "household_members")

HOUSEHOLD_MEMBERS = TableSpec("linked", "household_members", (
    "Who lives with whom: one row per person of linked.person, with their household, their role (child or adult) "
    "and the evidence that places them with others (tenancy: members of one Stockport Homes tenancy; incident "
    "address: people at the address of one police incident; mother: children of one mother, by her NHS number on "
    "their birth records). A household is a connected group of such people, keyed by its lowest person key; a "
    "person nothing places with anyone is a household of one. Built by each linkage run."), {
    "person_key": copied("integer", "The person (linked.person).", "person_key"),
    "household_key": copied("integer", "The household: the lowest person key among its members.", "household_key"),
    "role": copied("text", "child or adult (linked.person).", "role"),
    "evidence": copied("text", "What places the person with others (tenancy, incident address, mother), comma "
                               "separated; null for a household of one.", "evidence"),
}, Query(sql.SQL("SELECT o.person_key, o.household_key, p.role, o.evidence FROM linked.household_output AS o "
                 "JOIN linked.person AS p USING (person_key)"), (HOUSEHOLD_OUTPUT, ("linked", "person"))),
    metrics={"households": "count(DISTINCT household_key)",
             "people_placed_with_others": "count(*) FILTER (WHERE evidence IS NOT NULL)"})

HOUSEHOLD = TableSpec("linked", "household", (
    "Households: one row per household of linked.household_members, with its children and adults and the kinds "
    "of evidence that hold it together."), {
    "household_key": copied("integer", "The household: the lowest person key among its members.", "household_key"),
    "members": copied("integer", "People in the household.", "members"),
    "children": copied("integer", "Children in the household.", "children"),
    "adults": copied("integer", "Adults in the household.", "adults"),
    "evidence": copied("text", "Kinds of evidence placing its members together, comma separated; null for a "
                               "household of one.", "evidence"),
}, Query(sql.SQL("""
    WITH people AS (
        SELECT household_key, count(*)::integer AS members,
               count(*) FILTER (WHERE role = 'child')::integer AS children,
               count(*) FILTER (WHERE role = 'adult')::integer AS adults
        FROM linked.household_members GROUP BY household_key),
    evidence AS (
        SELECT household_key, string_agg(DISTINCT e, ', ' ORDER BY e) AS evidence
        FROM linked.household_members, unnest(string_to_array(evidence, ', ')) AS e GROUP BY household_key)
    SELECT * FROM people LEFT JOIN evidence USING (household_key)"""), (MEMBERS_KEY,)),
    metrics={"households_with_children_and_adults": "count(*) FILTER (WHERE children > 0 AND adults > 0)"})

SPECS = [HOUSEHOLD_MEMBERS, HOUSEHOLD]
