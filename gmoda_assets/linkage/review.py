"""The review queue: pairs the model scored near its threshold, for a reviewer to accept or reject.

Each run puts the scored pairs whose match probability lies in the configured band (``review`` in
``linkage.yaml``; the threshold inside it), closest to the threshold first, in ``linked.review_output``, from
which ``linked.review_pairs`` is checked and published. A pair is named by one record of each side (its profile's
first record as delivered) and carries the evidence per comparison: the level the two records agree at
(``same Soundex``, ``missing``, ``different``) and the level's match weight in the trained model (before the
adjustment for how common a name is), never a value. Whether the run linked them, and their person keys, are
beside it.

A reviewer (role ``gmoda_linkage_reviewer``, granted to an analyst's login; ``sql/310_linked_review.sql``) reads
``linked.review_pairs`` and appends decisions to ``linked.review_decisions`` (``accept`` or ``reject``; the
latest per pair counts). The next run applies them (``gmoda_assets.linkage.engine.people``).
"""

from __future__ import annotations

import math
import re

from psycopg import sql

from gmoda_assets.lib.tables import Query, TableSpec, copied
from gmoda_assets.linkage.config import LinkageConfig
from gmoda_assets.linkage.engine import RECORDS, RESULT

REVIEW = "review"  # DuckDB table: the run's pairs to review, by record, without person keys
DECISIONS = "decisions"  # DuckDB table: record_key_l, record_key_r, decision (the latest per pair)
OUTPUT_COLUMNS = ["record_key_l", "feed_id_l", "person_key_l", "record_key_r", "feed_id_r", "person_key_r",
                  "match_probability", "match_weight", "linked", "evidence", "run_id"]
# The latest decision on each pair, whichever way round the reviewer named it.
LATEST_DECISIONS = sql.SQL("""
    SELECT DISTINCT ON (least(record_key_l, record_key_r), greatest(record_key_l, record_key_r))
           least(record_key_l, record_key_r) AS record_key_l, greatest(record_key_l, record_key_r) AS record_key_r,
           decision, decided_at
    FROM linked.review_decisions
    ORDER BY least(record_key_l, record_key_r), greatest(record_key_l, record_key_r), decided_at DESC""")
DECISION_COLUMNS = {"record_key_l": "text", "record_key_r": "text", "decision": "text",
                    "decided_at": "timestamp with time zone"}
_SIDE = re.compile(r"\b([a-z_]+)_([lr])\b")


def _sides(condition: str) -> str:
    """A configured condition over ``<column>_l`` and ``<column>_r`` as one over profiles ``l`` and ``r``."""
    return _SIDE.sub(r"\2.\1", condition)


def _weights(model: dict) -> dict[str, dict[str, float | None]]:
    """Comparison -> level label -> the level's match weight, log2(m/u), in the trained model."""
    return {c["output_column_name"]: {
        lv["label_for_charts"]: (math.log2(lv["m_probability"] / lv["u_probability"])
                                 if lv.get("m_probability") and lv.get("u_probability") else None)
        for lv in c["comparison_levels"]} for c in model["comparisons"]}


def _evidence(config: LinkageConfig, model: dict) -> tuple[str, str]:
    """DuckDB SQL: the level of each comparison (``level_<comparison>``, over profiles ``l`` and ``r``), and the
    JSON object over those levels holding, per comparison, its level and match weight."""
    weights = _weights(model)
    levels, parts = [], []
    for comparison in config.comparisons:
        missing = " OR ".join(f"l.{c} IS NULL OR r.{c} IS NULL" for c in comparison.null_when)
        cases = [(missing, "missing"), *((_sides(lv.when), lv.label) for lv in comparison.levels)]
        column = f"level_{comparison.name}"
        levels.append("CASE " + " ".join(f"WHEN {when} THEN '{label}'" for when, label in cases)
                      + f" ELSE 'different' END AS {column}")
        whens = " ".join(f"WHEN '{label}' THEN {w}" for label, w in weights[comparison.name].items() if w is not None)
        # A comparison the model could not train (too few records, as in a nearly empty warehouse) has no weight.
        weight = f"CASE {column} {whens} END" if whens else "CAST(NULL AS DOUBLE)"
        parts.append(f"'{comparison.name}', json_object('level', {column}, 'match_weight', round({weight}, 2))")
    return ", ".join(levels), f"json_object({', '.join(parts)})"


def queue(duck, config: LinkageConfig, model: dict) -> dict:
    """``REVIEW``: the scored pairs (``predictions``) in the review band, by one record of each side, with the
    evidence and whether this run linked them; returns the queue's figures."""
    band = config.review
    threshold = math.log2(config.match_probability / (1 - config.match_probability))
    levels, evidence = _evidence(config, model)
    duck.execute(f"""CREATE OR REPLACE TABLE {REVIEW} AS
        WITH shown AS (SELECT profile_id, record_key, feed_id FROM {RECORDS} WHERE record_id = profile_id),
        pairs AS (SELECT p.* FROM predictions p
                  JOIN profiles l ON l.unique_id = p.unique_id_l JOIN profiles r ON r.unique_id = p.unique_id_r
                  WHERE p.match_probability >= {band.lowest} AND p.match_probability < {band.highest}
                    -- records sharing an identifier are one person, not a question
                    AND l.exact_group <> r.exact_group
                  ORDER BY abs(p.match_weight - {threshold}), p.unique_id_l, p.unique_id_r LIMIT {band.most}),
        named AS (
            SELECT p.*, {levels}, sl.record_key AS key_l, sl.feed_id AS feed_l, sr.record_key AS key_r,
                   sr.feed_id AS feed_r
            FROM pairs p JOIN profiles l ON l.unique_id = p.unique_id_l JOIN profiles r ON r.unique_id = p.unique_id_r
            JOIN shown sl ON sl.profile_id = p.unique_id_l JOIN shown sr ON sr.profile_id = p.unique_id_r)
        SELECT CASE WHEN key_l < key_r THEN key_l ELSE key_r END AS record_key_l,
               CASE WHEN key_l < key_r THEN feed_l ELSE feed_r END AS feed_id_l,
               CASE WHEN key_l < key_r THEN key_r ELSE key_l END AS record_key_r,
               CASE WHEN key_l < key_r THEN feed_r ELSE feed_l END AS feed_id_r,
               n.match_probability, n.match_weight, cl.cluster_id = cr.cluster_id AS linked,
               {evidence}::VARCHAR AS evidence
        FROM named n JOIN {RESULT} cl ON cl.record_key = key_l JOIN {RESULT} cr ON cr.record_key = key_r""")
    pairs, linked = duck.execute(f"SELECT count(*), count(*) FILTER (WHERE linked) FROM {REVIEW}").fetchone()
    return {"review_pairs": pairs, "review_pairs_linked": linked}


REVIEW_PAIRS = TableSpec("linked", "review_pairs", (
    "Pairs of records the linkage model scored near its threshold, for a reviewer (role gmoda_linkage_reviewer) "
    "to accept or reject: one row per pair, named by one record of each side, with the model's match probability "
    "and weight, whether the run linked them (and their person keys), the evidence per comparison (the level "
    "the records agree at and its match weight; never a value) and the latest decision on the pair. Decisions go "
    "to linked.review_decisions (record_key_l, record_key_r, decision accept or reject); the next linkage run "
    "joins an accepted pair and keeps a rejected pair apart. Rebuilt by every linkage run."), {
    "record_key_l": copied("text", "One record of the pair (linked.person_records), the lower key.", "record_key_l"),
    "feed_id_l": copied("text", "Its feed: <partner>.<feed>.", "feed_id_l"),
    "person_key_l": copied("integer", "Its person now.", "person_key_l"),
    "record_key_r": copied("text", "The other record of the pair.", "record_key_r"),
    "feed_id_r": copied("text", "Its feed.", "feed_id_r"),
    "person_key_r": copied("integer", "Its person now.", "person_key_r"),
    "match_probability": copied("double precision", "The model's probability that the two are one person.",
                                "match_probability"),
    "match_weight": copied("double precision", "The model's match weight (log2 of the Bayes factor, with the "
                                               "prior).", "match_weight"),
    "linked": copied("boolean", "Whether the run put the two records in one person.", "linked"),
    "evidence": copied("jsonb", "Per comparison (given_name, family_name, date_of_birth, sex, postcode, address, "
                                "nhs_number): the level the records agree at and its match weight.", "evidence"),
    "run_id": copied("integer", "The linkage run (linked.model_runs) that scored the pair.", "run_id"),
    "decision": copied("text", "The latest reviewer's decision on the pair (accept, reject), if any.", "decision"),
    "decided_at": copied("timestamp with time zone", "When it was made.", "decided_at"),
}, Query(sql.SQL("SELECT o.*, d.decision, d.decided_at FROM linked.review_output AS o "
                 "LEFT JOIN ({}) AS d USING (record_key_l, record_key_r)").format(LATEST_DECISIONS),
         (("linked", "model_runs"), ("linked", "person_records"))),
    metrics={"pairs_linked": "count(*) FILTER (WHERE linked)", "pairs_decided": "count(*) FILTER (WHERE decision "
                                                                                  "IS NOT NULL)"})

SPECS = [REVIEW_PAIRS]
