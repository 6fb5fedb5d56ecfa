"""The people the linkage finds, one spec per table: which person each record is (``linked.person_records``),
the people (``linked.person``), the record of merged and split keys (``linked.person_key_changes``) and the
person dimension every fact joins (``conformed.dim_person``).

The tables are created by ``sql/300_linked.sql``; the checks are data (``expectations/<schema>.<table>.yaml``).
Each is built by write, check, publish from the latest run's output (``linked.linkage_output``, written by the
``linked/model_runs`` asset, ``gmoda_assets.linkage.assets``).
"""

from psycopg import sql

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.tables import Column, Query, StableKeys, TableSpec, copied

RUNS = ("linked", "model_runs")
FEATURES = ("staging", "linkage_features")
PERSON_RECORDS_KEY = ("linked", "person_records")
PERSON_KEY = ("linked", "person")

# Kinds of feed whose every record is about a child; police and housing records name adults too.
CHILD_KINDS = ("births", "hv_reviews", "eyfsp", "funded_early_education", "social_care")
_END_OF_YEAR = ("CASE WHEN s.academic_year ~ '^[0-9]{4}/[0-9]{2}$' "
                "THEN make_date(left(s.academic_year, 4)::integer + 1, 6, 30) END")
# Per kind: the dates a record is evidence of its person on (first, last), and whether it says the person is a
# child. A birth is dated to its month (staging keeps no day of birth); an EYFSP assessment to the end of its
# academic year (30 June).
EVIDENCE = {
    "births": ("make_date(s.birth_year, s.birth_month, 1)", "make_date(s.birth_year, s.birth_month, 1)", "true"),
    "hv_reviews": ("s.review_date", "s.review_date", "true"),
    "eyfsp": (_END_OF_YEAR, _END_OF_YEAR, "true"),
    "funded_early_education": ("s.start_date", "s.start_date", "true"),
    "social_care": ("s.start_date", "coalesce(s.end_date, s.start_date)", "true"),
    "incidents": ("s.incident_datetime::date", "s.incident_datetime::date", "s.person_role = 'child_present'"),
    "tenancies": ("s.tenancy_start_date", "coalesce(s.tenancy_end_date, s.tenancy_start_date)",
                  "s.relationship = 'child'"),
}


def _evidence() -> sql.Composable:
    """(record_key, first, last, is_child) of every staged record."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT s.record_key, {} AS first, {} AS last, {} AS is_child FROM {} AS s").format(
            *map(sql.SQL, EVIDENCE[c.kind]), sql.Identifier("staging", staging_table(c)))
        for c in feed_contracts())


PERSON_RECORDS = TableSpec("linked", "person_records", (
    "Which person each partner record is: one row per record of staging.linkage_features (every staged record "
    "of every feed), with its person key, how it was matched (exact: a shared NHS number, UPN or partner person "
    "id; probabilistic: the Fellegi-Sunter model; singleton: a person of one record) and the match probability. "
    "Person keys are stable: a person keeps their key across runs and new drops; previous_person_key is the key "
    "the record had before this run, so merges and splits show (linked.person_key_changes keeps them). Built by "
    "each linkage run (linked.model_runs); read only by the transformer."), {
    "record_key": copied("text", "The record's key in its staging table (unique across feeds).", "record_key"),
    "feed_id": copied("text", "Feed of the record: <partner>.<feed>.", "feed_id"),
    "person_key": copied("integer", "The person the record belongs to; stable across runs.", "person_key"),
    "previous_person_key": copied("integer", "The record's person key before this run; null for a record new to "
                                             "this run. Differs from person_key when persons merged or split.",
                                  "previous_person_key"),
    "match_probability": copied("double precision", (
        "1 for an exact match; for a probabilistic one, the model's probability of the strongest link joining the "
        "record's exact group to the rest of its person; null for a singleton."), "match_probability"),
    "match_method": copied("text", "exact, probabilistic or singleton.", "match_method"),
    "run_id": copied("integer", "The linkage run (linked.model_runs) that placed the record.", "run_id"),
}, Query(sql.SQL("SELECT * FROM linked.linkage_output"), (RUNS,)),
    metrics={"people": "count(DISTINCT person_key)",
             "records_exact": "count(*) FILTER (WHERE match_method = 'exact')",
             "records_probabilistic": "count(*) FILTER (WHERE match_method = 'probabilistic')",
             "records_singleton": "count(*) FILTER (WHERE match_method = 'singleton')",
             "records_changed_key": "count(*) FILTER (WHERE previous_person_key <> person_key)"})

PERSON = TableSpec("linked", "person", (
    "People across partners: one row per person key of linked.person_records, with their role (child when any "
    "record is a child's: births, health visiting, EYFSP, funded education, social care, a child present at a "
    "police incident or a child of a tenancy; otherwise adult), the year of birth and sex most of their records "
    "give, how many records and feeds hold them, how many NHS numbers (more than one suggests a false merge), and "
    "the dates of their earliest and latest evidence (births to their month, EYFSP to the end of its year)."), {
    "person_key": copied("integer", "The person's stable key.", "person_key"),
    "role": Column("text", "child or adult.", "CASE WHEN s.is_child THEN 'child' ELSE 'adult' END"),
    "birth_year": copied("smallint", "Year of birth most of the person's records give.", "birth_year"),
    "sex": copied("text", "Sex most of the person's records give (male or female); null when none says.", "sex"),
    "records": copied("integer", "Records of the person across every feed.", "records"),
    "feeds": copied("integer", "Feeds holding a record of the person.", "feeds"),
    "nhs_numbers": copied("integer", "Distinct NHS numbers among the person's records (0, 1; more is suspect).",
                          "nhs_numbers"),
    "first_evidence": copied("date", "Earliest date a record of the person is evidence of.", "first_evidence"),
    "last_evidence": copied("date", "Latest date a record of the person is evidence of.", "last_evidence"),
}, Query(sql.SQL("""
    SELECT p.person_key, bool_or(e.is_child) AS is_child,
           mode() WITHIN GROUP (ORDER BY f.birth_year) AS birth_year,
           mode() WITHIN GROUP (ORDER BY f.sex) FILTER (WHERE f.sex IN ('male', 'female')) AS sex,
           count(*)::integer AS records, count(DISTINCT p.feed_id)::integer AS feeds,
           count(DISTINCT f.nhs_number_pseudonym)::integer AS nhs_numbers,
           min(e.first) AS first_evidence, max(e.last) AS last_evidence
    FROM linked.person_records AS p
    JOIN staging.linkage_features AS f USING (feed_id, record_key)
    LEFT JOIN ({evidence}) AS e USING (record_key)
    GROUP BY p.person_key""").format(evidence=_evidence()),
    (PERSON_RECORDS_KEY, FEATURES, *(("staging", c.partner, c.feed) for c in feed_contracts())), parallel=True),
    metrics={"children": "count(*) FILTER (WHERE role = 'child')",
             "adults": "count(*) FILTER (WHERE role = 'adult')",
             "people_with_two_nhs_numbers": "count(*) FILTER (WHERE nhs_numbers > 1)"})

PERSON_KEY_CHANGES = TableSpec("linked", "person_key_changes", (
    "Every change of a person's key, never renumbered silently: one row per linkage run and pair of old and new "
    "key. A merge: the model or an identifier now joins two people, and the old key is retired into the new. A "
    "split: records of a person now belong to another, new or existing, person while the old key lives on. Kept "
    "across runs: each build adds the changes of the run now published in linked.person_records."), {
    "run_id": copied("integer", "The linkage run that made the change.", "run_id"),
    "old_person_key": copied("integer", "The key the records had.", "old_person_key"),
    "new_person_key": copied("integer", "The key they have now.", "new_person_key"),
    "change": copied("text", "merge (the old key is no longer live) or split (it still is).", "change"),
    "records": copied("integer", "Records that moved from the old key to the new.", "records"),
    "changed_at": copied("timestamp with time zone", "When the run finished linking.", "changed_at"),
}, Query(sql.SQL("""
    SELECT run_id, old_person_key, new_person_key, change, records, changed_at FROM linked.person_key_changes
    UNION ALL
    SELECT p.run_id, p.previous_person_key, p.person_key,
           CASE WHEN EXISTS (SELECT FROM linked.person_records AS l WHERE l.person_key = p.previous_person_key)
                THEN 'split' ELSE 'merge' END,
           count(*)::integer, r.finished_at
    FROM linked.person_records AS p JOIN linked.model_runs AS r USING (run_id)
    WHERE p.previous_person_key <> p.person_key
      AND p.run_id NOT IN (SELECT run_id FROM linked.person_key_changes)
    GROUP BY p.run_id, p.previous_person_key, p.person_key, r.finished_at"""), (PERSON_RECORDS_KEY,)),
    metrics={"merges": "count(*) FILTER (WHERE change = 'merge')",
             "splits": "count(*) FILTER (WHERE change = 'split')"})

DIM_PERSON = TableSpec("conformed", "dim_person", (
    "The person dimension: one row per person the linkage has ever found (linked.person), by their stable key, "
    "with role, year of birth, sex and the span of their evidence; a key retired by a merge stays, not current, "
    "since facts may still hold it. Every conformed fact about a person has its person_key; -1 is the unknown "
    "person (a record the linkage has not placed)."), {
    "person_key": Column("integer", "The person's stable key (linked.person); -1 for the unknown person.",
                         "s.person_key", ("person_key",)),
    "role": copied("text", "child or adult; 'unknown' for the unknown person.", "role"),
    "birth_year": copied("smallint", "Year of birth.", "birth_year"),
    "sex": copied("text", "male or female; null when no record says.", "sex"),
    "first_evidence": copied("date", "Earliest date a record of the person is evidence of.", "first_evidence"),
    "last_evidence": copied("date", "Latest date a record of the person is evidence of.", "last_evidence"),
    "is_current": Column("boolean", "False once the key is retired (merged into another) or its records left the "
                                    "data; the row stays because facts may point at it.", "true"),
}, Query(sql.SQL("SELECT * FROM linked.person"), (PERSON_KEY,),
         {c: ((PERSON_KEY, c),) for c in ("person_key", "role", "birth_year", "sex", "first_evidence",
                                          "last_evidence")}),
    StableKeys("person_key", "person_key", {"role": "unknown", "is_current": True}),
    metrics={"people": "count(*) FILTER (WHERE is_current AND person_key <> -1)"})

SPECS = [PERSON_RECORDS, PERSON, PERSON_KEY_CHANGES, DIM_PERSON]
