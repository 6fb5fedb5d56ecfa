"""Who is who: exact links on shared pseudonymised identifiers, then a Fellegi-Sunter model (Splink), in an
in-process DuckDB holding the records (``gmoda_assets.linkage.records`` loads them).

1. **Exact groups.** Records sharing an identifier of the configuration's ``exact`` list (NHS number, UPN, a
   partner's own person id) are one person: the connected groups of such records.
2. **Profiles.** The records of one exact group with the same features (a child's five health-visiting
   reviews, its terms of funded education) are one profile, and the model compares profiles, not records:
   the same answer for a fraction of the pairs.
3. **Model.** Splink trains the model on the profiles (probability that two random records match from the
   deterministic rule, u by random sampling, m from the exact groups), then scores every pair its
   blocking rules admit.
4. **People.** The connected groups of exact links and scored pairs at or above the configured match
   probability. Each record gets its method: ``exact`` (its person is its exact group), ``probabilistic``
   (the model joined its exact group to others; its match probability is the group's strongest such link) or
   ``singleton`` (a person of one record).

Records are numbered by where they were delivered (``records.load_records``), groups and profiles by their first
record, and u's random sample is drawn by those numbers under the configured seed: the same drops give the same
model and people on every run and under any pseudonymisation key.

The run's figures hold counts and the match-weight distribution only: no pseudonym or other value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gmoda_assets.linkage.config import LinkageConfig, splink_settings

RECORDS = "records"  # DuckDB table: record_id, then the columns of records.record_columns (records.load_records)
RESULT = "linked_records"  # DuckDB table: feed_id, record_key, cluster_id, match_probability, match_method
WEIGHT_BINS = 5  # width of the match-weight histogram's bins
EXACT_PAIRS_PER_PROFILE = 50  # for m: every pair of an exact group of up to 51 profiles (_train)


@dataclass
class Linkage:
    model: dict  # Splink's settings with the trained m and u probabilities
    figures: dict = field(default_factory=dict)  # counts only: safe for run metadata


def components(duck, nodes: str, node: str, edges: str, out: str) -> None:
    """``out`` (node, cluster_id): the connected groups of ``nodes`` under ``edges`` (node_l, node_r), each named
    by its lowest node. In memory with SciPy's union of sparse graphs: Splink's clustering does it by rounds of
    SQL, ten seconds for the exact groups at Greater Manchester scale against a fraction of one."""
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids = duck.execute(f"SELECT {node} FROM {nodes} ORDER BY {node}").fetchnumpy()[node]
    pairs = duck.execute(f"SELECT {node}_l, {node}_r FROM {edges}").fetchnumpy()
    cluster = ids
    if len(ids) and len(pairs[f"{node}_l"]):
        left, right = (np.searchsorted(ids, pairs[f"{node}_{side}"]) for side in ("l", "r"))
        graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(len(ids), len(ids)))
        _, labels = connected_components(graph, directed=False)
        # ids are in order, so each group's first index is its lowest node.
        _, first = np.unique(labels, return_index=True)
        cluster = ids[first][labels]
    groups = pa.table({node: ids, "cluster_id": cluster})  # noqa: F841 (read by name below)
    duck.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM groups")


def _exact_groups_and_profiles(duck, config: LinkageConfig) -> None:
    """Each record's exact group (``exact_group`` in ``records``: records sharing any exact identifier) and
    profile (``profile_id``), and ``profiles``: one row per exact group and distinct features (unique_id). Groups
    and profiles are named by their first record (the lowest ``record_id``), never by a pseudonym, so that the
    model and the people are the same under any key."""
    # A star per identifier value (each record to the value's first record) joins them in linear size.
    stars = " UNION ALL ".join(
        f"SELECT record_id AS record_id_l, min(record_id) OVER (PARTITION BY {i}) AS record_id_r "
        f"FROM {RECORDS} WHERE {i} IS NOT NULL" for i in config.identifiers)
    duck.execute(f"CREATE OR REPLACE TABLE exact_edges AS SELECT * FROM ({stars}) WHERE record_id_l <> record_id_r")
    components(duck, RECORDS, "record_id", "exact_edges", "exact_groups")
    features = ", ".join(config.columns)
    duck.execute(f"CREATE OR REPLACE TABLE {RECORDS} AS SELECT r.*, g.cluster_id AS exact_group, min(record_id) "
                 f"OVER (PARTITION BY g.cluster_id, {features}) AS profile_id "
                 f"FROM {RECORDS} r JOIN exact_groups g USING (record_id)")
    duck.execute(f"CREATE OR REPLACE TABLE profiles AS SELECT profile_id AS unique_id, any_value(exact_group) AS "
                 f"exact_group, {', '.join(f'any_value({c}) AS {c}' for c in config.columns)} "
                 f"FROM {RECORDS} GROUP BY profile_id")


def _train(duck, linker, config: LinkageConfig) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match([block_on(*config.deterministic)],
                                                                  recall=config.recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    if config.m_from_exact_links:
        # Profiles of one exact group are one person, known without the model: m from how they differ, over
        # every pair of them, so that no order of the profiles decides which differences m sees (pairing each
        # with the next made the model depend on the order: F1 0.9957-0.9967 at Greater Manchester scale over
        # orders and keys, 0.9968 over every pair; 370,359 pairs there, in groups of at most 8 profiles). A
        # larger group than a person makes (an identifier shared by mistake) pairs each profile with the next
        # EXACT_PAIRS_PER_PROFILE only: linear in size whatever arrives.
        duck.execute(f"""CREATE OR REPLACE TABLE exact_pairs AS
            WITH placed AS (SELECT unique_id, exact_group, row_number() OVER (PARTITION BY exact_group
                                                                             ORDER BY unique_id) AS place
                            FROM profiles)
            SELECT l.unique_id AS unique_id_l, r.unique_id AS unique_id_r
            FROM placed l CROSS JOIN range(1, {EXACT_PAIRS_PER_PROFILE + 1}) AS step (n)
            JOIN placed r ON r.exact_group = l.exact_group AND r.place = l.place + step.n""")
        linker.training.estimate_m_from_pairwise_labels("exact_pairs")
    for rule in config.em_blocking:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))


def floored(model: dict, floor: float) -> dict:
    """``model`` with every level's m at least ``floor``, each comparison's m summing to 1 again. A level the
    training never saw among matches (two different NHS numbers, different dates of birth, among exactly
    linked records) would otherwise have no m, or none, and so no weight: it should weigh heavily against."""
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        raised = [max(lv.get("m_probability") or 0.0, floor) for lv in levels]
        for level, m in zip(levels, raised):
            level["m_probability"] = m / sum(raised)
    return model


def _decided(duck, decisions: str) -> None:
    """``decided``: the reviewers' decisions (``decisions``: record_key_l, record_key_r, decision accept or
    reject) on records of this run, by their profiles and exact groups."""
    duck.execute(f"""CREATE OR REPLACE TABLE decided AS
        SELECT l.profile_id AS unique_id_l, r.profile_id AS unique_id_r, l.exact_group AS group_l,
               r.exact_group AS group_r, d.decision = 'accept' AS accepted
        FROM {decisions} d JOIN {RECORDS} l ON l.record_key = d.record_key_l
        JOIN {RECORDS} r ON r.record_key = d.record_key_r""")


def _cluster(duck) -> int:
    """``profile_clusters``: people as exact groups joined by ``links``, strongest first, refusing a join that
    would give a person two NHS numbers (one child's records without a number, linked to two children of one
    name and date of birth, would otherwise make them one). Returns the joins refused."""
    import pyarrow as pa

    numbers = {g: set(n) for g, n in duck.execute("""
        SELECT exact_group, list(DISTINCT nhs_number_pseudonym) FROM profiles
        WHERE nhs_number_pseudonym IS NOT NULL
          AND exact_group IN (SELECT group_l FROM links UNION SELECT group_r FROM links) GROUP BY 1""").fetchall()}
    parent: dict = {}

    def root(g):
        while parent.get(g, g) != g:
            parent[g] = parent.get(parent[g], parent[g])  # path halving
            g = parent[g]
        return g

    refused = 0
    for left, right in duck.execute("SELECT group_l, group_r FROM links WHERE group_l <> group_r "
                                    "ORDER BY match_probability DESC, group_l, group_r").fetchall():
        a, b = root(left), root(right)
        if a == b:
            continue
        na, nb = numbers.get(a, set()), numbers.get(b, set())
        if na and nb and not (na <= nb or nb <= na):
            refused += 1
            continue
        parent[b] = a
        if nb - na:
            numbers[a] = na | nb
    joined = pa.table({"exact_group": list(parent), "cluster_id": [root(g) for g in parent]})
    duck.execute("CREATE OR REPLACE TABLE group_clusters AS SELECT * FROM joined")
    duck.execute("""CREATE OR REPLACE TABLE profile_clusters AS
        SELECT p.unique_id, coalesce(g.cluster_id, p.exact_group) AS cluster_id
        FROM profiles p LEFT JOIN group_clusters g USING (exact_group)""")
    return refused


def people(duck, threshold: float, vetoes: tuple[str, ...] = (), predictions: str = "predictions",
           decisions: str | None = None) -> dict:
    """``RESULT``: each record's person (cluster), method and match probability, people being exact groups
    joined by the scored pairs at or above ``threshold`` that meet none of ``vetoes`` (SQL over the pair's
    profiles ``l`` and ``r``), strongest first, never two NHS numbers in one person (``_cluster``).

    Reviewers' ``decisions`` (a table of record_key_l, record_key_r, decision) overrule the model: an accepted
    pair is linked whatever its score; a rejected pair's exact groups lose every model link between them, and
    should other links still join them, the smaller group loses all its model links (it stands alone rather
    than with someone a reviewer said it is not). Only an identifier both records share (one exact group)
    overrules a rejection. Returns the joins refused and the decisions' figures."""
    vetoed = " ".join(f"AND NOT coalesce({veto}, false)" for veto in vetoes)
    duck.execute(f"""CREATE OR REPLACE TABLE links AS
        SELECT p.unique_id_l, p.unique_id_r, l.exact_group AS group_l, r.exact_group AS group_r, p.match_probability
        FROM {predictions} p JOIN profiles l ON l.unique_id = p.unique_id_l JOIN profiles r ON r.unique_id = p.unique_id_r
        WHERE p.match_probability >= {threshold} {vetoed}""")
    if decisions is None:
        figures = {"links_refused_two_nhs_numbers": _cluster(duck)}
    else:
        figures = _reviewed(duck, decisions)
    # The strongest model link from each exact group to another group of the same person.
    duck.execute("""CREATE OR REPLACE TABLE group_links AS
        SELECT g, max(match_probability) AS match_probability FROM (
            SELECT group_l AS g, match_probability FROM links WHERE group_l <> group_r
            UNION ALL SELECT group_r, match_probability FROM links WHERE group_l <> group_r)
        GROUP BY g""")
    duck.execute(f"""CREATE OR REPLACE TABLE {RESULT} AS
        WITH placed AS (
            SELECT r.feed_id, r.record_key, r.exact_group, c.cluster_id,
                   count(*) OVER (PARTITION BY r.exact_group) AS group_records,
                   count(*) OVER (PARTITION BY c.cluster_id) AS person_records
            FROM {RECORDS} r JOIN profile_clusters c ON c.unique_id = r.profile_id)
        SELECT feed_id, record_key, cluster_id,
               CASE WHEN person_records = 1 THEN NULL WHEN group_records = person_records THEN 1.0
                    ELSE l.match_probability END AS match_probability,
               CASE WHEN person_records = 1 THEN 'singleton' WHEN group_records = person_records THEN 'exact'
                    ELSE 'probabilistic' END AS match_method
        FROM placed LEFT JOIN group_links l ON l.g = placed.exact_group""")
    return figures


def _reviewed(duck, decisions: str) -> dict:
    """``profile_clusters`` under ``links`` with the reviewers' decisions applied (see ``people``)."""
    _decided(duck, decisions)
    duck.execute("""DELETE FROM links k USING decided d WHERE NOT d.accepted
        AND ((k.group_l = d.group_l AND k.group_r = d.group_r) OR (k.group_l = d.group_r AND k.group_r = d.group_l))""")
    duck.execute("""INSERT INTO links SELECT unique_id_l, unique_id_r, group_l, group_r, 1.0 FROM decided
                    WHERE accepted AND group_l <> group_r""")
    refused = _cluster(duck)
    # Rejected pairs other links still join: the side with fewer records stands alone.
    duck.execute(f"""CREATE OR REPLACE TABLE isolated AS
        WITH sizes AS (SELECT exact_group, count(*) AS n FROM {RECORDS} GROUP BY ALL)
        SELECT DISTINCT CASE WHEN sl.n < sr.n OR (sl.n = sr.n AND d.group_l < d.group_r) THEN d.group_l
                             ELSE d.group_r END AS exact_group
        FROM decided d JOIN profile_clusters cl ON cl.unique_id = d.unique_id_l
        JOIN profile_clusters cr ON cr.unique_id = d.unique_id_r
        JOIN sizes sl ON sl.exact_group = d.group_l JOIN sizes sr ON sr.exact_group = d.group_r
        WHERE NOT d.accepted AND d.group_l <> d.group_r AND cl.cluster_id = cr.cluster_id""")
    isolated = duck.execute("SELECT count(*) FROM isolated").fetchone()[0]
    if isolated:
        duck.execute("DELETE FROM links WHERE group_l IN (SELECT exact_group FROM isolated) "
                     "OR group_r IN (SELECT exact_group FROM isolated)")
        refused = _cluster(duck)
    accepted, rejected, overruled = duck.execute("""SELECT count(*) FILTER (WHERE accepted),
        count(*) FILTER (WHERE NOT accepted), count(*) FILTER (WHERE NOT accepted AND group_l = group_r)
        FROM decided""").fetchone()
    return {"links_refused_two_nhs_numbers": refused, "decisions_accepted": accepted, "decisions_rejected": rejected, "rejections_isolating": isolated,
            "rejections_overruled_by_an_identifier": overruled}


def _figures(duck, config: LinkageConfig, predictions: str) -> dict:
    """Counts and distributions of the run, never a value."""
    one = lambda q: duck.execute(q).fetchone()[0]  # noqa: E731
    weights = dict(duck.execute(
        f"SELECT floor(match_weight / {WEIGHT_BINS}) * {WEIGHT_BINS} AS bin, count(*) FROM {predictions} "
        f"GROUP BY bin ORDER BY bin").fetchall())
    sizes = dict(duck.execute(
        f"SELECT least(n, 10), count(*) FROM (SELECT count(*) AS n FROM {RESULT} GROUP BY cluster_id) "
        f"GROUP BY 1 ORDER BY 1").fetchall())
    methods = dict(duck.execute(f"SELECT match_method, count(*) FROM {RESULT} GROUP BY 1 ORDER BY 1").fetchall())
    return {
        "records": one(f"SELECT count(*) FROM {RECORDS}"),
        "exact_groups": one(f"SELECT count(DISTINCT exact_group) FROM {RECORDS}"),
        "profiles": one("SELECT count(*) FROM profiles"),
        "pairs_scored": one(f"SELECT count(*) FROM {predictions}"),
        "pairs_matched": one("SELECT count(*) FROM links"),
        "people": one(f"SELECT count(DISTINCT cluster_id) FROM {RESULT}"),
        "records_by_method": methods,
        "people_by_records": {("10+" if k == 10 else str(k)): v for k, v in sizes.items()},
        "match_weight_histogram": {f"[{int(k)}, {int(k) + WEIGHT_BINS})": v for k, v in weights.items()},
    }


def link(duck, config: LinkageConfig, decisions: str | None = None) -> Linkage:
    """Link the records of the DuckDB table ``RECORDS`` into people (table ``RESULT``), with the reviewers'
    ``decisions`` (a DuckDB table; see ``people``)."""
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.WARNING)
    db_api = DuckDBAPI(connection=duck)
    _exact_groups_and_profiles(duck, config)
    linker = Linker(db_api.register("profiles", dataset_display_name="linkage_profiles"), splink_settings(config),
                    log_level=None)
    _train(duck, linker, config)
    # The trained model, as stored with the run, is what scores the pairs.
    model = floored(linker.misc.save_model_to_json(), config.m_floor)
    linker = Linker(db_api.register("profiles", dataset_display_name="linkage_profiles_scored"), model,
                    log_level=None)
    scored = linker.inference.predict(warning_mode="never")
    duck.execute(f"CREATE OR REPLACE TABLE predictions AS SELECT unique_id_l, unique_id_r, match_weight, "
                 f"match_probability FROM {scored.physical_name}")
    scored.drop_table_from_database_and_remove_from_cache()
    reviewed = people(duck, config.match_probability, config.vetoes, decisions=decisions)
    return Linkage(model=model, figures={**_figures(duck, config, "predictions"), **reviewed})
